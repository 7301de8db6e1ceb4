"""A Keras 3 optimizer wrapped in DynamicEmbeddingOptimizer beyond the
update math: dense layers next to the embedding, clipping, schedules and
weight decay, custom training loops, bp_v2, checkpoints and refused steps.

The reference is the dense oracle of test_keras3_oracle.py (`one_hot(ids)
@ W`, every id in every batch) or uninterrupted training.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_keras3_oracle import (BATCH, DIM, IDS_PER_EXAMPLE, INITIALIZER,
                                STEPS, STORED, VOCAB, DenseOracle,
                                assert_like_oracle, dataset, fit, initial_rows,
                                make_layer, make_model, sum_of_squares,
                                training_data)
from test_optimizer_oracle import assert_close
from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as layers

HEAD_UNITS = 2


def head():
  """A Dense layer after the embedding, trained by the same optimizer."""
  kernel = np.random.default_rng(9).standard_normal((DIM, HEAD_UNITS)) * 0.5
  return keras.layers.Dense(
      HEAD_UNITS, kernel_initializer=keras.initializers.Constant(kernel),
      bias_initializer="ones")


def adam_with(**kwargs):
  return lambda: keras.optimizers.Adam(0.05, **kwargs)


def sgd_with(**kwargs):
  """SGD with momentum: its update scales with the (clipped) gradient."""
  return lambda: keras.optimizers.SGD(0.02, momentum=0.5, **kwargs)


def exclude_embedding_from_decay(make_opt):
  def make():
    opt = make_opt()
    # By layer name, as Keras matches it under the TensorFlow backend:
    # against the tf.Variable names "emb/rows:0" and "emb/w:0".
    opt.exclude_from_weight_decay(var_names=["^emb/"])
    return opt
  return make


SETTINGS = {
    "clipnorm": sgd_with(clipnorm=0.5),
    "clipvalue": sgd_with(clipvalue=0.2),
    "global_clipnorm": sgd_with(global_clipnorm=0.5),
    "schedule": lambda: keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.5)),
    "weight_decay": sgd_with(weight_decay=0.1),
    "weight_decay_excluded": exclude_embedding_from_decay(
        sgd_with(weight_decay=0.1)),
}


def head_data(steps=STEPS):
  return training_data(steps, out_dim=HEAD_UNITS)


def tape_loop(model, opt, ids, targets, run):
  """STEPS steps of GradientTape + apply_gradients, `run` eager or
  tf.function."""
  def step(x, y):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(sum_of_squares(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(grads, model.trainable_variables))

  step = run(step)
  for x, y in dataset(ids, targets):
    step(x, y)


def train_pair(make_opt, train):
  """The dynamic model with a head and its dense oracle, trained alike."""
  layer = make_layer()
  model = make_model(layer, head=head())
  opt = de.DynamicEmbeddingOptimizer(make_opt())
  dense_model = make_model(DenseOracle(), head=head())
  dense_opt = make_opt()
  train(model, opt)
  train(dense_model, dense_opt)
  return (layer, model, opt), (dense_model, dense_opt)


def assert_pair_close(dynamic, dense):
  (layer, model, opt), (dense_model, dense_opt) = dynamic, dense
  assert int(opt.iterations) == int(dense_opt.iterations) == STEPS
  assert_close(layer.params.lookup(np.arange(VOCAB)).numpy(),
               dense_model.layers[1].w.numpy())
  for var, dense_var in zip(model.layers[2].weights,
                            dense_model.layers[2].weights):
    assert_close(var.numpy(), dense_var.numpy(), err_msg=var.name)
  dense_slots = [var.numpy() for var in dense_opt.variables
                 if tuple(var.shape) == (VOCAB, DIM)]
  slot_tables = layer.params.get_slot_variables(opt)
  assert len(slot_tables) == len(dense_slots)
  for table, dense_slot in zip(slot_tables, dense_slots):
    assert_close(table.lookup(np.arange(VOCAB)).numpy(), dense_slot,
                 err_msg=table.name)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_dense_layer_and_optimizer_settings_like_dense_weight(setting):
  """Clipping (per variable and global), a schedule and weight decay treat
  the embedding's rows like the oracle's weight, and the Dense layer
  trains as with the stock optimizer."""
  ids, targets = head_data()
  dynamic, dense = train_pair(
      SETTINGS[setting], lambda model, opt: fit(model, opt, ids, targets))
  dense_model, dense_opt = dense
  if setting == "weight_decay_excluded":   # the pattern did match
    weight = dense_model.layers[1].w
    assert not dense_opt._use_weight_decay(weight)  # pylint: disable=protected-access
  assert_pair_close(dynamic, dense)


@pytest.mark.parametrize("run", [lambda fn: fn, tf.function],
                         ids=["eager", "function"])
def test_custom_training_loop_like_dense_weight(run):
  ids, targets = head_data()
  dynamic, dense = train_pair(
      adam_with(global_clipnorm=1.0),
      lambda model, opt: tape_loop(model, opt, ids, targets, run))
  assert_pair_close(dynamic, dense)


@pytest.mark.parametrize("where", ["optimizer", "layer"])
def test_bp_v2_single_trainer_like_upsert(where):
  """bp_v2 writes deltas (accum); for one trainer the rows and slots are
  those upserts give (test_keras3_oracle.py): the dense oracle's."""
  layer = make_layer(bp_v2=(where == "layer"))
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.02),
                                     bp_v2=(where == "optimizer"))
  fit(make_model(layer), opt, *training_data())
  assert_like_oracle(layer, opt, tf.int64, "adam", eager=False)


