"""de.keras.layers in Sequential, functional and subclassed models of
tf_keras and Keras 3: predictions against direct lookups, weights and
checkpoint round trips."""

import os

import numpy as np
import pytest
import tensorflow as tf

from layer_flavours import (  # pylint: disable=unused-import
    FLAVOURS, KERAS3, TF_KERAS, embedding_layer, flavour)
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

DIM = 4
N = 3
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["Embedding", "SquashedEmbedding", "FieldWiseEmbedding"]


def _layer(flavour, cls, key_dtype, name="emb"):
  kwargs = dict(nslots=2) if cls == "FieldWiseEmbedding" else {}
  return getattr(flavour.layers, cls)(
      DIM, key_dtype=key_dtype, name=name, combiner="mean",
      initializer=flavour.keras.initializers.RandomNormal(seed=3),
      max_unique_ids=64, **kwargs)


def _ids(key_dtype, batch=5, seed=0):
  raw = np.random.default_rng(seed).integers(0, 20, (batch, N))
  if key_dtype == tf.string:
    return np.vectorize(lambda i: f"id{i}".encode(), otypes=[object])(raw)
  return raw.astype(key_dtype.as_numpy_dtype)


def _sequential(flavour, cls, key_dtype):
  keras = flavour.keras
  return keras.Sequential([
      keras.Input(shape=(N,), dtype=key_dtype.name),
      _layer(flavour, cls, key_dtype),
      keras.layers.Flatten(),
      keras.layers.Dense(1, name="head"),
  ])


def _sequential_without_input(flavour, cls, key_dtype):
  """Built on the first batch, with that batch's dtype (tf_keras only:
  Keras 3 builds it with float inputs)."""
  keras = flavour.keras
  return keras.Sequential([
      _layer(flavour, cls, key_dtype),
      keras.layers.Flatten(),
      keras.layers.Dense(1, name="head"),
  ])


def _functional(flavour, cls, key_dtype):
  keras = flavour.keras
  ids = keras.Input(shape=(N,), dtype=key_dtype.name, name="ids")
  emb = keras.layers.Flatten()(_layer(flavour, cls, key_dtype)(ids))
  return keras.Model(ids, keras.layers.Dense(1, name="head")(emb))


def _subclassed(flavour, cls, key_dtype):
  keras = flavour.keras

  class Subclassed(keras.Model):

    def __init__(self):
      super().__init__()
      self.emb = _layer(flavour, cls, key_dtype)
      self.flatten = keras.layers.Flatten()
      self.head = keras.layers.Dense(1, name="head")

    def call(self, ids):  # pylint: disable=arguments-differ
      return self.head(self.flatten(self.emb(ids)))

  return Subclassed()


BUILDERS = {"sequential": _sequential,
            "sequential_without_input": _sequential_without_input,
            "functional": _functional, "subclassed": _subclassed}
# (flavour, model kind) pairs that work.
KINDS = [(FLAVOURS[f], kind) for f in FLAVOURS for kind in BUILDERS
         if (f, kind) != ("keras3", "sequential_without_input")]
KIND_IDS = [f"{f.name}-{kind}" for f, kind in KINDS]


def _head_layer(model):
  return next(layer for layer in model.layers if layer.name == "head")


def _fill(model, ids):
  """Writes rows for every id in `ids`; returns {id: row}."""
  keys = sorted(set(ids.reshape(-1).tolist()))
  rows = np.random.default_rng(5).standard_normal((len(keys), DIM))
  embedding_layer(model).params.upsert(
      tf.constant(keys, embedding_layer(model).key_dtype),
      tf.constant(rows, tf.float32))
  return dict(zip(keys, rows))


