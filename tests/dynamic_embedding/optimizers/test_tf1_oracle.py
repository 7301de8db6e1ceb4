"""Every TF1 optimizer (tf.compat.v1.train) trains a de.Variable like a plain
tf.Variable: eagerly, in a tf.function and in a TF1 graph run by a Session.

Oracle: a dense `tf.Variable` looked up with `tf.nn.embedding_lookup` and
trained by the same `tf.compat.v1.train` optimizer with the same
hyper-parameters. The batch (with duplicate ids) is the same every step, so
every row of the oracle is touched every step and lazy updates equal dense
ones; 20 steps, values, slots and non-slot variables (Adam's beta powers)
equal to 1e-6 (test_optimizer_oracle.assert_close). The dynamic side trains
with `minimize(loss, global_step=...)`, the oracle with `apply_gradients`
of the densified gradient. Graphs are built explicitly
(`tf.Graph().as_default()`), never by disabling eager execution.
"""

import numpy as np
import pytest
import tensorflow as tf

from logical_devices import CPU_DEVICES
from test_optimizer_oracle import IDS, STEPS, VOCAB, DIM
from test_optimizer_oracle import assert_close, initial_rows, keys_of, loss_fn
from tensorflow_recommenders_addons import dynamic_embedding as de

V1 = tf.compat.v1.train
OPTIMIZERS = {
    "gradient_descent": lambda: V1.GradientDescentOptimizer(0.05),
    "momentum": lambda: V1.MomentumOptimizer(0.05, momentum=0.9),
    "momentum_nesterov": lambda: V1.MomentumOptimizer(
        0.05, momentum=0.9, use_nesterov=True),
    "adagrad": lambda: V1.AdagradOptimizer(0.1, initial_accumulator_value=0.2),
    "adam": lambda: V1.AdamOptimizer(0.02),
    "ftrl": lambda: V1.FtrlOptimizer(
        0.1, initial_accumulator_value=0.2, l1_regularization_strength=0.01,
        l2_regularization_strength=0.02,
        l2_shrinkage_regularization_strength=0.01, beta=0.1),
    "rmsprop": lambda: V1.RMSPropOptimizer(0.01),
    "rmsprop_centered_momentum": lambda: V1.RMSPropOptimizer(
        0.01, momentum=0.5, centered=True),
    "adadelta": lambda: V1.AdadeltaOptimizer(1.0),
    "proximal_adagrad": lambda: V1.ProximalAdagradOptimizer(
        0.1, initial_accumulator_value=0.2, l1_regularization_strength=0.01,
        l2_regularization_strength=0.02),
}
MODES = ("eager", "function", "graph")
TOUCHED = sorted({i for row in IDS for i in row})


def np_target(step):
  """test_optimizer_oracle.target(step) as numpy (a graph feeds it)."""
  rng = np.random.default_rng(50 + step)
  return rng.standard_normal((3, 4, DIM)).astype(np.float32)


class Result:
  """What one training run ends with, as numpy."""

  def __init__(self, rows, slots, non_slots, global_step):
    self.rows = rows              # [len(TOUCHED), DIM]
    self.slots = slots            # {slot name: [len(TOUCHED), DIM]}
    self.non_slots = non_slots    # {variable name: value}
    self.global_step = global_step


def make_global_step():
  """The graph's global step; eagerly a fresh int64 variable (an eager
  get_or_create_global_step would be shared by every test)."""
  if tf.executing_eagerly():
    return tf.Variable(0, dtype=tf.int64, trainable=False)
  return tf.compat.v1.train.get_or_create_global_step()


def _non_slots(opt, slot_vars):
  slot_ids = {id(var) for var in slot_vars}
  return {var.name: var for var in opt.variables() if id(var) not in slot_ids}


