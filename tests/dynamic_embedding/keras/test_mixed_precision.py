"""Mixed precision (`mixed_float16`) with dynamic layers, Keras 3 and
tf_keras: tables and their trained weights stay float32, layer outputs are
float16, and the loss-scale optimizer's scaled gradients reach the tables
unscaled (training equals float32 training to float16 precision), with
steps of non-finite gradients skipped without touching a row.
"""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

V, D, N, BATCH = 12, 4, 5, 8


@pytest.fixture(params=["keras3", "tf_keras"])
def flavour(request):
  # pylint: disable=import-outside-toplevel
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as tfk_layers
  if request.param == "tf_keras":
    import tf_keras
    yield tf_keras, tfk_layers
    tf_keras.mixed_precision.set_global_policy("float32")
  else:
    import keras
    yield keras, keras3
    keras.mixed_precision.set_global_policy("float32")


def _data():
  rng = np.random.RandomState(1)
  ids = rng.randint(0, V, size=(64, N)).astype(np.int64)
  labels = rng.normal(size=(64, 1)).astype(np.float32)
  init = (np.random.RandomState(0).normal(size=(V, D)) * 0.5).astype(
      np.float32)
  return ids, labels, init


def _train(flavour, policy, optimizer, labels=None, epochs=2):
  keras, layers = flavour
  keras.mixed_precision.set_global_policy(policy)
  ids, default_labels, init = _data()
  labels = default_labels if labels is None else labels
  emb = layers.SquashedEmbedding(D, combiner="mean", name="emb")
  emb.params.upsert(np.arange(V), init)
  inputs = keras.Input((N,), dtype="int64")
  hidden = emb(inputs)
  head = keras.layers.Dense(1, kernel_initializer="ones", dtype="float32")
  model = keras.Model(inputs, head(hidden))
  model.compile(de.DynamicEmbeddingOptimizer(optimizer(keras)), "mse")
  model.fit(ids[:len(labels)], labels, batch_size=BATCH, epochs=epochs, verbose=0,
            shuffle=False)
  return emb, model, hidden, init


@pytest.mark.parametrize("optimizer", [
    lambda keras: keras.optimizers.SGD(0.5),
    lambda keras: keras.optimizers.Adam(0.05),
], ids=["sgd", "adam"])
def test_mixed_float16_equals_float32_training(flavour, optimizer):
  full, _, _, init = _train(flavour, "float32", optimizer)
  mixed, model, hidden, _ = _train(flavour, "mixed_float16", optimizer)
  assert hidden.dtype == tf.float16
  assert "LossScaleOptimizer" in type(model.optimizer).__name__
  assert mixed.params.value_dtype == tf.float32
  assert all(w.dtype in (tf.float32, "float32") for w in mixed.trainable_weights)
  want = full.params.lookup(np.arange(V)).numpy()
  got = mixed.params.lookup(np.arange(V)).numpy()
  change = np.abs(want - init).max()
  assert change > 0.05
  # float16 activations: agreement to float16 precision. Unscaled loss
  # scaling would make SGD's steps 2**15 times larger.
  np.testing.assert_allclose(got, want, atol=2e-3 * max(1.0, change))


def test_non_finite_step_is_skipped_without_touching_rows(flavour):
  _, labels, _ = _data()
  bad = labels.copy()
  bad[:BATCH] = np.inf  # the first batch's loss and gradients are not finite
  emb, model, _, init = _train(flavour, "mixed_float16",
                               lambda keras: keras.optimizers.Adam(0.05),
                               labels=bad[:BATCH], epochs=1)
  np.testing.assert_array_equal(emb.params.lookup(np.arange(V)).numpy(), init)
  inner = model.optimizer.inner_optimizer
  assert all(int(slot.size()) == 0
             for slot in emb.params.get_slot_variables(inner))
