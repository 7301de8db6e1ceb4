"""Whole tf_keras models with dynamic embedding tables inside: `model.save`
(SavedModel directory) + `tf_keras.models.load_model`, and `save_weights` /
`load_weights` in the TF checkpoint format. Each test compares the reloaded
model with the original (predictions, table rows, optimizer slot tables) or
with training that was never interrupted."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tf_keras_models as tm

# (model kind, layer class, key dtype): every class in every kind with
# string ids, and the other key dtypes once.
CASES = [(kind, cls, "string") for kind in tm.KINDS for cls in tm.CLASSES] + [
    ("functional", "Embedding", "int64"), ("sequential", "Embedding", "int32")]


@pytest.mark.parametrize("kind,cls,key", CASES)
def test_loaded_model_predicts_like_the_original(tmp_path, kind, cls, key):
  key_dtype = tm.KEY_DTYPES[key]
  model = tm.filled(kind, cls, key_dtype)
  model.save(str(tmp_path / "model"))
  loaded = tf_keras.models.load_model(str(tmp_path / "model"))
  tm.assert_predicts_alike(loaded, model, key_dtype)


def test_unseen_ids_read_the_initializer_after_loading(tmp_path):
  model = tm.filled("functional", "Embedding", tf.string)
  model.save(str(tmp_path / "model"))
  layer = tm.embedding_layer(tf_keras.models.load_model(str(tmp_path /
                                                            "model")))
  rows = layer(tf.constant([["never", "seen", "before"]]))
  np.testing.assert_array_equal(rows.numpy(), [[tm.INITIAL_ROW] * tm.N])
  assert int(layer.params.size()) == int(
      tm.embedding_layer(model).params.size())


def test_sharded_table_round_trips(tmp_path):
  devices = ["/CPU:0", "/CPU:1", "/CPU:2"]
  model = tm.filled("functional", "SquashedEmbedding", tf.int64,
                    devices=devices)
  model.save(str(tmp_path / "model"))
  loaded = tf_keras.models.load_model(str(tmp_path / "model"))
  assert tm.embedding_layer(loaded).params.shard_num == 3
  tm.assert_predicts_alike(loaded, model, tf.int64)


def _saved_model(tmp_path):
  """`model.save(dir)`, then `load_model` + `load_weights` of the
  SavedModel's variables: tf_keras's `load_model` compiles a fresh
  optimizer, whose state (iterations, slots, slot tables) the SavedModel's
  checkpoint holds."""
  path = str(tmp_path / "model")

  def save(model):
    model.save(path)
    return path

  def load(path):
    model = tf_keras.models.load_model(path)
    model.load_weights(os.path.join(path, "variables", "variables"))
    return model
  return save, load


def _weights_checkpoint(tmp_path, kind, cls, key_dtype):
  """`save_weights(prefix)` (TF format) into a model built alike."""
  prefix = str(tmp_path / "ckpt")

  def save(model):
    model.save_weights(prefix)
    return prefix

  def load(prefix):
    model = tm.build(kind, cls, key_dtype, tm.optimizer())
    model.load_weights(prefix)
    return model
  return save, load


@pytest.mark.parametrize("kind,cls,key", [
    ("functional", "Embedding", "string"),
    ("sequential", "FieldWiseEmbedding", "int64"),
    ("subclassed", "SquashedEmbedding", "string")])
def test_saved_model_resumes_training_like_uninterrupted(tmp_path, kind, cls,
                                                         key):
  key_dtype = tm.KEY_DTYPES[key]
  reference, resumed = tm.train_interrupted(kind, cls, key_dtype,
                                            *_saved_model(tmp_path))
  tm.assert_trained_alike(resumed, reference, key_dtype)


@pytest.mark.parametrize("kind,cls,key", [
    ("functional", "SquashedEmbedding", "int64"),
    ("subclassed", "Embedding", "string")])
def test_save_weights_resumes_training_like_uninterrupted(tmp_path, kind, cls,
                                                          key):
  key_dtype = tm.KEY_DTYPES[key]
  reference, resumed = tm.train_interrupted(
      kind, cls, key_dtype,
      *_weights_checkpoint(tmp_path, kind, cls, key_dtype))
  tm.assert_trained_alike(resumed, reference, key_dtype)


def test_load_model_alone_compiles_a_fresh_optimizer(tmp_path):
  """What tf_keras does for every model: the table is restored, the
  optimizer is not (hence `load_weights` of the variables above)."""
  model = tm.build("functional", "Embedding", tf.int64, tm.optimizer())
  tm.fit(model, *tm.data(tf.int64), epochs=1)
  model.save(str(tmp_path / "model"))
  loaded = tf_keras.models.load_model(str(tmp_path / "model"))
  assert int(loaded.optimizer.iterations) == 0
  tm.assert_same_rows(tm.embedding_layer(loaded).params,
                      tm.embedding_layer(model).params)


def test_save_after_predict_round_trips(tmp_path):
  """Predict loads its batch into the layer's shadow variable; a save
  afterwards still holds the table and reloads to the same model."""
  model = tm.build("functional", "FieldWiseEmbedding", tf.string,
                   tm.optimizer())
  tm.fit(model, *tm.data(tf.string), epochs=1)
  tm.predictions(model, tm.unseen(tf.string))
  model.save(str(tmp_path / "model"))
  loaded = tf_keras.models.load_model(str(tmp_path / "model"))
  tm.assert_predicts_alike(loaded, model, tf.string)


# Damaged SavedModel directories. -----------------------------------------

_DATA = ("variables", "variables.data-00000-of-00001")


def _truncate(path):
  data = os.path.join(path, *_DATA)
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)


def _flip_bytes(path):
  with open(os.path.join(path, *_DATA), "r+b") as f:
    content = bytearray(f.read())
    for i in range(0, len(content), 5):
      content[i] ^= 0xFF
    f.seek(0)
    f.write(bytes(content))


def _remove(*parts):
  return lambda path: os.remove(os.path.join(path, *parts))


# TensorFlow's checkpoint reader reports a short data file as IndexError
# ("Read less bytes than requested").
DAMAGE = {
    "truncated_data": (_truncate, (IndexError, tf.errors.OpError)),
    "corrupt_data": (_flip_bytes, tf.errors.OpError),
    "missing_data": (_remove(*_DATA), tf.errors.OpError),
    "missing_index": (_remove("variables", "variables.index"),
                      (FileNotFoundError, tf.errors.NotFoundError)),
    "missing_graph": (_remove("saved_model.pb"), OSError),
}


@pytest.fixture(scope="module")
def saved_dir(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("saved") / "model")
  tm.filled("functional", "Embedding", tf.string).save(path)
  return path


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("loader", ["tf_keras", "tf.saved_model"])
def test_damaged_saved_model_raises(saved_dir, tmp_path, damage, loader):
  path = str(tmp_path / "copy")
  shutil.copytree(saved_dir, path)
  mutate, errors = DAMAGE[damage]
  mutate(path)
  load = (tf_keras.models.load_model if loader == "tf_keras"
          else tf.saved_model.load)
  with pytest.raises(errors):
    load(path)