def _oracle_parts(make_opt):
  """(variable, optimizer, global step, step(target)) of the dense oracle."""
  static = tf.Variable(initial_rows())
  opt = make_opt()
  global_step = make_global_step()
  ids = tf.constant(IDS, tf.int64)

  def step(tgt):
    if tf.executing_eagerly() or tf.inside_function():
      with tf.GradientTape() as tape:
        loss = loss_fn(tf.nn.embedding_lookup(static, ids), tgt)
      grad = tape.gradient(loss, static)
    else:
      loss = loss_fn(tf.nn.embedding_lookup(static, ids), tgt)
      grad = tf.gradients(loss, static)[0]
    return opt.apply_gradients([(tf.convert_to_tensor(grad), static)],
                               global_step=global_step)
  return static, opt, global_step, step


def _dynamic_parts(make_opt, key_dtype, devices, bp_v2):
  """(variable, optimizer, global step, step(target), init ops)."""
  var = de.Variable(key_dtype=key_dtype, dim=DIM, devices=devices,
                    initializer=1.0)
  init = var.upsert(keys_of([TOUCHED], key_dtype)[0], initial_rows()[TOUCHED])
  opt = de.DynamicEmbeddingOptimizer(make_opt(), bp_v2=bp_v2)
  global_step = make_global_step()
  ids = keys_of(IDS, key_dtype)

  def step(tgt):
    def loss():
      return loss_fn(de.embedding_lookup(var, ids), tgt)
    return opt.minimize(loss if tf.executing_eagerly() or tf.inside_function()
                        else loss(), global_step=global_step)
  return var, opt, global_step, step, init


def _train(parts, mode, dynamic):
  """Runs STEPS steps in `mode` and collects a Result."""
  var, opt, global_step, step = parts[:4]
  if mode == "graph":
    tgt = tf.compat.v1.placeholder(tf.float32, [3, 4, DIM])
    train_op = step(tgt)
    assert isinstance(train_op, tf.Operation)   # one op does the whole step
  elif mode == "function":
    train = step

    @tf.function
    def step(tgt):   # a tf.function returns no Operation
      train(tgt)
  if dynamic:
    keys = keys_of([TOUCHED], var.key_dtype)[0]
    if mode != "graph":   # the first step makes the wrapper and the slots
      step(tf.constant(np_target(0)))
    wrapper = var.get_trainable_by_name("embedding_lookup")
    slot_vars = [opt.get_slot(wrapper, name) for name in opt.get_slot_names()]
    assert len(slot_vars) == len(var.get_slot_variables(opt))
    rows = var.lookup(keys)
    slots = {name: slot.params.lookup(keys)
             for name, slot in zip(opt.get_slot_names(), slot_vars)}
  else:
    if mode != "graph":
      step(tf.constant(np_target(0)))
    slot_vars = [opt.get_slot(var, name) for name in opt.get_slot_names()]
    rows = tf.gather(var, TOUCHED)
    slots = {name: tf.gather(slot, TOUCHED)
             for name, slot in zip(opt.get_slot_names(), slot_vars)}
  non_slots = _non_slots(opt, slot_vars)
  fetches = (rows, slots, non_slots, global_step)
  if mode != "graph":
    for s in range(1, STEPS):
      step(tf.constant(np_target(s)))
    return Result(*tf.nest.map_structure(lambda t: np.asarray(t), fetches))
  with tf.compat.v1.Session() as session:
    # Only the global initializer: non-slot variables (Adam's beta powers)
    # and the global step are ordinary graph variables.
    session.run(tf.compat.v1.global_variables_initializer())
    if dynamic:
      session.run(parts[4])
    for s in range(STEPS):
      session.run(train_op, {tgt: np_target(s)})
    return Result(*session.run(fetches))


def run(make_opt, mode, dynamic, key_dtype=tf.int64, shards=1, bp_v2=False):
  def build():
    parts = (_dynamic_parts(make_opt, key_dtype, CPU_DEVICES[:shards], bp_v2)
             if dynamic else _oracle_parts(make_opt))
    return _train(parts, mode, dynamic)
  if mode == "graph":
    with tf.Graph().as_default():
      return build()
  return build()


