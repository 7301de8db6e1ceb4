"""DynamicEmbeddingOptimizer beyond the update math: dense variables next to
embeddings, schedules and clipping, checkpoints, bp_v2, Horovod wiring,
configs and refused inputs."""

import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from test_optimizer_oracle import assert_close
from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3
IDS = tf.constant([[1, 2, 2], [5, 1, 9]], tf.int64)
TOUCHED = [1, 2, 5, 9]


def init_rows():
  return np.random.default_rng(3).standard_normal((10, DIM)).astype(np.float32)


def dense_init():
  return np.random.default_rng(4).standard_normal((DIM, 2)).astype(np.float32)


def target(step):
  return tf.constant(np.random.default_rng(step).standard_normal((2, 3, 2)),
                     tf.float32)


def loss_fn(emb, kernel, tgt):
  return tf.reduce_sum(tf.square(tf.einsum("bnd,dk->bnk", emb, kernel) - tgt))


def make_mixed_opt():
  schedule = tf_keras.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)
  return tf_keras.optimizers.Adam(schedule, global_clipnorm=1.0)


@pytest.mark.parametrize("mode", ["eager", "function", "minimize"])
def test_dense_and_dynamic_variables_train_together(mode):
  """A schedule and global_clipnorm see the embedding's gradient like a
  dense variable's; the dense kernel trains as with the stock optimizer."""
  var = de.Variable(dim=DIM)
  var.upsert(TOUCHED, init_rows()[TOUCHED])
  kernel = tf.Variable(dense_init())
  opt = de.DynamicEmbeddingOptimizer(make_mixed_opt())
  static, static_kernel = tf.Variable(init_rows()), tf.Variable(dense_init())
  dense_opt = make_mixed_opt()

  def step(s):
    if mode == "minimize":
      tw = de.embedding_lookup(var, IDS, return_trainable=True)[1]
      loss = lambda: loss_fn(de.embedding_lookup(var, IDS), kernel, s)
      opt.minimize(loss, [tw, kernel], tape=tf.GradientTape())
    else:
      with tf.GradientTape() as tape:
        emb, tw = de.embedding_lookup(var, IDS, return_trainable=True)
        loss = loss_fn(emb, kernel, s)
      opt.apply_gradients(zip(tape.gradient(loss, [tw, kernel]), [tw, kernel]))
    with tf.GradientTape() as tape:
      loss = loss_fn(tf.nn.embedding_lookup(static, IDS), static_kernel, s)
    grads = tape.gradient(loss, [static, static_kernel])
    dense_opt.apply_gradients(zip([tf.convert_to_tensor(grads[0]), grads[1]],
                                  [static, static_kernel]))

  run = tf.function(step) if mode == "function" else step
  for s in range(8):
    run(target(s))
  assert_close(var.lookup(TOUCHED).numpy(), static.numpy()[TOUCHED])
  assert_close(kernel.numpy(), static_kernel.numpy())


def train_adam(var, opt, steps, start=0):
  for s in range(start, start + steps):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, IDS, return_trainable=True)
      loss = tf.reduce_sum(tf.square(emb - float(s % 3)))
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])


@pytest.mark.parametrize("restore_shards", [1, 3])
def test_checkpoint_restores_rows_slots_and_step(tmp_path, restore_shards):
  """Training 4 steps, checkpointing, restoring into new objects (slot
  tables created after the restore call) and training 4 more equals 8
  uninterrupted steps."""
  ref_var = de.Variable(dim=DIM, initializer=0.3, name="emb")
  ref_opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  train_adam(ref_var, ref_opt, 8)

  var = de.Variable(dim=DIM, initializer=0.3, name="emb")
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  train_adam(var, opt, 4)
  path = tf.train.Checkpoint(var=var, opt=opt).save(str(tmp_path / "ck"))

  devices = ["/CPU:0", "/CPU:1", "/CPU:2"][:restore_shards]
  new_var = de.Variable(dim=DIM, initializer=0.3, name="emb", devices=devices)
  new_opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  tf.train.Checkpoint(var=new_var, opt=new_opt).restore(path)
  train_adam(new_var, new_opt, 4, start=4)
  assert int(new_opt.iterations) == 8
  assert_close(new_var.lookup(TOUCHED).numpy(), ref_var.lookup(TOUCHED).numpy())
  for slot, ref_slot in zip(new_var.get_slot_variables(new_opt),
                            ref_var.get_slot_variables(ref_opt)):
    assert slot.shard_num == restore_shards
    assert_close(slot.lookup(TOUCHED).numpy(), ref_slot.lookup(TOUCHED).numpy())


