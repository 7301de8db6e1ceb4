"""de.keras.layers in Sequential, functional and subclassed tf_keras models:
predictions against direct lookups, weights and checkpoint round trips."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers

DIM = 4
N = 3
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["Embedding", "SquashedEmbedding", "FieldWiseEmbedding"]


def _layer(cls, key_dtype, name="emb"):
  kwargs = dict(nslots=2) if cls == "FieldWiseEmbedding" else {}
  return getattr(layers, cls)(
      DIM, key_dtype=key_dtype, name=name, combiner="mean",
      initializer=tf_keras.initializers.RandomNormal(seed=3), **kwargs)


def _ids(key_dtype, batch=5, seed=0):
  raw = np.random.default_rng(seed).integers(0, 20, (batch, N))
  if key_dtype == tf.string:
    return np.vectorize(lambda i: f"id{i}".encode(), otypes=[object])(raw)
  return raw.astype(key_dtype.as_numpy_dtype)


def _sequential(cls, key_dtype):
  return tf_keras.Sequential([
      tf_keras.Input(shape=(N,), dtype=key_dtype),
      _layer(cls, key_dtype),
      tf_keras.layers.Flatten(),
      tf_keras.layers.Dense(1, name="head"),
  ])


def _sequential_without_input(cls, key_dtype):
  """Built on the first batch, with that batch's dtype."""
  return tf_keras.Sequential([
      _layer(cls, key_dtype),
      tf_keras.layers.Flatten(),
      tf_keras.layers.Dense(1, name="head"),
  ])


def _functional(cls, key_dtype):
  ids = tf_keras.Input(shape=(N,), dtype=key_dtype, name="ids")
  emb = tf_keras.layers.Flatten()(_layer(cls, key_dtype)(ids))
  return tf_keras.Model(ids, tf_keras.layers.Dense(1, name="head")(emb))


class _Subclassed(tf_keras.Model):

  def __init__(self, layer_class, key_dtype):
    super().__init__()
    self.emb = _layer(layer_class, key_dtype)
    self.flatten = tf_keras.layers.Flatten()
    self.head = tf_keras.layers.Dense(1, name="head")

  def call(self, ids):
    return self.head(self.flatten(self.emb(ids)))


BUILDERS = {"sequential": _sequential,
            "sequential_without_input": _sequential_without_input,
            "functional": _functional, "subclassed": _Subclassed}


def _emb_layer(model):
  return next(layer for layer in model.layers
              if isinstance(layer, layers.BasicEmbedding))


def _head_layer(model):
  return next(layer for layer in model.layers if layer.name == "head")


def _fill(model, ids):
  """Writes rows for every id in `ids`; returns {id: row}."""
  keys = sorted(set(ids.reshape(-1).tolist()))
  rows = np.random.default_rng(5).standard_normal((len(keys), DIM))
  _emb_layer(model).params.upsert(
      tf.constant(keys, _emb_layer(model).key_dtype),
      tf.constant(rows, tf.float32))
  return dict(zip(keys, rows))


@pytest.mark.parametrize("key", KEY_DTYPES)
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("kind", BUILDERS)
def test_predict_equals_the_layer_then_the_head(kind, cls, key):
  key_dtype = KEY_DTYPES[key]
  model = BUILDERS[kind](cls, key_dtype)
  ids = _ids(key_dtype)
  _fill(model, ids)
  predicted = model.predict(ids, batch_size=2, verbose=0)
  emb = _emb_layer(model)(tf.constant(ids, key_dtype))
  expected = _head_layer(model)(tf.reshape(emb, [len(ids), -1]))
  np.testing.assert_allclose(predicted, expected.numpy(), rtol=1e-5,
                             atol=1e-6)


# A Sequential model without an Input has no weights before it is built.
@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_shadow_is_a_model_variable_before_the_first_call(kind):
  model = BUILDERS[kind]("Embedding", tf.int64)
  shadow = _emb_layer(model).shadow
  assert any(v is shadow for v in model.trainable_variables)


@pytest.mark.parametrize("kind", BUILDERS)
@pytest.mark.parametrize("cls", CLASSES)
def test_save_weights_and_load_weights_restore_the_table(tmp_path, cls, kind):
  model = BUILDERS[kind](cls, tf.string)
  ids = _ids(tf.string)
  reference = _fill(model, ids)
  before = model.predict(ids, verbose=0)
  path = os.path.join(tmp_path, "ckpt")
  model.save_weights(path)
  fresh = BUILDERS[kind](cls, tf.string)
  fresh(tf.constant(ids[:1]))  # builds the head (subclassed models)
  fresh.load_weights(path).assert_existing_objects_matched()
  keys, rows = _emb_layer(fresh).params.export()
  restored = dict(zip(keys.numpy().tolist(), rows.numpy()))
  assert sorted(restored) == sorted(reference)
  for k, row in reference.items():
    np.testing.assert_allclose(restored[k], row, rtol=1e-6)
  np.testing.assert_allclose(fresh.predict(ids, verbose=0), before,
                             rtol=1e-5, atol=1e-6)


