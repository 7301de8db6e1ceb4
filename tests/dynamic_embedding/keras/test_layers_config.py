"""Keras contract of de.keras.layers (tf_keras and Keras 3): config round
trip, registration, compute_output_shape, and argument validation naming
the argument."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from layer_flavours import KERAS3, TF_KERAS, flavour  # pylint: disable=unused-import
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

CLASSES = ["BasicEmbedding", "Embedding", "SquashedEmbedding",
           "FieldWiseEmbedding"]


def _make(flavour, cls, *args, **kwargs):
  if cls == "FieldWiseEmbedding":
    kwargs.setdefault("nslots", 3)
  return getattr(flavour.layers, cls)(*args, **kwargs)


def _registered(fn):
  """Registered with both Keras, so either flavour's config names it."""
  return keras.saving.register_keras_serializable(package="TFRATest")(
      tf_keras.saving.register_keras_serializable(package="TFRATest")(fn))


@_registered
def parity_field(ids):
  return tf.math.floormod(ids, 2)


@_registered
def reversed_partition(keys, shard_num):
  return shard_num - 1 - de.default_partition_fn(keys, shard_num)


class _NotSerializable:
  def __call__(self, ids):
    return tf.zeros_like(ids)


def _configs(keras_module):
  """Layer arguments by case; Keras objects from `keras_module`."""
  return {
      "defaults": {},
      "full": dict(key_dtype=tf.int32, value_dtype=tf.float64,
                   combiner="sqrtn", devices=["/CPU:0", "/CPU:1"],
                   with_unique=False, short_file_name=True, trainable=False,
                   bp_v2=True, init_capacity=64, max_norm=2.5,
                   keep_distribution=True, checkpoint=False,
                   partitioner=reversed_partition),
      "keras_args": dict(max_unique_ids=32, dtype="float16"),
      "keras_initializer": dict(
          initializer=keras_module.initializers.RandomNormal(stddev=0.3,
                                                             seed=4)),
      "number_initializer": dict(initializer=0.25),
      "named_initializer": dict(initializer="ones"),
      "list_initializer": dict(initializer=[0.0, 1.0, 2.0, 3.0]),
      "config_initializer": dict(initializer={"class_name": "Constant",
                                              "config": {"value": 2.0}}),
      "row_initializer": dict(initializer=np.array([1.0, 2.0, 3.0, 4.0])),
      "string_keys": dict(key_dtype="string", value_dtype="bfloat16",
                          devices="/CPU:0"),
  }


@pytest.mark.parametrize("case", list(_configs(tf_keras)))
@pytest.mark.parametrize("cls", CLASSES)
def test_config_round_trip_gives_an_equal_config(flavour, cls, case):
  args = _configs(flavour.keras)[case]
  layer = _make(flavour, cls, 4, name="layer_under_test", **args)
  config = layer.get_config()
  clone = type(layer).from_config(config)
  assert clone.get_config() == config
  assert clone.params is not layer.params
  assert clone.params.dim == 4 and clone.params.key_dtype == layer.key_dtype
  assert clone.params.shard_num == layer.params.shard_num
  assert clone.compute_dtype == layer.compute_dtype
  assert clone.max_unique_ids == layer.max_unique_ids


@pytest.mark.parametrize("cls", CLASSES)
def test_config_is_json_and_names_dtypes(flavour, cls):
  layer = _make(flavour, cls, 2, key_dtype=tf.string, initializer=0.5)
  config = layer.get_config()
  assert config["key_dtype"] == "string" and config["value_dtype"] == "float32"
  assert json.loads(json.dumps(config)) == config


def test_config_keeps_the_arguments(flavour):
  layer = flavour.layers.SquashedEmbedding(
      5, combiner="mean", init_capacity=8, max_norm=1.5, bp_v2=True,
      max_unique_ids=64, name="q")
  config = layer.get_config()
  assert {k: config[k] for k in ("embedding_size", "combiner", "name",
                                 "init_capacity", "max_norm", "bp_v2",
                                 "max_unique_ids")} == \
      {"embedding_size": 5, "combiner": "mean", "name": "q",
       "init_capacity": 8, "max_norm": 1.5, "bp_v2": True,
       "max_unique_ids": 64}
  assert layer.params.init_size == 8 and layer.params.bp_v2


def test_initializer_from_config_generates_the_same_rows(flavour):
  init = flavour.keras.initializers.RandomUniform(0.0, 1.0, seed=9)
  layer = flavour.layers.Embedding(3, initializer=init)
  clone = flavour.layers.Embedding.from_config(layer.get_config())
  assert isinstance(clone.initializer,
                    flavour.keras.initializers.RandomUniform)
  assert clone.initializer.get_config() == init.get_config()


