"""A layer's kv_creator (table bounds, FileSystemSaver) and restrict_policy
survive its config as JSON and a `.keras` file, in both Keras flavours."""

import json
import sys
import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "keras"))
from layer_flavours import flavour  # pylint: disable=wrong-import-position,unused-import

# pylint: disable=redefined-outer-name  (tests take the imported fixture)


def _creator(save_path):
  return de.CuckooHashTableCreator(
      de.CuckooHashTableConfig(num_shards=4, max_capacity=50,
                               evict_strategy=de.EvictStrategy.LFU),
      saver=de.FileSystemSaver(save_path=save_path, buffer_size=8192))


def _assert_same_objects(layer, save_path):
  creator = layer.params.kv_creator
  assert isinstance(creator, de.CuckooHashTableCreator)
  assert creator.config.get_config() == de.CuckooHashTableConfig(
      num_shards=4, max_capacity=50,
      evict_strategy=de.EvictStrategy.LFU).get_config()
  assert creator.saver.save_path == save_path
  assert creator.saver.buffer_size == 8192
  assert creator.saver.get_config()["proc_size"] is None
  assert isinstance(layer.params.restrict_policy,
                    de.FrequencyRestrictPolicy)


def test_config_json_round_trip(flavour, tmp_path):
  layer = flavour.layers.Embedding(
      3, kv_creator=_creator(str(tmp_path)),
      restrict_policy=de.FrequencyRestrictPolicy, name="bounded")
  config = json.loads(json.dumps(layer.get_config()))
  rebuilt = flavour.layers.Embedding.from_config(config)
  _assert_same_objects(rebuilt, str(tmp_path))


def test_keras_file_round_trip_keeps_bounds_and_rows(flavour, tmp_path):
  keras = flavour.keras
  layer = flavour.layers.Embedding(
      3, kv_creator=_creator(str(tmp_path / "tables")),
      restrict_policy=de.FrequencyRestrictPolicy, name="bounded",
      key_dtype=tf.int64)
  model = keras.Sequential([keras.Input([2], dtype="int64"), layer])
  layer.params.upsert(tf.constant([1, 2], tf.int64),
                      tf.constant([[1.0] * 3, [2.0] * 3]))
  model.save(str(tmp_path / "m.keras"))
  loaded = keras.models.load_model(str(tmp_path / "m.keras"))
  restored = loaded.layers[-1]
  _assert_same_objects(restored, str(tmp_path / "tables"))
  np.testing.assert_array_equal(
      restored.params.lookup(tf.constant([2, 1], tf.int64)).numpy(),
      [[2.0] * 3, [1.0] * 3])


def test_a_custom_creator_cannot_come_back_from_json(flavour):
  class Custom(de.KVCreator):

    def create(self, *args, **kwargs):
      return de.CuckooHashTableCreator().create(*args, **kwargs)

  config = flavour.layers.Embedding(3, kv_creator=Custom()).get_config()
  config["kv_creator"] = {"class_name": "Custom", "config": None}
  with pytest.raises(ValueError, match="kv_creator"):
    flavour.layers.Embedding.from_config(config)