# ---------------------------------------------------------------- checkpoint

def checkpoint_model(stored=True):
  layer = make_layer() if stored else layers.Embedding(
      DIM, initializer=INITIALIZER, name="emb", max_unique_ids=16)
  return layer, make_model(layer, head=head())


def test_checkpoint_restore_continues_like_uninterrupted(tmp_path):
  """Save after 4 steps, restore into a fresh model and optimizer (before
  they are built), train 4 more: rows, slots, Dense weights and iterations
  equal 8 uninterrupted steps."""
  ids, targets = head_data(8)
  half = 4 * BATCH
  ref_layer, ref_model = checkpoint_model()
  ref_opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05))
  fit(ref_model, ref_opt, ids, targets)

  layer, model = checkpoint_model()
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05))
  fit(model, opt, ids[:half], targets[:half])
  path = tf.train.Checkpoint(model=model, optimizer=opt).save(
      str(tmp_path / "ckpt"))

  new_layer, new_model = checkpoint_model(stored=False)
  new_opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05))
  status = tf.train.Checkpoint(model=new_model, optimizer=new_opt).restore(
      path)
  fit(new_model, new_opt, ids[half:], targets[half:])
  status.assert_consumed()   # every saved value found its new object

  assert int(new_opt.iterations) == int(ref_opt.iterations) == 8
  keys = np.arange(VOCAB)
  assert int(new_layer.params.size()) == VOCAB
  assert_close(new_layer.params.lookup(keys).numpy(),
               ref_layer.params.lookup(keys).numpy())
  for var, ref_var in zip(new_model.layers[2].weights,
                          ref_model.layers[2].weights):
    assert_close(var.numpy(), ref_var.numpy(), err_msg=var.name)
  slots = new_layer.params.get_slot_variables(new_opt)
  ref_slots = ref_layer.params.get_slot_variables(ref_opt)
  assert len(slots) == len(ref_slots) == 2
  for slot, ref_slot in zip(slots, ref_slots):
    assert_close(slot.lookup(keys).numpy(), ref_slot.lookup(keys).numpy(),
                 err_msg=slot.name)


# ---------------------------------------------------------------- refused

def assert_untouched(layer, opt, eager):
  """A refused step wrote no row and no slot (and, run eagerly, counted no
  step: in a compiled step Keras's increment of `iterations` does not wait
  for the failing op, for dense weights too)."""
  if eager:
    assert int(opt.iterations) == 0
  assert int(layer.params.size()) == len(STORED)
  np.testing.assert_array_equal(layer.params.lookup(STORED).numpy(),
                                initial_rows()[STORED])
  assert all(int(slot.size()) == 0
             for slot in layer.params.get_slot_variables(opt))


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_more_distinct_ids_than_max_unique_ids_fails_clearly(eager):
  layer = layers.Embedding(DIM, name="small", max_unique_ids=4)
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.1))
  ids = np.arange(2 * IDS_PER_EXAMPLE).reshape(2, IDS_PER_EXAMPLE)
  model = make_model(layer)
  model.compile(opt, sum_of_squares, run_eagerly=eager)
  with pytest.raises(tf.errors.InvalidArgumentError, match="max_unique_ids=4"):
    model.fit(ids, np.zeros((2, IDS_PER_EXAMPLE, DIM), np.float32),
              verbose=0)
  assert int(layer.params.size()) == 0
  if eager:   # see assert_untouched
    assert int(opt.iterations) == 0


@pytest.mark.parametrize("argument,value", [
    ("gradient_accumulation_steps", 2), ("use_ema", True)])
@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_refused_optimizer_arguments_name_the_argument(argument, value,
                                                       eager):
  layer = make_layer()
  opt = de.DynamicEmbeddingOptimizer(
      keras.optimizers.Adam(0.1, **{argument: value}))
  model = make_model(layer)
  model.compile(opt, sum_of_squares, run_eagerly=eager)
  with pytest.raises(tf.errors.InvalidArgumentError, match=argument):
    model.fit(dataset(*training_data(1)), verbose=0, shuffle=False)
  assert_untouched(layer, opt, eager)


def test_keras3_optimizer_refuses_lookup_wrappers():
  """de.embedding_lookup's TrainableWrapper needs a tf_keras optimizer."""
  var = de.Variable(dim=DIM, initializer=1.0)
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.1))
  with tf.GradientTape() as tape:
    emb, wrapper = de.embedding_lookup(var, [1, 2], return_trainable=True)
    loss = tf.reduce_sum(emb)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="var_list: .*tf_keras optimizer"):
    opt.apply_gradients([(tape.gradient(loss, wrapper), wrapper)])
  assert int(var.size()) == 0