def assert_same_training(actual, desired):
  assert_close(actual.rows, desired.rows, "rows")
  assert sorted(actual.slots) == sorted(desired.slots)
  for name, values in desired.slots.items():
    assert_close(actual.slots[name], values, err_msg=f"slot {name}")
  assert sorted(actual.non_slots) == sorted(desired.non_slots)
  for name, value in desired.non_slots.items():
    assert_close(actual.non_slots[name], value, err_msg=name)
  assert actual.global_step == desired.global_step == STEPS


# (name, mode, key dtype, shards, bp_v2): every optimizer eagerly (int64,
# one shard), in a tf.function (string keys, three shards), in a graph
# (int64, three shards), and in a graph with bp_v2 (writes as deltas).
CASES = ([(name, "eager", tf.int64, 1, False) for name in OPTIMIZERS] +
         [(name, "function", tf.string, 3, False) for name in OPTIMIZERS] +
         [(name, "graph", tf.int64, 3, False) for name in OPTIMIZERS] +
         [(name, "graph", tf.int64, 1, True) for name in OPTIMIZERS])


def _case_id(case):
  name, mode, key_dtype, shards, bp_v2 = case
  return f"{name}-{mode}-{key_dtype.name}-{shards}{'-bp_v2' if bp_v2 else ''}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_trains_like_dense_variable(case):
  name, mode, key_dtype, shards, bp_v2 = case
  make_opt = OPTIMIZERS[name]
  assert_same_training(run(make_opt, mode, True, key_dtype, shards, bp_v2),
                       run(make_opt, mode, False))


def _compute_apply(dynamic, mode):
  """(rows of TOUCHED, bias, global step) after STEPS steps of Adam through
  compute_gradients(var_list=[embedding, bias]) + apply_gradients."""
  bias = tf.Variable(tf.zeros([DIM]))
  opt = V1.AdamOptimizer(0.02)
  ids = tf.constant(IDS, tf.int64)
  if dynamic:
    var = de.Variable(dim=DIM, initializer=1.0)
    init = var.upsert(TOUCHED, initial_rows()[TOUCHED])
    opt = de.DynamicEmbeddingOptimizer(opt)
    _, trained = de.embedding_lookup(var, ids, return_trainable=True)
    embed = lambda: de.embedding_lookup(var, ids)
    rows = lambda: var.lookup(tf.constant(TOUCHED, tf.int64))
  else:
    trained = var = tf.Variable(initial_rows())
    init = None
    embed = lambda: tf.nn.embedding_lookup(var, ids)
    rows = lambda: tf.gather(var, TOUCHED)
  global_step = make_global_step()

  def step(tgt):
    loss = lambda: loss_fn(embed() + bias, tgt)
    grads_and_vars = opt.compute_gradients(
        loss if mode == "eager" else loss(), var_list=[trained, bias])
    if not dynamic:   # the oracle applies the densified gradient
      grads_and_vars = [(tf.convert_to_tensor(g), v)
                        for g, v in grads_and_vars]
    return opt.apply_gradients(grads_and_vars, global_step=global_step)

  if mode == "eager":
    for s in range(STEPS):
      step(tf.constant(np_target(s)))
    return rows().numpy(), bias.numpy(), int(global_step.numpy())
  tgt = tf.compat.v1.placeholder(tf.float32, [3, 4, DIM])
  train_op = step(tgt)
  fetches = (rows(), bias, global_step)
  with tf.compat.v1.Session() as session:
    session.run(tf.compat.v1.global_variables_initializer())
    if init is not None:
      session.run(init)
    for s in range(STEPS):
      session.run(train_op, {tgt: np_target(s)})
    return session.run(fetches)


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_compute_and_apply_gradients_train_embedding_and_dense_variable(mode):
  def run_both():
    return _compute_apply(True, mode), _compute_apply(False, mode)
  if mode == "graph":
    with tf.Graph().as_default():
      (rows, bias, step), (dense_rows, dense_bias, dense_step) = run_both()
  else:
    (rows, bias, step), (dense_rows, dense_bias, dense_step) = run_both()
  assert_close(rows, dense_rows, "rows")
  assert_close(bias, dense_bias, "bias")
  assert step == dense_step == STEPS
  assert np.abs(bias).max() > 0.01   # the dense variable did train


