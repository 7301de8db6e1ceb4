"""A dynamic layer called on two inputs in one model (a shared embedding of
history and candidate ids, as in recommenders) trains exactly like a shared
static embedding: an id in both inputs gets the sum of both calls'
gradients, in both Kerases, with `fit` and with a custom training loop.
"""

import numpy as np
import pytest
import tensorflow as tf

from layer_flavours import flavour  # pylint: disable=unused-import
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

DIM = 3
VOCAB = 12
HISTORY = 4
BATCH = 8
STEPS = 3
INIT = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)
HEAD = np.random.default_rng(1).normal(size=(DIM * (HISTORY + 1), 1)).astype(
    np.float32)


def _data(ids):
  rng = np.random.default_rng(2)
  history = rng.integers(0, VOCAB // 2, size=(BATCH, HISTORY))
  candidate = {
      "same": history[:, :1],
      "overlapping": rng.integers(0, VOCAB // 2, size=(BATCH, 1)),
      "disjoint": rng.integers(VOCAB // 2, VOCAB, size=(BATCH, 1)),
  }[ids]
  targets = rng.normal(size=(BATCH, 1)).astype(np.float32)
  return [history.astype(np.int64), candidate.astype(np.int64)], targets


def _static_layer(keras):
  """A shared static embedding whose gradient is dense (one-hot matmul):
  the optimizer sees one summed gradient per row, as for a dense variable."""

  class StaticRows(keras.layers.Layer):

    def build(self, input_shape):
      del input_shape
      self.rows = self.add_weight(
          name="rows", shape=(VOCAB, DIM),
          initializer=keras.initializers.Constant(INIT))

    def call(self, ids):
      return tf.einsum("...v,vd->...d", tf.one_hot(ids, VOCAB), self.rows)

  return StaticRows()


def _model(flavour, embedding):
  keras = flavour.keras
  history = keras.Input((HISTORY,), dtype="int64")
  candidate = keras.Input((1,), dtype="int64")
  rows = keras.layers.Concatenate(axis=1)([embedding(history),
                                           embedding(candidate)])
  head = keras.layers.Dense(1, use_bias=False,
                            kernel_initializer=keras.initializers.Constant(HEAD))
  return keras.Model([history, candidate], head(keras.layers.Flatten()(rows)))


def _trained(flavour, dynamic, ids, how):
  keras = flavour.keras
  if dynamic:
    embedding = flavour.layers.Embedding(DIM, name="shared", max_unique_ids=64)
    embedding.params.upsert(tf.range(VOCAB, dtype=tf.int64), INIT)
  else:
    embedding = _static_layer(keras)
  model = _model(flavour, embedding)
  # Adam, stateful: the same batch every step keeps lazy updates exact.
  opt = keras.optimizers.Adam(0.1)
  if dynamic:
    opt = de.DynamicEmbeddingOptimizer(opt)
  x, y = _data(ids)
  if how == "fit":
    model.compile(opt, "mse")
    model.fit(x, y, batch_size=BATCH, epochs=STEPS, shuffle=False, verbose=0)
  else:
    def step(x, y):
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
      variables = model.trainable_variables
      opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    if how == "function":
      step = tf.function(step)
    for _ in range(STEPS):
      step([tf.constant(v) for v in x], tf.constant(y))
  rows = (embedding.params.lookup(tf.range(VOCAB, dtype=tf.int64))
          if dynamic else embedding.rows)
  return np.asarray(rows), np.asarray(model(x))


@pytest.mark.parametrize("how,ids", [
    ("fit", "overlapping"), ("eager", "same"), ("function", "disjoint")])
def test_shared_layer_trains_like_a_shared_static_embedding(flavour, how, ids):
  static_rows, static_out = _trained(flavour, False, ids, how)
  rows, out = _trained(flavour, True, ids, how)
  assert not np.allclose(rows, INIT)   # it trained
  np.testing.assert_allclose(rows, static_rows, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(out, static_out, rtol=1e-5, atol=1e-6)
