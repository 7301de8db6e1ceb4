"""Two `de.embedding_lookup` calls of one variable in one training step
train exactly like two `tf.nn.embedding_lookup` calls of a dense variable,
whatever their names: an id in both lookups gets the sum of both
gradients (one optimizer step, also for Adam), an id in one gets its own.

Without distinct names TFRA writes one lookup's gradient onto the other
lookup's ids; here calls with one name share their wrapper's union of ids
(call_groups.py) and wrappers of different names are merged by the
optimizer (optimizers/merge.py).
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 2
VOCAB = 10
STEPS = 3
INIT = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)
W1 = np.array([[1.0, 2.0]], np.float32)
W2 = np.array([[3.0, -1.0]], np.float32)
IDS = {
    "same": ([1, 2, 2], [1, 2, 2]),
    "overlapping": ([1, 2, 3, 3], [3, 4]),
    "disjoint": ([1, 2], [5, 6, 7]),
}
NAMES = {"same": ("x", "x"), "default": (None, None), "different": ("x", "y")}
OPTIMIZERS = {
    "sgd": lambda: tf_keras.optimizers.SGD(0.1),
    "adam": lambda: tf_keras.optimizers.Adam(0.1),
    "adagrad": lambda: tf_keras.optimizers.Adagrad(0.1),
}


def _loss(first, second):
  return tf.reduce_sum(tf.square(first) * W1) + tf.reduce_sum(
      tf.square(second) * W2)


def _dense_oracle(make_opt, ids):
  dense = tf.Variable(INIT)
  opt = make_opt()
  for _ in range(STEPS):
    with tf.GradientTape() as tape:
      loss = _loss(tf.nn.embedding_lookup(dense, ids[0]),
                   tf.nn.embedding_lookup(dense, ids[1]))
    opt.apply_gradients([(tape.gradient(loss, dense), dense)])
  return dense.numpy()


def _new_variable():
  var = de.Variable(dim=DIM)
  var.upsert(tf.range(VOCAB, dtype=tf.int64), INIT)
  return var


def _trained(make_opt, ids, names, mode):
  var = _new_variable()
  opt = de.DynamicEmbeddingOptimizer(make_opt())

  def step():
    with tf.GradientTape() as tape:
      first, tw1 = de.embedding_lookup(var, ids[0], name=names[0],
                                       return_trainable=True)
      second, tw2 = de.embedding_lookup(var, ids[1], name=names[1],
                                        return_trainable=True)
      loss = _loss(first, second)
    wrappers = [tw1, tw2]
    opt.apply_gradients(zip(tape.gradient(loss, wrappers), wrappers))

  if mode == "function":
    step = tf.function(step)
  for _ in range(STEPS):
    step()
  return var.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy()


# Every case eagerly; in a tf.function (slower to set up) every name and
# optimizer with overlapping ids.
CASES = [(opt, ids, names, "eager") for opt in ("sgd", "adam")
         for ids in IDS for names in NAMES] + [
             (opt, "overlapping", names, "function") for opt in ("sgd", "adam")
             for names in NAMES]


@pytest.mark.parametrize("optimizer,ids,names,mode", CASES)
def test_two_lookups_train_like_a_dense_variable(optimizer, ids, names, mode):
  expected = _dense_oracle(OPTIMIZERS[optimizer], IDS[ids])
  got = _trained(OPTIMIZERS[optimizer], IDS[ids], NAMES[names], mode)
  assert not np.allclose(got, INIT)
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("names", ["same", "different"])
def test_two_sparse_lookups_train_like_a_dense_variable_under_adagrad(names):
  ids = IDS["overlapping"]
  var = _new_variable()
  opt = de.DynamicEmbeddingOptimizer(OPTIMIZERS["adagrad"]())
  first_name, second_name = NAMES[names]
  for _ in range(STEPS):
    with tf.GradientTape() as tape:
      first, tw1 = de.embedding_lookup_unique(
          var, ids[0], name=first_name, return_trainable=True)
      sparse = tf.ragged.constant([ids[1]], dtype=tf.int64)
      second, tw2 = de.embedding_lookup_sparse(
          var, sparse, None, name=second_name, combiner="sum",
          return_trainable=True)
      # One example whose rows are summed: a loss linear in the sum gives
      # each id the gradient of a dense lookup of its rows.
      loss = tf.reduce_sum(tf.square(first) * W1) + tf.reduce_sum(
          second * W2)
    wrappers = [tw1, tw2]
    opt.apply_gradients(zip(tape.gradient(loss, wrappers), wrappers))

  dense = tf.Variable(INIT)
  dense_opt = OPTIMIZERS["adagrad"]()
  for _ in range(STEPS):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(
          tf.square(tf.nn.embedding_lookup(dense, ids[0])) * W1) + \
          tf.reduce_sum(tf.nn.embedding_lookup(dense, ids[1]) * W2)
    dense_opt.apply_gradients([(tape.gradient(loss, dense), dense)])
  np.testing.assert_allclose(
      var.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy(), dense.numpy(),
      rtol=1e-6, atol=1e-6)


def test_a_wrapper_listed_twice_is_trained_once():
  var = _new_variable()
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(1.0))
  with tf.GradientTape() as tape:
    first, tw1 = de.embedding_lookup(var, [1], return_trainable=True)
    second, tw2 = de.embedding_lookup(var, [1], return_trainable=True)
    loss = tf.reduce_sum(first) + tf.reduce_sum(second)
  assert tw1 is tw2
  grads = tape.gradient(loss, [tw1, tw2])
  opt.apply_gradients(zip(grads, [tw1, tw2]))
  np.testing.assert_allclose(var.lookup([1]).numpy(), INIT[1:2] - 2.0,
                             rtol=1e-6)


@pytest.mark.parametrize("tape", [False, True], ids=["no_tape", "tape"])
def test_eager_lookups_without_gradients_keep_one_wrapper_of_one_call(tape):
  """An evaluation loop creates no wrappers and grows no union of ids, with
  or without a tape recording (a tape that never takes a gradient)."""
  var = _new_variable()
  for i in range(20):
    ids = tf.constant([i, i + 100], tf.int64)
    if tape:
      with tf.GradientTape():
        de.embedding_lookup(var, ids)
    else:
      de.embedding_lookup(var, ids)
  assert list(var.trainable_store) == ["embedding_lookup"]
  assert var.get_trainable_by_name("embedding_lookup").ids.numpy().tolist() \
      == [19, 119]


def test_a_lookup_after_the_forward_pass_does_not_join_the_step():
  """A lookup no tape records (between the forward pass and the gradient)
  neither receives an update nor moves the step's rows."""
  var = _new_variable()
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(1.0))
  with tf.GradientTape() as tape:
    out, tw = de.embedding_lookup(var, [1, 2], return_trainable=True)
    loss = tf.reduce_sum(out)
  de.embedding_lookup(var, [7, 8, 9])
  opt.apply_gradients([(tape.gradient(loss, tw), tw)])
  expected = INIT.copy()
  expected[1:3] -= 1.0
  np.testing.assert_allclose(
      var.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy(), expected,
      rtol=1e-6)
  assert tw.ids.numpy().tolist() == [1, 2]


