"""A lookup that needs no gradient, made between a training step's forward
pass and its gradient, must not redirect the update.

TFRS computes FactorizedTopK metrics during training with
`candidates.batch(n).map(item_model)`: the item layer is called again inside
a tf.data map in the same step, which loads other ids into the layer's
shadow (tf_keras) or runs another lookup through its row buffer (Keras 3).
The optimizer must still update the rows of the forward pass.
"""

import pytest
import tensorflow as tf

from layer_flavours import KERAS3, flavour  # pylint: disable=unused-import
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

IDS = tf.constant([1, 2, 2], tf.int64)
# SGD(1) on sum(rows), 3 steps from 1.0: id 1 loses 1 per step, id 2 (twice
# in the batch) 2 per step.
EXPECTED = [[-2.0, -2.0], [-5.0, -5.0], [1.0, 1.0], [1.0, 1.0]]


def make(flavour):
  layer = flavour.layers.Embedding(2, name="items", initializer=1.0,
                                   max_unique_ids=8)
  opt = de.DynamicEmbeddingOptimizer(flavour.keras.optimizers.SGD(1.0))
  return layer, opt


def apply(layer, opt, tape, loss):
  grads = tape.gradient(loss, layer.trainable_variables)
  opt.apply_gradients(zip(grads, layer.trainable_variables))


def test_lookup_inside_tf_data_map_in_the_same_step(flavour):
  layer, opt = make(flavour)
  candidates = tf.data.Dataset.range(100, 400).batch(100)

  @tf.function
  def step(ids):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(layer(ids))
      side = candidates.map(layer).reduce(
          tf.zeros([2]), lambda acc, rows: acc + tf.reduce_sum(rows, 0))
      loss += 0.0 * tf.reduce_sum(side)
    apply(layer, opt, tape, loss)

  for _ in range(3):
    step(IDS)
  assert layer.params.lookup([1, 2, 100, 399]).numpy().tolist() == EXPECTED
  assert int(layer.params.size()) == 2   # candidate lookups inserted nothing


@pytest.mark.parametrize("side_ids", [[7, 8, 9, 10], [5]],
                         ids=["more_ids", "fewer_ids"])
def test_eager_lookup_between_forward_and_gradient(flavour, side_ids):
  layer, opt = make(flavour)
  for _ in range(3):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(layer(IDS))
    layer(tf.constant(side_ids, tf.int64))   # e.g. an evaluation call
    apply(layer, opt, tape, loss)
  assert layer.params.lookup([1, 2, side_ids[0], 399]).numpy().tolist() == \
      EXPECTED


def test_keras3_gradient_over_calls_of_two_steps_is_refused():
  """A Keras 3 layer's buffer holds one step's ids: a gradient over a call
  whose step already had its gradient and a later call fails instead of
  mixing their positions (two calls in one step train; see
  test_layers_shared_call.py)."""
  layer, _ = make(KERAS3)
  with tf.GradientTape(persistent=True) as tape:
    first = tf.reduce_sum(layer(IDS))
  tape.gradient(first, layer.trainable_variables)
  with tape:
    loss = first + tf.reduce_sum(layer(tf.constant([5], tf.int64)))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="second gradient in one training step"):
    tape.gradient(loss, layer.trainable_variables)