@pytest.mark.parametrize("key", KEY_DTYPES)
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("flavour,kind", KINDS, ids=KIND_IDS)
def test_predict_equals_the_layer_then_the_head(flavour, kind, cls, key):
  key_dtype = KEY_DTYPES[key]
  model = BUILDERS[kind](flavour, cls, key_dtype)
  ids = _ids(key_dtype)
  _fill(model, ids)
  predicted = model.predict(flavour.inputs(ids), batch_size=2, verbose=0)
  emb = embedding_layer(model)(tf.constant(ids, key_dtype))
  expected = _head_layer(model)(tf.reshape(emb, [len(ids), -1]))
  np.testing.assert_allclose(predicted, np.asarray(expected), rtol=1e-5,
                             atol=1e-6)


def test_keras3_sequential_without_input_is_refused_naming_ids():
  """Keras 3 builds a Sequential model without an Input for float32
  inputs and casts the ids to float32: start it with keras.Input(shape,
  dtype=key_dtype)."""
  model = _sequential_without_input(KERAS3, "Embedding", tf.int64)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"ids: .*key_dtype int64 but got float32"):
    model.predict(_ids(tf.int64), verbose=0)


# A Sequential model without an Input has no weights before it is built.
@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_shadow_is_a_model_variable_before_the_first_call(kind):
  model = BUILDERS[kind](TF_KERAS, "Embedding", tf.int64)
  shadow = embedding_layer(model).shadow
  assert any(v is shadow for v in model.trainable_variables)


# A subclassed model has no weights before its first call.
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_keras3_row_buffer_is_a_model_variable_from_construction(kind):
  model = BUILDERS[kind](KERAS3, "Embedding", tf.int64)
  (buffer,) = embedding_layer(model).trainable_weights
  assert tuple(buffer.shape) == (64, DIM)
  assert any(v is buffer for v in model.trainable_variables)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("flavour,kind", KINDS, ids=KIND_IDS)
def test_saved_training_state_restores_the_table(tmp_path, flavour, kind,
                                                 cls):
  """tf_keras's save_weights; a tf.train.Checkpoint of a Keras 3 model."""
  model = BUILDERS[kind](flavour, cls, tf.string)
  ids = _ids(tf.string)
  reference = _fill(model, ids)
  before = model.predict(flavour.inputs(ids), verbose=0)
  path = os.path.join(tmp_path, "ckpt")
  flavour.save(model, path)
  fresh = BUILDERS[kind](flavour, cls, tf.string)
  fresh(tf.constant(ids[:1]))  # builds the head (subclassed models)
  flavour.restore(fresh, path).assert_existing_objects_matched()
  keys, rows = embedding_layer(fresh).params.export()
  restored = dict(zip(keys.numpy().tolist(), rows.numpy()))
  assert sorted(restored) == sorted(reference)
  for k, row in reference.items():
    np.testing.assert_allclose(restored[k], row, rtol=1e-6)
  np.testing.assert_allclose(fresh.predict(flavour.inputs(ids), verbose=0),
                             before, rtol=1e-5, atol=1e-6)


def test_restore_replaces_rows_written_after_the_save(tmp_path, flavour):
  model = _functional(flavour, "Embedding", tf.int64)
  params = embedding_layer(model).params
  params.upsert(tf.constant([1], tf.int64), [[1.0] * DIM])
  path = os.path.join(tmp_path, "ckpt")
  flavour.save(model, path)
  params.upsert(tf.constant([1, 2], tf.int64), [[9.0] * DIM, [9.0] * DIM])
  flavour.restore(model, path)
  keys, rows = params.export()
  assert keys.numpy().tolist() == [1] and rows.numpy().tolist() == [[1.0] * 4]


def test_tf_train_checkpoint_of_a_layer_restores_the_table(tmp_path,
                                                           flavour):
  layer = flavour.layers.SquashedEmbedding(2, key_dtype=tf.int32)
  layer.params.upsert(tf.constant([3, 4], tf.int32), [[1.0, 2.0], [3.0, 4.0]])
  path = tf.train.Checkpoint(layer=layer).save(os.path.join(tmp_path, "c"))
  fresh = flavour.layers.SquashedEmbedding(2, key_dtype=tf.int32, devices=[
      "/CPU:0", "/CPU:1"])
  tf.train.Checkpoint(layer=fresh).restore(
      path).assert_existing_objects_matched()
  out = fresh(tf.constant([[3, 4]], tf.int32))
  assert out.numpy().tolist() == [[4.0, 6.0]]