def two_trainers(bp_v2_opt, bp_v2_var):
  """Two trainers read the same rows, then both apply SGD (lr 1, grad 1)."""
  var = de.Variable(dim=1, bp_v2=bp_v2_var)
  var.upsert([1, 2], [[10.0], [20.0]])
  trainers = []
  for name in ("a", "b"):
    opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(1.0),
                                       bp_v2=bp_v2_opt)
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, [1, 3], name=name,
                                    return_trainable=True)
      loss = tf.reduce_sum(emb)
    trainers.append((opt, tape.gradient(loss, tw), tw))
  for opt, grad, tw in trainers:
    opt.apply_gradients([(grad, tw)])
  return var.lookup([1, 2, 3]).numpy().ravel().tolist()


@pytest.mark.parametrize("bp_v2_opt,bp_v2_var", [(True, False), (False, True)])
def test_bp_v2_adds_concurrent_updates(bp_v2_opt, bp_v2_var):
  # Id 1 existed: both deltas (-1 each) add up. Id 3 was new to both: the
  # first inserts -1, the second adds its delta. Id 2 is untouched.
  assert two_trainers(bp_v2_opt, bp_v2_var) == [8.0, 20.0, -2.0]


def test_without_bp_v2_last_writer_wins():
  assert two_trainers(False, False) == [9.0, 20.0, -1.0]


def fake_horovod(monkeypatch, calls):
  hvd = types.ModuleType("horovod.tensorflow")
  hvd.Sum = "sum"

  def allreduce(tensor, op):
    calls.append(op)
    return tensor * 2.0   # as if a second worker had the same gradient
  hvd.allreduce = allreduce
  pkg = types.ModuleType("horovod")
  pkg.tensorflow = hvd
  monkeypatch.setitem(sys.modules, "horovod", pkg)
  monkeypatch.setitem(sys.modules, "horovod.tensorflow", hvd)


def test_synchronous_all_reduces_dense_gradients_only(monkeypatch):
  calls = []
  fake_horovod(monkeypatch, calls)
  var = de.Variable(dim=1, initializer=1.0)
  dense = tf.Variable([1.0])
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(0.5),
                                     synchronous=True)
  with tf.GradientTape() as tape:
    emb, tw = de.embedding_lookup(var, [4], return_trainable=True)
    loss = tf.reduce_sum(emb) + tf.reduce_sum(dense)
  opt.apply_gradients(zip(tape.gradient(loss, [tw, dense]), [tw, dense]))
  assert calls == ["sum"]
  assert dense.numpy().tolist() == [0.0]          # 1 - 0.5 * (2 * 1)
  assert var.lookup([4]).numpy().tolist() == [[0.5]]   # local gradient


def test_synchronous_without_horovod_fails_clearly(monkeypatch):
  monkeypatch.setitem(sys.modules, "horovod", None)
  monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)
  with pytest.raises(tf.errors.FailedPreconditionError, match="Horovod"):
    de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(), synchronous=True)


@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.Adafactor(),
    lambda: keras.optimizers.Lamb(),
    object,
], ids=["keras3_adafactor", "keras3_lamb", "object"])
def test_refuses_unsupported_optimizers(make):
  with pytest.raises(tf.errors.InvalidArgumentError, match="self: cannot wrap"):
    de.DynamicEmbeddingOptimizer(make())


