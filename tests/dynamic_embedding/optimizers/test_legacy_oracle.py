"""Every tf_keras legacy optimizer trains a de.Variable like a plain
tf.Variable.

Oracle: a dense `tf.Variable` looked up with `tf.nn.embedding_lookup` and
trained by a stock `tf_keras.optimizers.legacy` optimizer with the same
hyper-parameters (optimizer_configs.py, without the v2-only AdamW and
Lion). The batch (with duplicate ids) is the same every step, so every row
of the oracle is touched every step and lazy updates equal dense ones; 20
steps, values and slots equal to 1e-6 (test_optimizer_oracle.assert_close).
Each optimizer runs eagerly with int64 keys on one shard and in a
tf.function with string keys on three; a few also with bp_v2.
"""

import types

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from logical_devices import CPU_DEVICES
import optimizer_configs
from test_optimizer_oracle import IDS, STEPS, VOCAB, DIM
from test_optimizer_oracle import assert_close, initial_rows, keys_of, loss_fn, target
from tensorflow_recommenders_addons import dynamic_embedding as de

# The configs of optimizer_configs.py, built from tf_keras.optimizers.legacy.
_LEGACY = types.SimpleNamespace(optimizers=tf_keras.optimizers.legacy)
OPTIMIZERS = {name: make for name, make in
              optimizer_configs.optimizers(_LEGACY).items()
              if name not in ("adamw", "lion")}

# (name, run mode, key dtype, shards, bp_v2): every optimizer eagerly and in
# a tf.function, and bp_v2 for one optimizer of each slot kind.
CASES = ([(name, "eager", tf.int64, 1, False) for name in OPTIMIZERS] +
         [(name, "function", tf.string, 3, False) for name in OPTIMIZERS] +
         [(name, "function", tf.int64, 3, True)
          for name in ("sgd_momentum", "adam_amsgrad", "ftrl")])


def _case_id(case):
  name, mode, key_dtype, shards, bp_v2 = case
  return f"{name}-{mode}-{key_dtype.name}-{shards}{'-bp_v2' if bp_v2 else ''}"


def run_step(mode):
  return tf.function if mode == "function" else (lambda fn: fn)


def slot_name(slot_table):
  """The slot name ("m", "accumulator") of a slot table
  `<var>-<optimizer>-<slot>`."""
  return slot_table.name.rsplit("-", 1)[-1]


def oracle(make_opt, mode):
  """(rows [VOCAB, DIM], {slot name: [VOCAB, DIM]}) after STEPS dense
  steps."""
  static = tf.Variable(initial_rows())
  opt = make_opt()
  ids = tf.constant(IDS, tf.int64)

  def step(tgt):
    with tf.GradientTape() as tape:
      loss = loss_fn(tf.nn.embedding_lookup(static, ids), tgt)
    grad = tf.convert_to_tensor(tape.gradient(loss, static))
    opt.apply_gradients([(grad, static)])

  step = run_step(mode)(step)
  for s in range(STEPS):
    step(target(s))
  return static.numpy(), {name: opt.get_slot(static, name).numpy()
                          for name in opt.get_slot_names()}


def dynamic(make_opt, mode, key_dtype, devices, bp_v2):
  var = de.Variable(key_dtype=key_dtype, dim=DIM, devices=devices,
                    initializer=1.0)
  touched = sorted({i for row in IDS for i in row})
  var.upsert(keys_of([touched], key_dtype)[0], initial_rows()[touched])
  opt = de.DynamicEmbeddingOptimizer(make_opt(), bp_v2=bp_v2)
  ids = keys_of(IDS, key_dtype)

  def step(tgt):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = loss_fn(emb, tgt)
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])

  step = run_step(mode)(step)
  for s in range(STEPS):
    step(target(s))
  return var, opt, keys_of([touched], key_dtype)[0], touched


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trains_like_dense_variable(case):
  name, mode, key_dtype, shards, bp_v2 = case
  make_opt = OPTIMIZERS[name]
  var, opt, keys, touched = dynamic(make_opt, mode, key_dtype,
                                    CPU_DEVICES[:shards], bp_v2)
  rows, slots = oracle(make_opt, mode)
  assert type(opt).__name__.startswith("DynamicEmbeddingLegacy")
  assert_close(var.lookup(keys).numpy(), rows[touched])
  # Rows not in the batch changed on neither side; nothing else was added.
  assert int(var.size()) == len(touched)
  slot_vars = {slot_name(slot): slot for slot in var.get_slot_variables(opt)}
  assert sorted(slot_vars) == sorted(slots)
  for slot_key, dense_slot in slots.items():
    slot_var = slot_vars[slot_key]
    assert_close(slot_var.lookup(keys).numpy(), dense_slot[touched],
                 err_msg=slot_var.name)
    assert slot_var.shard_num == shards
    assert int(slot_var.size()) == len(touched)


def test_plain_sgd_has_no_slot():
  """Legacy SGD without momentum creates no slot, hence no slot table."""
  var = de.Variable(dim=DIM, initializer=1.0)
  opt = de.DynamicEmbeddingOptimizer(OPTIMIZERS["sgd"]())
  with tf.GradientTape() as tape:
    emb, tw = de.embedding_lookup(var, [1, 1, 2], return_trainable=True)
    loss = tf.reduce_sum(emb)
  opt.apply_gradients([(tape.gradient(loss, tw), tw)])
  assert var.get_slot_variables(opt) == []
  np.testing.assert_allclose(var.lookup([1, 2]).numpy(),
                             [[0.9] * DIM, [0.95] * DIM], rtol=1e-6)


@pytest.mark.parametrize("name", ["adagrad", "ftrl", "adam"])
def test_new_ids_start_from_initializer_and_initial_slots(name):
  """Ids absent from the table start from the initializer row, their slots
  from the optimizer's initial value (Adagrad's and Ftrl's accumulator)."""
  make_opt = OPTIMIZERS[name]
  var = de.Variable(dim=DIM, initializer=0.5)
  opt = de.DynamicEmbeddingOptimizer(make_opt())
  static = tf.Variable(tf.fill([VOCAB, DIM], 0.5))
  dense_opt = make_opt()
  ids = tf.constant(IDS, tf.int64)
  for s in range(3):
    with tf.GradientTape(persistent=True) as tape:
      emb, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = loss_fn(emb, target(s))
      dense_loss = loss_fn(tf.nn.embedding_lookup(static, ids), target(s))
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])
    dense_opt.apply_gradients(
        [(tf.convert_to_tensor(tape.gradient(dense_loss, static)), static)])
  touched = sorted({i for row in IDS for i in row})
  assert_close(var.lookup(touched).numpy(), static.numpy()[touched])
  for slot in var.get_slot_variables(opt):
    assert_close(slot.lookup(touched).numpy(),
                 dense_opt.get_slot(static, slot_name(slot)).numpy()[touched])