def test_checkpoint_false_leaves_the_table_out(tmp_path, flavour):
  layer = flavour.layers.Embedding(2, checkpoint=False)
  layer.params.upsert(tf.constant([3], tf.int64), [[1.0, 2.0]])
  path = tf.train.Checkpoint(layer=layer).save(os.path.join(tmp_path, "c"))
  fresh = flavour.layers.Embedding(2, checkpoint=False)
  tf.train.Checkpoint(layer=fresh).restore(path)
  assert int(fresh.params.size()) == 0


def test_model_from_json_and_weights_round_trip(tmp_path, flavour):
  model = _functional(flavour, "FieldWiseEmbedding", tf.int64)
  ids = _ids(tf.int64)
  _fill(model, ids)
  path = os.path.join(tmp_path, "ckpt")
  flavour.save(model, path)
  clone = flavour.keras.models.model_from_json(model.to_json())
  flavour.restore(clone, path)
  assert isinstance(embedding_layer(clone), flavour.layers.FieldWiseEmbedding)
  np.testing.assert_allclose(clone.predict(ids, verbose=0),
                             model.predict(ids, verbose=0), rtol=1e-5)


def test_clone_model_gets_its_own_table(flavour):
  model = _functional(flavour, "Embedding", tf.int64)
  clone = flavour.keras.models.clone_model(model)
  assert embedding_layer(clone).params is not embedding_layer(model).params
  assert embedding_layer(clone).get_config() == \
      embedding_layer(model).get_config()


def test_two_layers_in_one_model_keep_separate_tables(flavour):
  keras = flavour.keras
  user = keras.Input(shape=(1,), dtype="int64")
  item = keras.Input(shape=(1,), dtype="string")
  user_emb = flavour.layers.SquashedEmbedding(2, name="user")
  item_emb = flavour.layers.SquashedEmbedding(2, key_dtype=tf.string,
                                              name="item")
  out = keras.layers.Dot(axes=1)([user_emb(user), item_emb(item)])
  model = keras.Model([user, item], out)
  user_emb.params.upsert(tf.constant([1], tf.int64), [[1.0, 2.0]])
  item_emb.params.upsert(["a"], [[3.0, 4.0]])
  got = model.predict([np.array([[1]]), tf.constant([[b"a"]])], verbose=0)
  assert got.tolist() == [[11.0]]
  own = user_emb.trainable_weights + item_emb.trainable_weights
  assert len(own) == 2 and len(model.trainable_variables) == 2
  assert all(any(v is w for w in own) for v in model.trainable_variables)
  assert user_emb.params.name == "user" and item_emb.params.name == "item"
  assert de.Variable is type(user_emb.params)


@pytest.mark.parametrize("cls", ["SquashedEmbedding", "FieldWiseEmbedding"])
def test_ragged_input_in_a_functional_model(flavour, cls):
  ids = flavour.keras.Input(shape=(None,), dtype="int64", ragged=True)
  layer = _layer(flavour, cls, tf.int64)
  model = flavour.keras.Model(ids, layer(ids))
  layer.params.upsert(tf.constant([1, 2], tf.int64), [[1.0] * DIM, [3.0] * DIM])
  batch = tf.ragged.constant([[1, 2], [2], []], tf.int64)
  got = model.predict(batch, verbose=0)
  if cls == "SquashedEmbedding":
    expected = [[2.0] * DIM, [3.0] * DIM, [0.0] * DIM]
  else:  # fields: 1 -> 1, 2 -> 0 (mean per field)
    expected = [[[3.0] * DIM, [1.0] * DIM], [[3.0] * DIM, [0.0] * DIM],
                [[0.0] * DIM, [0.0] * DIM]]
  np.testing.assert_array_equal(got, expected)
