"""model.fit end to end with de.keras.layers and de.DynamicEmbeddingOptimizer.

Tiny synthetic data: a label that depends on the ids only through their
embeddings, so the loss can fall only if the table rows train.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers

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


def _model(cls, key_dtype, optimizer):
  kwargs = dict(nslots=2) if cls == "FieldWiseEmbedding" else {}
  model = tf_keras.Sequential([
      tf_keras.Input(shape=(N,), dtype=key_dtype),
      getattr(layers, cls)(
          DIM, key_dtype=key_dtype, combiner="mean",
          initializer=tf_keras.initializers.RandomNormal(stddev=0.1, seed=1),
          **kwargs),
      tf_keras.layers.Flatten(),
      tf_keras.layers.Dense(
          1, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=2)),
  ])
  model.compile(de.DynamicEmbeddingOptimizer(optimizer), "mse")
  return model


@pytest.mark.parametrize("key", KEY_DTYPES)
@pytest.mark.parametrize("cls", CLASSES)
def test_fit_lowers_the_loss_and_fills_the_table(cls, key):
  key_dtype = KEY_DTYPES[key]
  x, y = _data(key_dtype)
  model = _model(cls, key_dtype, tf_keras.optimizers.Adam(0.05))
  losses = model.fit(x, y, epochs=6, batch_size=16, shuffle=False,
                     verbose=0).history["loss"]
  assert losses[-1] < 0.5 * losses[0], losses
  params = model.layers[0].params
  assert int(params.size()) == len(np.unique(x))
  assert len(params.get_slot_variables(model.optimizer)) == 2


def test_fit_with_sgd_equals_a_dense_keras_embedding():
  """Plain SGD touches only the rows of the batch, so a dynamic table and
  a dense tf_keras Embedding starting from the same rows train alike."""
  x, y = _data(tf.int64)
  dense = tf_keras.Sequential([
      tf_keras.Input(shape=(N,), dtype=tf.int64),
      tf_keras.layers.Embedding(
          VOCAB, DIM,
          embeddings_initializer=tf_keras.initializers.RandomNormal(seed=4)),
      tf_keras.layers.Flatten(),
      tf_keras.layers.Dense(
          1, kernel_initializer=tf_keras.initializers.GlorotUniform(seed=2)),
  ])
  dense.compile(tf_keras.optimizers.SGD(0.1), "mse")
  dynamic = _model("Embedding", tf.int64, tf_keras.optimizers.SGD(0.1))
  dynamic.layers[0].params.upsert(tf.range(VOCAB, dtype=tf.int64),
                                  dense.layers[0].embeddings)
  dynamic.layers[2].set_weights(dense.layers[2].get_weights())
  for model in (dense, dynamic):
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
  np.testing.assert_allclose(
      dynamic.layers[0].params.lookup(tf.range(VOCAB, dtype=tf.int64)),
      dense.layers[0].embeddings.numpy(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dynamic.predict(x, verbose=0),
                             dense.predict(x, verbose=0), rtol=1e-5,
                             atol=1e-6)


def test_fit_resumes_from_save_weights(tmp_path):
  """Training on after load_weights (table, slot tables, dense weights and
  optimizer state) gives what training on without the round trip gives."""
  x, y = _data(tf.string)
  model = _model("SquashedEmbedding", tf.string,
                 tf_keras.optimizers.Adam(0.05))
  model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
  path = os.path.join(tmp_path, "ckpt")
  model.save_weights(path)
  fresh = _model("SquashedEmbedding", tf.string,
                 tf_keras.optimizers.Adam(0.05))
  fresh.load_weights(path)
  after = [m.fit(x, y, epochs=1, batch_size=16, shuffle=False,
                 verbose=0).history["loss"][0] for m in (model, fresh)]
  np.testing.assert_allclose(after[1], after[0], rtol=1e-5)
  np.testing.assert_allclose(fresh.predict(x, verbose=0),
                             model.predict(x, verbose=0), rtol=1e-5,
                             atol=1e-6)


def test_frozen_layer_keeps_its_rows():
  x, y = _data(tf.int64)
  model = _model("Embedding", tf.int64, tf_keras.optimizers.Adam(0.05))
  model.layers[0].trainable = False
  model.compile(de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.05)),
                "mse")
  model.layers[0].params.upsert(tf.constant([1], tf.int64), [[0.5] * DIM])
  model.fit(x, y, epochs=1, batch_size=16, verbose=0)
  keys, rows = model.layers[0].params.export()
  assert keys.numpy().tolist() == [1] and rows.numpy().tolist() == [[0.5] * 4]
