"""TFRA-style TF1 training: a graph built by a `model_fn` with
`de.get_variable(devices=[...], bp_v2=True)`, `de.embedding_lookup_unique`
and a wrapped `tf.compat.v1.train` optimizer, run by
`MonitoredTrainingSession` (the Estimator loop, gone from TF 2.21), equals
the same program on a dense `tf.Variable` step by step, and a second
session on the same checkpoint directory resumes where the first stopped:
its `Saver` restored the tables, the slot tables and the optimizer's
non-slot variables (Adam's beta powers).
"""

import numpy as np
import pytest
import tensorflow as tf
from logical_devices import CPU_DEVICES

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3
IDS = np.array([[1, 2, 2], [3, 1, 4], [5, 2, 1], [4, 4, 3]], np.int64)
LABELS = np.array([[1.0], [0.0], [1.0], [0.0]], np.float32)
OPTIMIZERS = {
    "adam": lambda: tf.compat.v1.train.AdamOptimizer(0.1),
    "adagrad": lambda: tf.compat.v1.train.AdagradOptimizer(0.3),
    "momentum": lambda: tf.compat.v1.train.MomentumOptimizer(0.3, 0.9),
}
FIRST, TOTAL = 6, 10


def model_fn(features, labels, optimizer, dense_table=None):
  """Loss and train op; the embedding is dynamic unless `dense_table`."""
  if dense_table is None:
    var = de.get_variable("emb", dim=DIM, devices=CPU_DEVICES[:2],
                          initializer=0.1, bp_v2=True)
    emb = de.embedding_lookup_unique(var, features, name="features")
  else:
    emb = tf.nn.embedding_lookup(dense_table, features)
  weights = tf.compat.v1.get_variable(
      "weights", [3 * DIM, 1],
      initializer=tf.compat.v1.constant_initializer(0.05))
  logits = tf.matmul(tf.reshape(emb, [-1, 3 * DIM]), weights)
  loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=labels, logits=logits))
  opt = OPTIMIZERS[optimizer]()
  if dense_table is None:
    opt = de.DynamicEmbeddingOptimizer(opt)
  step = tf.compat.v1.train.get_or_create_global_step()
  return loss, opt.minimize(loss, global_step=step)


def _monitored_losses(optimizer, checkpoint_dir, last_step):
  with tf.Graph().as_default():
    loss, train = model_fn(tf.constant(IDS), tf.constant(LABELS), optimizer)
    losses = []
    with tf.compat.v1.train.MonitoredTrainingSession(
        checkpoint_dir=checkpoint_dir, save_checkpoint_steps=FIRST,
        hooks=[tf.compat.v1.train.StopAtStepHook(last_step=last_step)],
        log_step_count_steps=None) as sess:
      while not sess.should_stop():
        losses.append(sess.run([loss, train])[0])
  return losses


def _dense_losses(optimizer, steps):
  with tf.Graph().as_default():
    table = tf.compat.v1.get_variable(
        "dense", [int(IDS.max()) + 1, DIM],
        initializer=tf.compat.v1.constant_initializer(0.1))
    loss, train = model_fn(tf.constant(IDS), tf.constant(LABELS), optimizer,
                           dense_table=table)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      return [sess.run([loss, train])[0] for _ in range(steps)]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_monitored_training_equals_dense_and_resumes(tmp_path, optimizer):
  checkpoint_dir = str(tmp_path / "ckpt")
  first = _monitored_losses(optimizer, checkpoint_dir, FIRST)
  resumed = _monitored_losses(optimizer, checkpoint_dir, TOTAL)
  assert len(first) == FIRST and len(resumed) == TOTAL - FIRST
  expected = _dense_losses(optimizer, TOTAL)
  assert expected[-1] < expected[0] - 0.05  # it trains
  np.testing.assert_allclose(first + resumed, expected, rtol=1e-6, atol=1e-6)
  saved = {name for name, _ in tf.train.list_variables(checkpoint_dir)}
  assert {"emb-keys", "emb-values", "global_step", "weights"} <= saved
  if optimizer == "adam":
    assert {"emb-Adam-m-keys", "emb-Adam-v-values", "beta1_power",
            "beta2_power"} <= saved


def test_non_slot_variables_are_shared_globals_on_the_table_device():
  """Adam's beta powers sit with the table on the ps as global variables
  (what a chief initialises), not with a worker's local lookup wrapper:
  otherwise a non-chief worker waits for ever for a variable of its own."""
  with tf.Graph().as_default():
    setter = tf.compat.v1.train.replica_device_setter(
        ps_tasks=1, worker_device="/job:worker/task:1", ps_device="/job:ps")
    with tf.compat.v1.device(setter):
      var = de.get_variable("emb", dim=2,
                            devices=["/job:ps/task:0", "/job:ps/task:0"])
      out = de.embedding_lookup_unique(var, tf.constant([1, 2], tf.int64))
      opt = de.DynamicEmbeddingOptimizer(tf.compat.v1.train.AdamOptimizer())
      opt.minimize(tf.reduce_sum(out))
    betas = [v for v in tf.compat.v1.global_variables()
             if "power" in v.name]
    assert len(betas) == 2 and set(betas) <= set(opt.variables())
    assert all(v.device == "/job:ps/task:0" for v in betas)
    assert not set(betas) & set(tf.compat.v1.local_variables())
