"""With ids changing between steps, training follows the lazy rule exactly.

Lazy oracle, built from the stock optimizer's own math: each step takes the
rows and slot rows of the batch's distinct ids out of dense numpy arrays,
puts them in a fresh `tf.Variable` and a fresh stock optimizer (slots and
iteration count set from the saved state), applies the densified gradient,
and stores rows and slots back. Rows not in the batch are never touched,
which is exactly what `de.DynamicEmbeddingOptimizer` promises.
"""

import numpy as np
import pytest
import tensorflow as tf

from test_optimizer_oracle import DIM, OPTIMIZERS, assert_close, loss_fn

VOCAB = 25
STEPS = 20


def step_ids(step):
  rng = np.random.default_rng(200 + step)
  return rng.integers(0, VOCAB, (3, 4))


def target(step):
  rng = np.random.default_rng(300 + step)
  return tf.constant(rng.standard_normal((3, 4, DIM)), tf.float32)


def initial_rows():
  return np.random.default_rng(9).standard_normal((VOCAB, DIM)).astype(
      np.float32)


class LazyOracle:
  """Dense row and slot arrays updated only at the batch's distinct ids."""

  def __init__(self, make_opt):
    self.make_opt = make_opt
    self.rows = initial_rows()
    self.slots = None          # list of [VOCAB, DIM] arrays, made on step 1
    self.u_product = None      # Nadam's running product (global state)

  def step(self, step, ids):
    unique, idx = np.unique(ids.ravel(), return_inverse=True)
    x = tf.Variable(self.rows[unique])
    opt = self.make_opt()
    opt.build([x])
    slot_vars = opt.variables[1:]
    if self.slots is None:
      self.slots = [np.repeat(s.numpy()[:1], VOCAB, axis=0) for s in slot_vars]
    for slot_var, dense in zip(slot_vars, self.slots):
      slot_var.assign(dense[unique])
    opt.iterations.assign(step)
    if self.u_product is not None:
      opt._u_product.assign(self.u_product)  # pylint: disable=protected-access
    with tf.GradientTape() as tape:
      emb = tf.reshape(tf.gather(x, idx), [3, 4, DIM])
      loss = loss_fn(emb, target(step))
    opt.apply_gradients([(tf.convert_to_tensor(tape.gradient(loss, x)), x)])
    self.rows[unique] = x.numpy()
    for slot_var, dense in zip(slot_vars, self.slots):
      dense[unique] = slot_var.numpy()
    if hasattr(opt, "_u_product"):
      self.u_product = opt._u_product.numpy()  # pylint: disable=protected-access


@pytest.fixture(params=["eager", "function"])
def run_step(request):
  return (lambda fn: fn) if request.param == "eager" else tf.function


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_changing_ids_follow_lazy_rule(name, run_step):
  from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=import-outside-toplevel
  make_opt = OPTIMIZERS[name]
  var = de.Variable(dim=DIM, devices=["/CPU:0", "/CPU:1"])
  var.upsert(np.arange(VOCAB), initial_rows())
  opt = de.DynamicEmbeddingOptimizer(make_opt())

  def step(ids, tgt):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = loss_fn(emb, tgt)
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])

  if name == "nadam":
    # tf_keras's Nadam keeps a Python counter that tf.function's second
    # trace (after the first created variables) advances again, freezing
    # its u_product; a dense variable built inside tf.function gets the
    # same wrong numbers. Building the optimizer eagerly avoids that, so the
    # eager oracle applies.
    _, tw = de.embedding_lookup(var, [0], return_trainable=True)
    opt.build([tw])
  step = run_step(step)
  lazy = LazyOracle(make_opt)
  for s in range(STEPS):
    step(tf.constant(step_ids(s), tf.int64), target(s))
    lazy.step(s, step_ids(s))
  assert_close(var.lookup(np.arange(VOCAB)).numpy(), lazy.rows)
  if name == "sgd":   # momentum 0: the slot is never read, so never stored
    return
  for slot_var, dense in zip(var.get_slot_variables(opt), lazy.slots):
    seen = sorted(set(np.concatenate([step_ids(s).ravel()
                                      for s in range(STEPS)]).tolist()))
    keys, _ = slot_var.export()
    assert sorted(keys.numpy().tolist()) == seen, slot_var.name
    assert_close(slot_var.lookup(np.arange(VOCAB)).numpy(), dense,
                 err_msg=slot_var.name)
