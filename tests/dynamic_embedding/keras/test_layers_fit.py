"""Training end to end with de.keras.layers and de.DynamicEmbeddingOptimizer,
in tf_keras and Keras 3: model.fit, custom train steps, resuming.

Tiny synthetic data: a label that depends on the ids only through their
embeddings, so the loss can fall only if the table rows train.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from layer_flavours import flavour  # pylint: disable=unused-import
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

DIM = 4
N = 3
VOCAB = 24
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["BasicEmbedding", "Embedding", "SquashedEmbedding",
           "FieldWiseEmbedding"]


def _data(key_dtype, batch=64):
  raw = np.random.default_rng(0).integers(0, VOCAB, (batch, N))
  labels = (np.sin(raw * 1.7).sum(axis=1, keepdims=True) > 0).astype(
      np.float32)
  if key_dtype == tf.string:
    return np.vectorize(lambda i: f"w{i}".encode(), otypes=[object])(raw), \
        labels
  return raw.astype(key_dtype.as_numpy_dtype), labels


def _head(keras):
  return keras.layers.Dense(
      1, kernel_initializer=keras.initializers.GlorotUniform(seed=2))


def _model(flavour, cls, key_dtype, optimizer):
  keras = flavour.keras
  kwargs = dict(nslots=2) if cls == "FieldWiseEmbedding" else {}
  model = keras.Sequential([
      keras.Input(shape=(N,), dtype=key_dtype.name),
      getattr(flavour.layers, cls)(
          DIM, key_dtype=key_dtype, combiner="mean",
          initializer=keras.initializers.RandomNormal(stddev=0.1, seed=1),
          max_unique_ids=VOCAB, **kwargs),
      keras.layers.Flatten(),
      _head(keras),
  ])
  model.compile(de.DynamicEmbeddingOptimizer(optimizer), "mse")
  return model


@pytest.mark.parametrize("key", KEY_DTYPES)
@pytest.mark.parametrize("cls", CLASSES)
def test_fit_lowers_the_loss_and_fills_the_table(flavour, cls, key):
  key_dtype = KEY_DTYPES[key]
  x, y = _data(key_dtype)
  x = flavour.inputs(x)
  model = _model(flavour, cls, key_dtype, flavour.keras.optimizers.Adam(0.05))
  losses = model.fit(x, y, epochs=6, batch_size=16, shuffle=False,
                     verbose=0).history["loss"]
  assert losses[-1] < 0.5 * losses[0], losses
  params = model.layers[0].params
  assert int(params.size()) == len(np.unique(x))
  assert len(params.get_slot_variables(model.optimizer)) == 2
  evaluated = model.evaluate(x, y, batch_size=16, verbose=0)
  assert evaluated < 0.5 * losses[0]


def _dense_and_dynamic(flavour):
  """A model over a dense Keras Embedding of VOCAB rows and the same model
  over a dynamic layer, both trained by SGD(0.1) from the same weights."""
  keras = flavour.keras
  dense = keras.Sequential([
      keras.Input(shape=(N,), dtype="int64"),
      keras.layers.Embedding(
          VOCAB, DIM,
          embeddings_initializer=keras.initializers.RandomNormal(seed=4)),
      keras.layers.Flatten(),
      _head(keras),
  ])
  dense.compile(keras.optimizers.SGD(0.1), "mse")
  dynamic = _model(flavour, "Embedding", tf.int64, keras.optimizers.SGD(0.1))
  dynamic.layers[0].params.upsert(tf.range(VOCAB, dtype=tf.int64),
                                  dense.layers[0].embeddings)
  dynamic.layers[2].set_weights(dense.layers[2].get_weights())
  return dense, dynamic


def _assert_trained_alike(dense, dynamic, x):
  np.testing.assert_allclose(
      dynamic.layers[0].params.lookup(tf.range(VOCAB, dtype=tf.int64)),
      np.asarray(dense.layers[0].embeddings), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dynamic.predict(x, verbose=0),
                             dense.predict(x, verbose=0), rtol=1e-5,
                             atol=1e-6)


def test_fit_with_sgd_equals_a_dense_keras_embedding(flavour):
  """Plain SGD touches only the rows of the batch and is linear in the
  summed gradient of each row, so a dynamic table and a dense Keras
  Embedding starting from the same rows train alike (even in Keras 3, whose
  sparse updates do not merge duplicate ids first)."""
  x, y = _data(tf.int64)
  dense, dynamic = _dense_and_dynamic(flavour)
  for model in (dense, dynamic):
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
  _assert_trained_alike(dense, dynamic, x)


def _train_step(model, x, y):
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.square(model(x) - y))
  grads = tape.gradient(loss, model.trainable_variables)
  model.optimizer.apply_gradients(zip(grads, model.trainable_variables))
  return loss


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "function"])
def test_custom_train_step_with_sgd_equals_a_dense_keras_embedding(
    flavour, compiled):
  x, y = _data(tf.int64, batch=32)
  dense, dynamic = _dense_and_dynamic(flavour)
  for model in (dense, dynamic):
    step = tf.function(_train_step) if compiled else _train_step
    for start in range(0, len(x), 8):
      step(model, tf.constant(x[start:start + 8]), y[start:start + 8])
  _assert_trained_alike(dense, dynamic, x)


def test_fit_resumes_from_a_saved_training_state(tmp_path, flavour):
  """Training on after a restore (table, slot tables, dense weights and
  optimizer state) gives what training on without the round trip gives."""
  x, y = _data(tf.string)
  x = flavour.inputs(x)
  model = _model(flavour, "SquashedEmbedding", tf.string,
                 flavour.keras.optimizers.Adam(0.05))
  model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
  path = os.path.join(tmp_path, "ckpt")
  flavour.save(model, path)
  fresh = _model(flavour, "SquashedEmbedding", tf.string,
                 flavour.keras.optimizers.Adam(0.05))
  flavour.restore(fresh, path)
  after = [m.fit(x, y, epochs=1, batch_size=16, shuffle=False,
                 verbose=0).history["loss"][0] for m in (model, fresh)]
  np.testing.assert_allclose(after[1], after[0], rtol=1e-5)
  np.testing.assert_allclose(fresh.predict(x, verbose=0),
                             model.predict(x, verbose=0), rtol=1e-5,
                             atol=1e-6)


def test_frozen_layer_keeps_its_rows(flavour):
  x, y = _data(tf.int64)
  model = _model(flavour, "Embedding", tf.int64,
                 flavour.keras.optimizers.Adam(0.05))
  model.layers[0].trainable = False
  model.compile(
      de.DynamicEmbeddingOptimizer(flavour.keras.optimizers.Adam(0.05)),
      "mse")
  model.layers[0].params.upsert(tf.constant([1], tf.int64), [[0.5] * DIM])
  model.fit(x, y, epochs=1, batch_size=16, verbose=0)
  keys, rows = model.layers[0].params.export()
  assert keys.numpy().tolist() == [1] and rows.numpy().tolist() == [[0.5] * 4]


def test_two_towers_train_both_tables(flavour):
  """A user tower (int64 ids) and an item tower (string ids) in one model;
  the label is a function of (user, item), so both tables must train."""
  keras = flavour.keras
  rng = np.random.default_rng(3)
  users = rng.integers(0, 12, (96, 1))
  items = rng.integers(0, 12, (96, 1))
  labels = np.cos(users * 0.9 + items * 1.3).astype(np.float32)
  item_ids = tf.constant(
      np.vectorize(lambda i: f"item{i}".encode(), otypes=[object])(items))
  user_in = keras.Input(shape=(1,), dtype="int64")
  item_in = keras.Input(shape=(1,), dtype="string")
  init = keras.initializers.RandomNormal(stddev=0.3, seed=5)
  user_emb = flavour.layers.SquashedEmbedding(
      DIM, name="user", initializer=init, max_unique_ids=32)
  item_emb = flavour.layers.SquashedEmbedding(
      DIM, key_dtype=tf.string, name="item", initializer=init,
      max_unique_ids=32)
  out = keras.layers.Dot(axes=1)([user_emb(user_in), item_emb(item_in)])
  model = keras.Model([user_in, item_in], out)
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05)),
                "mse")
  losses = model.fit([users, item_ids], labels, epochs=8, batch_size=32,
                     shuffle=False, verbose=0).history["loss"]
  assert losses[-1] < 0.5 * losses[0], losses
  assert int(user_emb.params.size()) == len(np.unique(users))
  assert int(item_emb.params.size()) == len(np.unique(items))
