"""Every tf_keras optimizer trains a de.Variable like a plain tf.Variable.

Oracle: a dense `tf.Variable` looked up with `tf.nn.embedding_lookup` and
trained by a stock tf_keras optimizer with the same hyper-parameters. The
batch (with duplicate ids) is the same every step, so every row of the
oracle is touched every step and lazy updates equal dense ones; 20 steps,
values and slots equal to 1e-6 relative. Runs eagerly and in tf.function,
for int64 and string keys, on 1 and 3 shards.

"Relative" is per element and, for elements that result from cancellation
(Ftrl's linear slot sums terms of +-300 into 0.4), relative to the array's
largest magnitude: the two sides run the same float32 math on tensors of
different sizes, whose vectorized and scalar code paths may round one
element 1 ulp apart, and cancellation magnifies that ulp.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from logical_devices import CPU_DEVICES
import optimizer_configs
from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 4
STEPS = 20
IDS = [[3, 1, 3, 7], [7, 7, 2, 1], [3, 9, 9, 9]]   # duplicates on purpose
VOCAB = 10

OPTIMIZERS = optimizer_configs.optimizers(tf_keras)


def assert_close(actual, desired, err_msg=""):
  """Equal to 1e-6 relative (per element, or to the array's scale)."""
  desired = np.asarray(desired)
  np.testing.assert_allclose(
      actual, desired, rtol=1e-6,
      atol=1e-6 * max(float(np.abs(desired).max(initial=0)), 1e-1),
      err_msg=err_msg)


def initial_rows():
  return np.random.default_rng(5).standard_normal((VOCAB, DIM)).astype(
      np.float32)


def target(step):
  rng = np.random.default_rng(50 + step)
  return tf.constant(rng.standard_normal((3, 4, DIM)), tf.float32)


def loss_fn(emb, tgt):
  return tf.reduce_sum(tf.square(emb - tgt)) + 0.1 * tf.reduce_sum(emb)


def key(i, key_dtype):
  return f"id{i}".encode() if key_dtype == tf.string else i


def keys_of(ids, key_dtype):
  return tf.constant([[key(i, key_dtype) for i in row] for row in ids],
                     key_dtype)


def oracle(make_opt, run_step):
  """(rows [VOCAB, DIM], slots [[VOCAB, DIM]...]) after STEPS dense steps."""
  static = tf.Variable(initial_rows())
  opt = make_opt()
  ids = tf.constant(IDS, tf.int64)

  def step(tgt):
    with tf.GradientTape() as tape:
      loss = loss_fn(tf.nn.embedding_lookup(static, ids), tgt)
    grad = tf.convert_to_tensor(tape.gradient(loss, static))
    opt.apply_gradients([(grad, static)])

  step = run_step(step)
  for s in range(STEPS):
    step(target(s))
  return static.numpy(), [slot.numpy() for slot in opt.variables[1:]]


def dynamic(make_opt, run_step, key_dtype, devices):
  var = de.Variable(key_dtype=key_dtype, dim=DIM, devices=devices,
                    initializer=1.0)
  touched = sorted({i for row in IDS for i in row})
  var.upsert(keys_of([touched], key_dtype)[0], initial_rows()[touched])
  opt = de.DynamicEmbeddingOptimizer(make_opt())
  ids = keys_of(IDS, key_dtype)

  def step(tgt):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = loss_fn(emb, tgt)
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])

  step = run_step(step)
  for s in range(STEPS):
    step(target(s))
  return var, opt, keys_of([touched], key_dtype)[0], touched


RUN_STEP = {"eager": lambda fn: fn, "function": tf.function}
_ORACLES = {}


def cached_oracle(name, mode):
  """oracle() of one optimizer and mode, computed once per test process:
  it depends on neither the key dtype nor the shard count (read-only)."""
  if (name, mode) not in _ORACLES:
    rows, slots = oracle(OPTIMIZERS[name], RUN_STEP[mode])
    for array in [rows, *slots]:
      array.flags.writeable = False
    _ORACLES[name, mode] = rows, slots
  return _ORACLES[name, mode]


@pytest.fixture(params=sorted(RUN_STEP))
def mode(request):
  return request.param


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string],
                         ids=lambda d: d.name)
@pytest.mark.parametrize("shards", [1, 3])
def test_trains_like_dense_variable(name, key_dtype, shards, mode):
  make_opt = OPTIMIZERS[name]
  var, opt, keys, touched = dynamic(make_opt, RUN_STEP[mode], key_dtype,
                                    CPU_DEVICES[:shards])
  rows, slots = cached_oracle(name, mode)
  assert_close(var.lookup(keys).numpy(), rows[touched])
  # Rows not in the batch changed on neither side; nothing else was added.
  assert int(var.size()) == len(touched)
  slot_vars = var.get_slot_variables(opt)
  assert len(slot_vars) == len(slots)
  if name == "sgd":   # momentum 0: the slot is never read, so never stored
    assert [int(slot.size()) for slot in slot_vars] == [0]
    return
  for slot_var, dense_slot in zip(slot_vars, slots):
    assert_close(slot_var.lookup(keys).numpy(), dense_slot[touched],
                 err_msg=slot_var.name)
    assert slot_var.shard_num == shards


@pytest.mark.parametrize("name", ["adam", "adagrad", "ftrl"])
def test_new_ids_start_from_initializer_and_initial_slots(name):
  """Ids absent from the table start from the initializer row, their slots
  from the optimizer's initial value (e.g. Adagrad's accumulator)."""
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