def test_retraced_two_lookup_step_creates_no_new_wrappers():
  var = _new_variable()
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(0.1))

  @tf.function
  def step(first_ids, second_ids):
    with tf.GradientTape() as tape:
      first, tw = de.embedding_lookup(var, first_ids, return_trainable=True)
      second, _ = de.embedding_lookup(var, second_ids, return_trainable=True)
      loss = tf.reduce_sum(first) + tf.reduce_sum(second)
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])

  step(tf.constant([1, 2], tf.int64), tf.constant([2], tf.int64))
  step(tf.constant([[3]], tf.int64), tf.constant([3, 4], tf.int64))
  assert list(var.trainable_store) == ["embedding_lookup"]
  expected = INIT.copy()
  expected[[1, 4]] -= 0.1
  expected[[2, 3]] -= 0.2
  np.testing.assert_allclose(
      var.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy(), expected,
      rtol=1e-6)


# The tf_keras legacy and TF1 optimizer families (Keras 3 optimizers train
# only Keras 3 layers: keras/test_layers_shared_call.py).
FAMILIES = {
    "legacy_adam": lambda: tf_keras.optimizers.legacy.Adam(0.1),
    "legacy_adagrad": lambda: tf_keras.optimizers.legacy.Adagrad(0.1),
    "tf1_adam": lambda: tf.compat.v1.train.AdamOptimizer(0.1),
    "tf1_momentum": lambda: tf.compat.v1.train.MomentumOptimizer(0.1, 0.9),
}


@pytest.mark.parametrize("names", ["default", "different"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_two_lookups_train_like_a_dense_variable_in_every_family(family,
                                                                 names):
  ids = IDS["overlapping"]
  expected = _dense_oracle(FAMILIES[family], ids)
  got = _trained(FAMILIES[family], ids, NAMES[names], "eager")
  assert not np.allclose(got, INIT)
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("family", ["legacy_adam", "tf1_adam"])
def test_two_lookups_in_a_function_train_like_a_dense_variable(family):
  ids = IDS["overlapping"]
  expected = _dense_oracle(FAMILIES[family], ids)
  got = _trained(FAMILIES[family], ids, NAMES["different"], "function")
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("names", ["default", "different"])
def test_two_lookups_in_a_tf1_graph_train_like_a_dense_variable(names):
  ids = IDS["overlapping"]
  expected = _dense_oracle(FAMILIES["tf1_adam"], ids)
  with tf.Graph().as_default():
    var = de.get_variable("emb", dim=DIM)
    init = var.upsert(tf.range(VOCAB, dtype=tf.int64), INIT)
    first = de.embedding_lookup(var, ids[0], name=NAMES[names][0])
    second = de.embedding_lookup(var, ids[1], name=NAMES[names][1])
    opt = de.DynamicEmbeddingOptimizer(FAMILIES["tf1_adam"]())
    train = opt.minimize(_loss(first, second))
    read = var.lookup(tf.range(VOCAB, dtype=tf.int64))
    with tf.compat.v1.Session() as sess:
      sess.run([tf.compat.v1.global_variables_initializer(),
                tf.compat.v1.local_variables_initializer()])
      sess.run(init)
      for _ in range(STEPS):
        sess.run(train)
      got = sess.run(read)
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