@pytest.mark.parametrize("bp_v2", [False, True], ids=["upsert", "bp_v2"])
def test_bp_v2_adds_the_updates_of_two_trainers_in_one_graph_step(bp_v2):
  """Two trainers (two lookups, two optimizers) of one table in one step,
  both reading before either writes: with bp_v2 both deltas land,
  otherwise the last write wins."""
  with tf.Graph().as_default():
    var = de.Variable(dim=2, initializer=1.0)
    ids = tf.constant([4, 6], tf.int64)
    init = var.upsert(ids, tf.ones([2, 2]))
    grads_and_vars = []
    for name in ("a", "b"):
      emb, wrapper = de.embedding_lookup(var, ids, name=name,
                                         return_trainable=True)
      grads_and_vars.append((tf.gradients(tf.reduce_sum(emb), wrapper)[0],
                             wrapper))
    # Both gradients (hence both lookups' reads) before any update.
    grads = tf.tuple([grad for grad, _ in grads_and_vars])
    train_op = tf.group([
        de.DynamicEmbeddingOptimizer(V1.GradientDescentOptimizer(0.25),
                                     bp_v2=bp_v2).apply_gradients(
                                         [(grad, wrapper)])
        for grad, (_, wrapper) in zip(grads, grads_and_vars)])
    rows = var.lookup(ids)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(init)
      session.run(train_op)
      got = session.run(rows)
  np.testing.assert_allclose(got, np.full([2, 2], 0.5 if bp_v2 else 0.75))


def test_checkpoint_restores_slot_tables_and_beta_powers(tmp_path):
  """tf.train.Checkpoint saves a wrapped v1 optimizer's slot tables and
  non-slot variables; restored into fresh objects (slot tables created after
  the restore), training continues exactly as uninterrupted."""
  ids = tf.constant(IDS, tf.int64)

  def make():
    var = de.Variable(dim=DIM, initializer=1.0)
    return var, de.DynamicEmbeddingOptimizer(V1.AdamOptimizer(0.1))

  def train(var, opt, step):
    opt.minimize(lambda: loss_fn(de.embedding_lookup(var, ids),
                                 tf.constant(np_target(step))))

  var, opt = make()
  for s in range(3):
    train(var, opt, s)
  path = tf.train.Checkpoint(var=var, opt=opt).save(str(tmp_path / "ckpt"))
  train(var, opt, 3)
  restored_var, restored_opt = make()
  tf.train.Checkpoint(var=restored_var, opt=restored_opt).restore(path)
  train(restored_var, restored_opt, 3)
  keys = tf.constant(TOUCHED, tf.int64)
  assert_close(restored_var.lookup(keys).numpy(), var.lookup(keys).numpy())
  slots = {s.name: s for s in var.get_slot_variables(opt)}
  restored = restored_var.get_slot_variables(restored_opt)
  assert sorted(slots) == sorted(s.name for s in restored) and restored
  for slot in restored:
    assert_close(slot.lookup(keys).numpy(),
                 slots[slot.name].lookup(keys).numpy(), err_msg=slot.name)


def test_refuses_distribution_strategy():
  var = de.Variable(dim=1)
  opt = de.DynamicEmbeddingOptimizer(V1.AdamOptimizer())
  with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
    with tf.GradientTape() as tape:
      emb, wrapper = de.embedding_lookup(var, [1], return_trainable=True)
      loss = tf.reduce_sum(emb)
    with pytest.raises(tf.errors.UnimplementedError, match="grads_and_vars"):
      opt.apply_gradients([(tape.gradient(loss, wrapper), wrapper)])
  assert int(var.size()) == 0