def test_load_weights_replaces_rows_written_after_the_save(tmp_path):
  model = _functional("Embedding", tf.int64)
  _emb_layer(model).params.upsert(tf.constant([1], tf.int64), [[1.0] * DIM])
  path = os.path.join(tmp_path, "ckpt")
  model.save_weights(path)
  _emb_layer(model).params.upsert(tf.constant([1, 2], tf.int64),
                                  [[9.0] * DIM, [9.0] * DIM])
  model.load_weights(path)
  keys, rows = _emb_layer(model).params.export()
  assert keys.numpy().tolist() == [1] and rows.numpy().tolist() == [[1.0] * 4]


def test_tf_train_checkpoint_of_a_layer_restores_the_table(tmp_path):
  layer = layers.SquashedEmbedding(2, key_dtype=tf.int32)
  layer.params.upsert(tf.constant([3, 4], tf.int32), [[1.0, 2.0], [3.0, 4.0]])
  path = tf.train.Checkpoint(layer=layer).save(os.path.join(tmp_path, "c"))
  fresh = layers.SquashedEmbedding(2, key_dtype=tf.int32, devices=[
      "/CPU:0", "/CPU:1"])
  tf.train.Checkpoint(layer=fresh).restore(path).assert_existing_objects_matched()
  out = fresh(tf.constant([[3, 4]], tf.int32))
  assert out.numpy().tolist() == [[4.0, 6.0]]


def test_checkpoint_false_leaves_the_table_out(tmp_path):
  layer = layers.Embedding(2, checkpoint=False)
  layer.params.upsert(tf.constant([3], tf.int64), [[1.0, 2.0]])
  path = tf.train.Checkpoint(layer=layer).save(os.path.join(tmp_path, "c"))
  fresh = layers.Embedding(2, checkpoint=False)
  tf.train.Checkpoint(layer=fresh).restore(path)
  assert int(fresh.params.size()) == 0


def test_model_from_json_and_weights_round_trip(tmp_path):
  model = _functional("FieldWiseEmbedding", tf.int64)
  ids = _ids(tf.int64)
  _fill(model, ids)
  path = os.path.join(tmp_path, "ckpt")
  model.save_weights(path)
  clone = tf_keras.models.model_from_json(model.to_json())
  clone.load_weights(path)
  assert isinstance(_emb_layer(clone), layers.FieldWiseEmbedding)
  np.testing.assert_allclose(clone.predict(ids, verbose=0),
                             model.predict(ids, verbose=0), rtol=1e-5)


def test_clone_model_gets_its_own_table():
  model = _functional("Embedding", tf.int64)
  clone = tf_keras.models.clone_model(model)
  assert _emb_layer(clone).params is not _emb_layer(model).params
  assert _emb_layer(clone).get_config() == _emb_layer(model).get_config()


def test_two_layers_in_one_model_keep_separate_tables():
  user = tf_keras.Input(shape=(1,), dtype=tf.int64)
  item = tf_keras.Input(shape=(1,), dtype=tf.string)
  user_emb = layers.SquashedEmbedding(2, name="user")
  item_emb = layers.SquashedEmbedding(2, key_dtype=tf.string, name="item")
  out = tf_keras.layers.Dot(axes=1)([user_emb(user), item_emb(item)])
  model = tf_keras.Model([user, item], out)
  user_emb.params.upsert(tf.constant([1], tf.int64), [[1.0, 2.0]])
  item_emb.params.upsert(["a"], [[3.0, 4.0]])
  got = model.predict([np.array([[1]]), np.array([[b"a"]], object)],
                      verbose=0)
  assert got.tolist() == [[11.0]]
  assert {v.name for v in model.trainable_variables} == {
      "user/TrainableWrapper_user-shadow:0",
      "item/TrainableWrapper_item-shadow:0"}
  assert de.Variable is type(user_emb.params)


@pytest.mark.parametrize("cls", ["SquashedEmbedding", "FieldWiseEmbedding"])
def test_ragged_input_in_a_functional_model(cls):
  ids = tf_keras.Input(shape=(None,), dtype=tf.int64, ragged=True)
  layer = _layer(cls, tf.int64)
  model = tf_keras.Model(ids, layer(ids))
  layer.params.upsert(tf.constant([1, 2], tf.int64), [[1.0] * DIM, [3.0] * DIM])
  batch = tf.ragged.constant([[1, 2], [2], []], tf.int64)
  got = model.predict(batch, verbose=0)
  if cls == "SquashedEmbedding":
    expected = [[2.0] * DIM, [3.0] * DIM, [0.0] * DIM]
  else:  # fields: 1 -> 1, 2 -> 0 (mean per field)
    expected = [[[3.0] * DIM, [1.0] * DIM], [[3.0] * DIM, [0.0] * DIM],
                [[0.0] * DIM, [0.0] * DIM]]
  np.testing.assert_array_equal(got, expected)