def test_layer_tracks_only_its_table_and_shadow():
  layer = TF_KERAS.layers.FieldWiseEmbedding(2, 3, devices=["/CPU:0"],
                                             initializer=[1.0, 2.0])
  assert sorted(layer._trackable_children()) == ["params", "shadow"]  # pylint: disable=protected-access


def test_keras3_layer_tracks_its_table_and_once_built_its_buffer():
  layer = KERAS3.layers.FieldWiseEmbedding(2, 3, devices=["/CPU:0"],
                                           initializer=[1.0, 2.0])
  assert sorted(layer._trackable_children()) == ["params"]  # pylint: disable=protected-access
  layer.build()
  assert [w.path for w in layer.weights] == [f"{layer.name}/rows"]


def test_named_initializer_gives_its_rows(flavour):
  layer = flavour.layers.Embedding(2, initializer="ones")
  assert layer(tf.constant([5], tf.int64)).numpy().tolist() == [[1.0, 1.0]]
  assert layer.get_config()["initializer"] == "ones"


def test_registered_slot_map_fn_survives_the_config(flavour):
  layer = flavour.layers.FieldWiseEmbedding(1, 2, slot_map_fn=parity_field)
  clone = flavour.layers.FieldWiseEmbedding.from_config(layer.get_config())
  assert clone.slot_map_fn is parity_field


def test_unserializable_slot_map_fn_must_be_passed_again(flavour):
  fn = _NotSerializable()
  layer = flavour.layers.FieldWiseEmbedding(1, 2, slot_map_fn=fn)
  config = layer.get_config()
  with pytest.raises(ValueError, match="slot_map_fn"):
    flavour.layers.FieldWiseEmbedding.from_config(config)
  config["slot_map_fn"] = fn
  assert flavour.layers.FieldWiseEmbedding.from_config(
      config).slot_map_fn is fn


@pytest.mark.parametrize("cls", CLASSES)
def test_registered_under_the_tfra_package(flavour, cls):
  klass = getattr(flavour.layers, cls)
  saving = flavour.keras.saving
  assert saving.get_registered_name(klass) == f"TFRA>{cls}"
  assert saving.get_registered_object(f"TFRA>{cls}") is klass


@pytest.mark.parametrize("cls", CLASSES)
def test_serialize_keras_object_round_trip(flavour, cls):
  layer = _make(flavour, cls, 3, initializer=0.5, name="serialized",
                partitioner=reversed_partition)
  saving = flavour.keras.saving
  serialized = saving.serialize_keras_object(layer)
  assert serialized["registered_name"] == f"TFRA>{cls}"
  clone = saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
  assert type(clone) is type(layer)
  assert clone.get_config() == layer.get_config()
  assert clone.params is not layer.params


SHAPES = [("BasicEmbedding", [4]), ("BasicEmbedding", [2, 3, 5]),
          ("Embedding", [None, 3]), ("SquashedEmbedding", [None]),
          ("SquashedEmbedding", [2, 3]), ("SquashedEmbedding", [2, None, 5]),
          ("FieldWiseEmbedding", [2, 3]), ("FieldWiseEmbedding", [None, 3])]


@pytest.mark.parametrize("cls,input_shape", SHAPES,
                         ids=[f"{c}{s}" for c, s in SHAPES])
def test_compute_output_shape_matches_the_output(flavour, cls, input_shape):
  layer = _make(flavour, cls, 4)
  # tf_keras gives a TensorShape, Keras 3 a tuple.
  static = tf.TensorShape(
      layer.compute_output_shape(tf.TensorShape(input_shape)))
  real = [2 if d is None else d for d in input_shape]
  out = layer(tf.zeros(real, tf.int64))
  symbolic = layer(flavour.keras.Input(batch_shape=input_shape,
                                       dtype="int64"))
  assert static.rank == out.shape.rank and static[-1] == 4
  assert static.is_compatible_with(out.shape)
  assert static.as_list() == tf.TensorShape(symbolic.shape).as_list()


def test_shadow_is_a_trainable_weight_from_construction():
  layer = TF_KERAS.layers.Embedding(4, name="w")
  assert layer.trainable_weights == [layer.shadow]
  assert layer.shadow.params is layer.params and layer.params.name == "w"
  frozen = TF_KERAS.layers.Embedding(4, trainable=False)
  assert frozen.trainable_weights == [] and not frozen.params.trainable


