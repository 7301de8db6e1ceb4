"""Training through lookups equals training a plain tf.Variable.

Plain SGD, written out by hand on both sides: the de side updates the
lookup's wrapper with its gradient and writes it back (`update_op`); the
oracle updates a dense `tf.Variable` with its (densified) gradient. Ids
change between steps and repeat within a batch; the de.Variable starts empty
(zeros initializer), so rows enter the table when first trained, exactly
like the zero-initialized oracle rows.
"""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

VOCAB = 30
DIM = 3
STEPS = 20
LR = 0.1


def step_ids(step):
  rng = np.random.default_rng(100 + step)
  return tf.constant(rng.integers(0, VOCAB, (4, 5)), tf.int64)


def targets():
  return tf.constant(np.random.default_rng(7).standard_normal((4, 5, DIM)),
                     tf.float32)


def loss_fn(emb, target):
  return tf.reduce_sum(tf.square(emb - target)) + 0.1 * tf.reduce_sum(emb)


def oracle_rows():
  static = tf.Variable(tf.zeros([VOCAB, DIM]))
  target = targets()
  for step in range(STEPS):
    with tf.GradientTape() as tape:
      loss = loss_fn(tf.nn.embedding_lookup(static, step_ids(step)), target)
    static.assign_sub(LR * tf.convert_to_tensor(tape.gradient(loss, static)))
  return static.numpy()


def train(run, step_fn):
  for step in range(STEPS):
    run(step_fn, step_ids(step))


def assert_trained_like_oracle(var):
  expected = oracle_rows()
  keys, rows = var.export()
  keys = keys.numpy()
  trained = sorted(set(np.concatenate(
      [step_ids(s).numpy().ravel() for s in range(STEPS)]).tolist()))
  assert sorted(keys.tolist()) == trained
  np.testing.assert_allclose(rows.numpy(), expected[keys], rtol=1e-6,
                             atol=1e-6)


@pytest.mark.parametrize("fn", ["embedding_lookup", "embedding_lookup_unique"])
def test_sgd_through_wrapper_equals_dense_sgd(fn, shard_devices,
                                              eager_or_function):
  var = de.Variable(dim=DIM, devices=shard_devices)
  target = targets()
  lookup = getattr(de, fn)

  def train_step(ids):
    with tf.GradientTape() as tape:
      emb, wrapper = lookup(var, ids, name="train", return_trainable=True)
      loss = loss_fn(emb, target)
    wrapper.assign_sub(LR * tape.gradient(loss, wrapper))
    wrapper.update_op()
    return loss

  train(eager_or_function, train_step)
  assert_trained_like_oracle(var)


def test_sgd_through_shadow_variable_equals_dense_sgd(shard_devices,
                                                       eager_or_function):
  var = de.Variable(dim=DIM, devices=shard_devices)
  shadow = de.shadow_ops.ShadowVariable(var, name="shadow")
  target = targets()

  def train_step(ids):
    with tf.GradientTape() as tape:
      loss = loss_fn(de.shadow_ops.embedding_lookup(shadow, ids), target)
    shadow.assign_sub(LR * tape.gradient(loss, shadow))
    shadow.update_op()
    return loss

  train(eager_or_function, train_step)
  assert_trained_like_oracle(var)


def test_wrapper_is_reused_across_calls_and_retraces():
  var = de.Variable(dim=DIM)

  @tf.function
  def look(ids):
    return de.embedding_lookup(var, ids, name="same")

  look(tf.constant([1, 2], tf.int64))
  look(tf.constant([[1, 2, 3]], tf.int64))  # new shape: retrace
  de.embedding_lookup(var, [4], name="same")
  assert list(var.trainable_store) == ["same"]
  assert var.get_trainable_by_name("same").ids.numpy().tolist() == [4]


def test_two_named_lookups_in_one_step_get_separate_gradients():
  var = de.Variable(dim=1, initializer=1.0)
  with tf.GradientTape() as tape:
    a, wa = de.embedding_lookup(var, [1, 1], name="a", return_trainable=True)
    b, wb = de.embedding_lookup(var, [2], name="b", return_trainable=True)
    loss = tf.reduce_sum(a) + 3.0 * tf.reduce_sum(b)
  ga, gb = tape.gradient(loss, [wa, wb])
  assert ga.numpy().tolist() == [[2.0]] and gb.numpy().tolist() == [[3.0]]


def test_wrapper_is_a_trainable_tf_variable():
  var = de.Variable(dim=2)
  _, wrapper = de.embedding_lookup(var, [5], return_trainable=True)
  assert isinstance(wrapper, tf.Variable) and wrapper.trainable
  assert isinstance(wrapper, de.TrainableWrapper) and wrapper.params is var
  assert wrapper.shape.as_list() == [None, 2]  # rows vary per lookup
  assert wrapper.numpy().shape == (1, 2)


def test_non_trainable_variable_creates_no_trainable_wrapper():
  var = de.Variable(dim=2, trainable=False)
  de.embedding_lookup(var, [1, 2])
  assert var.trainable_store == {}
  _, wrapper = de.embedding_lookup(var, [1], return_trainable=True)
  assert not wrapper.trainable


def test_lookup_never_inserts(shard_devices):
  var = de.Variable(dim=2, devices=shard_devices,
                    initializer=tf.keras.initializers.RandomNormal())
  with tf.GradientTape():
    de.embedding_lookup(var, [1, 2, 3])
  sp = tf.SparseTensor([[0, 0]], tf.constant([4], tf.int64), [1, 1])
  de.embedding_lookup_sparse(var, sp, None)
  de.safe_embedding_lookup_sparse(var, sp)
  assert int(var.size()) == 0



class _RacedShadow(de.shadow_ops.ShadowVariable):
  """A shadow whose rows another thread overwrites right after this call
  loaded them: what a concurrent lookup of the same name would do."""

  def assign_rows(self, unique_ids, rows):
    loaded = super().assign_rows(unique_ids, rows)
    with tf.control_dependencies([loaded]):
      self.assign(tf.fill(tf.shape(rows), 1000.0))
    return self.value()


def test_outputs_never_read_the_shared_wrapper_state(eager_or_function):
  """Serving threads share one wrapper per lookup name; each call's output
  must come from its own table read, while gradients still reach the wrapper."""
  var = de.Variable(dim=2)
  var.upsert([1, 2], [[1.0, 1.0], [2.0, 2.0]])
  shadow = _RacedShadow(var, name="raced")

  def look(ids):
    with tf.GradientTape() as tape:
      out = de.shadow_ops.embedding_lookup(shadow, ids)
      loss = tf.reduce_sum(out)
    return out, tape.gradient(loss, shadow)

  out, grad = eager_or_function(look, tf.constant([2, 1, 2], tf.int64))
  assert out.numpy().tolist() == [[2.0, 2.0], [1.0, 1.0], [2.0, 2.0]]
  assert grad.numpy().tolist() == [[2.0, 2.0], [1.0, 1.0]]