def test_refuses_ema_for_dynamic_embeddings():
  var = de.Variable(dim=1)
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(use_ema=True))
  with tf.GradientTape() as tape:
    emb, tw = de.embedding_lookup(var, [1], return_trainable=True)
    loss = tf.reduce_sum(emb)
  with pytest.raises(tf.errors.InvalidArgumentError, match="use_ema"):
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])
  assert int(var.size()) == 0


def test_wraps_in_place_and_keeps_config():
  opt = tf_keras.optimizers.Adam(0.01, amsgrad=True)
  wrapped = de.DynamicEmbeddingOptimizer(opt, bp_v2=True)
  assert wrapped is opt and isinstance(opt, tf_keras.optimizers.Adam)
  assert type(opt).__name__ == "DynamicEmbeddingAdam"
  assert de.DynamicEmbeddingOptimizer(opt) is opt   # wrapping twice is fine
  assert not isinstance(tf_keras.optimizers.Adam(), type(opt))


def test_wrapping_a_trained_optimizer_again_keeps_its_slots():
  ref_var = de.Variable(dim=DIM, initializer=0.3)
  ref_opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  train_adam(ref_var, ref_opt, 4)
  var = de.Variable(dim=DIM, initializer=0.3)
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  train_adam(var, opt, 2)
  slots = var.get_slot_variables(opt)
  assert de.DynamicEmbeddingOptimizer(opt) is opt
  train_adam(var, opt, 2, start=2)
  assert var.get_slot_variables(opt) == slots
  assert_close(var.lookup(TOUCHED).numpy(), ref_var.lookup(TOUCHED).numpy())
  for slot, ref_slot in zip(slots, ref_var.get_slot_variables(ref_opt)):
    assert_close(slot.lookup(TOUCHED).numpy(), ref_slot.lookup(TOUCHED).numpy())


def test_config_round_trip_through_tf_keras_serialization():
  opt = de.DynamicEmbeddingOptimizer(
      tf_keras.optimizers.Adagrad(0.2, initial_accumulator_value=0.3),
      bp_v2=True)
  config = tf_keras.optimizers.serialize(opt)
  restored = tf_keras.optimizers.deserialize(config)
  assert type(restored) is type(opt)
  assert restored.get_config() == opt.get_config()
  assert restored._de_bp_v2  # pylint: disable=protected-access


def test_xla_path_leaves_wrappers_uncompiled():
  """With jit_compile (the GPU default) dense variables take the XLA step
  and wrappers the plain one; both train correctly."""
  var = de.Variable(dim=1, initializer=1.0)
  dense = tf.Variable([1.0])
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(0.5))
  opt.jit_compile = True
  with tf.GradientTape() as tape:
    emb, tw = de.embedding_lookup(var, [4, 4], return_trainable=True)
    loss = tf.reduce_sum(emb) + tf.reduce_sum(dense)
  opt.apply_gradients(zip(tape.gradient(loss, [tw, dense]), [tw, dense]))
  assert dense.numpy().tolist() == [0.5]
  assert var.lookup([4]).numpy().tolist() == [[0.0]]


def test_plain_sgd_keeps_no_momentum_rows():
  """tf_keras's SGD keeps a momentum slot even with momentum 0; its table
  stays empty instead of doubling the memory of the embedding."""
  var = de.Variable(dim=2, initializer=1.0)
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.SGD(0.5))
  for _ in range(2):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, [1, 2, 1], return_trainable=True)
      loss = tf.reduce_sum(emb)
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])
  assert var.lookup([1, 2]).numpy().tolist() == [[-1.0, -1.0], [0.0, 0.0]]
  (momentum,) = var.get_slot_variables(opt)
  assert int(momentum.size()) == 0