@pytest.mark.parametrize("max_unique_ids,rows", [(None, 16384), (5, 5)])
def test_keras3_trainable_weight_is_a_row_buffer(max_unique_ids, rows):
  layer = KERAS3.layers.Embedding(4, name="w", max_unique_ids=max_unique_ids)
  assert layer.weights == [] and layer.max_unique_ids == rows
  layer(tf.constant([1, 2], tf.int64))
  assert [tuple(w.shape) for w in layer.trainable_weights] == [(rows, 4)]
  assert layer.params.name == "w"


def test_keras3_frozen_layer_has_no_trainable_weight():
  frozen = KERAS3.layers.Embedding(4, trainable=False, max_unique_ids=8)
  frozen.build()
  assert frozen.trainable_weights == [] and not frozen.params.trainable
  assert [tuple(w.shape) for w in frozen.non_trainable_weights] == [(8, 4)]


def test_each_layer_owns_its_variable(flavour):
  a, b = flavour.layers.Embedding(2), flavour.layers.Embedding(2)
  a.params.upsert(tf.constant([1], tf.int64), [[1.0, 1.0]])
  assert a.params is not b.params and int(b.params.size()) == 0


BAD_ARGS = [
    ("embedding_size", dict(embedding_size=0)),
    ("embedding_size", dict(embedding_size=2.5)),
    ("embedding_size", dict(embedding_size=True)),
    ("embedding_size", dict(embedding_size="8")),
    ("key_dtype", dict(key_dtype=tf.float32)),
    ("value_dtype", dict(value_dtype=tf.int32)),
    ("combiner", dict(combiner="max")),
    ("devices", dict(devices=[])),
    ("devices", dict(devices=[0])),
    ("with_unique", dict(with_unique="yes")),
    ("short_file_name", dict(short_file_name=1)),
    ("trainable", dict(trainable=None)),
    ("bp_v2", dict(bp_v2="no")),
    ("init_capacity", dict(init_capacity=-1)),
    ("init_capacity", dict(init_capacity=1.5)),
    ("max_norm", dict(max_norm=0.0)),
    ("max_norm", dict(max_norm="1")),
    ("partitioner", dict(partitioner=3)),
    ("restrict_policy", dict(restrict_policy="lru")),
    ("kv_creator", dict(kv_creator=object())),
    ("checkpoint", dict(checkpoint=None)),
    ("keep_distribution", dict(keep_distribution=0)),
    ("name", dict(name="")),
    ("input_shape", dict(input_shape=(3,))),
    ("initializer", dict(initializer=[1.0, 2.0])),
    ("initializer", dict(initializer="no_such_initializer")),
    ("max_unique_ids", dict(max_unique_ids=0)),
    ("max_unique_ids", dict(max_unique_ids=2.5)),
    ("max_unique_ids", dict(max_unique_ids=True)),
    ("max_unique_ids", dict(max_unique_ids="8")),
]


@pytest.mark.parametrize("arg,kwargs", BAD_ARGS,
                         ids=[f"{a}-{i}" for i, (a, _) in enumerate(BAD_ARGS)])
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_argument_is_refused_by_name(flavour, cls, arg, kwargs):
  kwargs = dict(kwargs)
  size = kwargs.pop("embedding_size", 4)
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    _make(flavour, cls, size, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(nslots=0), dict(nslots=None),
                                    dict(nslots=2, slot_map_fn="mod")],
                         ids=["nslots0", "nslotsNone", "slot_map_fn"])
def test_field_wise_bad_argument_is_refused_by_name(flavour, kwargs):
  arg = "slot_map_fn" if "slot_map_fn" in kwargs else "nslots"
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    flavour.layers.FieldWiseEmbedding(4, **kwargs)


def test_unknown_keyword_is_refused(flavour):
  # tf_keras raises TypeError, Keras 3 ValueError.
  with pytest.raises((TypeError, ValueError), match="colour"):
    flavour.layers.Embedding(4, colour="red")


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("ids", [np.array([[1, 2]], np.int32),
                                 np.array([[1.0, 2.0]], np.float32),
                                 np.array([[b"a", b"b"]], object)],
                         ids=["int32", "float32", "string"])
def test_ids_of_another_dtype_are_refused_naming_ids(flavour, cls, ids):
  layer = _make(flavour, cls, 2)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"ids: .*key_dtype int64"):
    layer(ids)


@pytest.mark.parametrize("cls,shape", [("SquashedEmbedding", []),
                                       ("FieldWiseEmbedding", [4]),
                                       ("FieldWiseEmbedding", [1, 2, 3])])
def test_ids_of_the_wrong_rank_are_refused_naming_ids(flavour, cls, shape):
  layer = _make(flavour, cls, 2)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"ids: layer .*(rank|\[batch, n\])"):
    layer(tf.zeros(shape, tf.int64))
