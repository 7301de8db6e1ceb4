"""tf_keras legacy optimizers wrapped by DynamicEmbeddingOptimizer beyond the
update math (test_legacy_oracle.py): tf_keras `fit` with a dynamic
embedding layer, dense variables next to embeddings, checkpoints,
SavedModel and configs, bp_v2, and what is refused."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from test_optimizer_oracle import assert_close
from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers

legacy = tf_keras.optimizers.legacy

DIM = 3
VOCAB = 6
# Two batches of 4 examples; each batch holds every id (with duplicates),
# so a dense oracle's rows all move every step as the lazy rows do.
IDS = np.array([[0, 1, 2], [3, 4, 5], [0, 0, 1], [5, 2, 2],
                [5, 4, 3], [2, 1, 0], [1, 1, 4], [3, 0, 5]], np.int64)
LABELS = np.random.default_rng(7).standard_normal((8, 1)).astype(np.float32)


def init_rows():
  return np.random.default_rng(3).standard_normal((VOCAB, DIM)).astype(
      np.float32)


def head_kernel():
  return np.random.default_rng(4).standard_normal((3 * DIM, 1)).astype(
      np.float32)


class DenseLookup(tf_keras.layers.Layer):
  """The oracle's embedding: a dense weight looked up by one-hot matmul, so
  that its gradient is dense (as a wrapper's is)."""

  def build(self, input_shape):
    self.table = self.add_weight(
        "table", [VOCAB, DIM],
        initializer=tf_keras.initializers.Constant(init_rows()))

  def call(self, ids):
    return tf.einsum("bnv,vd->bnd", tf.one_hot(ids, VOCAB), self.table)


def model(embedding, optimizer, run_eagerly=False):
  ids = tf_keras.Input([3], dtype="int64")
  rows = tf_keras.layers.Flatten()(embedding(ids))
  head = tf_keras.layers.Dense(
      1, kernel_initializer=tf_keras.initializers.Constant(head_kernel()))
  result = tf_keras.Model(ids, head(rows))
  result.compile(optimizer, loss="mse", run_eagerly=run_eagerly)
  return result


def de_model(make_opt, run_eagerly=False, name="emb", **opt_kwargs):
  layer = layers.Embedding(DIM, name=name)
  layer.params.upsert(tf.range(VOCAB, dtype=tf.int64), init_rows())
  opt = de.DynamicEmbeddingOptimizer(make_opt(), **opt_kwargs)
  return model(layer, opt, run_eagerly), layer


def fit(m, epochs=2):
  m.fit(IDS, LABELS, batch_size=4, epochs=epochs, shuffle=False, verbose=0)


def slot_name(slot_table):
  return slot_table.name.rsplit("-", 1)[-1]


@pytest.mark.parametrize("make_opt", [
    lambda: legacy.Adam(0.05, amsgrad=True),
    lambda: legacy.RMSprop(0.02, momentum=0.5, centered=True),
], ids=["adam_amsgrad", "rmsprop_centered_momentum"])
@pytest.mark.parametrize("run_eagerly", [False, True],
                         ids=["compiled", "eager"])
def test_fit_trains_like_dense_model(make_opt, run_eagerly):
  """`model.fit` of a tf_keras model with a dynamic embedding layer equals
  the same model over a dense embedding weight: rows, slots, the head."""
  m, layer = de_model(make_opt, run_eagerly)
  dense = DenseLookup()
  oracle = model(dense, make_opt(), run_eagerly)
  fit(m)
  fit(oracle)
  assert int(m.optimizer.iterations) == 4
  ids = tf.range(VOCAB, dtype=tf.int64)
  assert_close(layer.params.lookup(ids).numpy(), dense.table.numpy())
  slots = layer.params.get_slot_variables(m.optimizer)
  assert sorted(map(slot_name, slots)) == sorted(
      oracle.optimizer.get_slot_names())
  for slot in slots:
    assert_close(slot.lookup(ids).numpy(),
                 oracle.optimizer.get_slot(dense.table,
                                           slot_name(slot)).numpy())
  assert_close(m.layers[-1].kernel.numpy(), oracle.layers[-1].kernel.numpy())


def test_dense_and_dynamic_variables_train_together():
  """A schedule and global_clipnorm see the embedding's gradient like a
  dense variable's, inside a tf.function."""
  def make_opt():
    schedule = tf_keras.optimizers.schedules.ExponentialDecay(0.05, 3, 0.5)
    return legacy.Adam(schedule, global_clipnorm=1.0)
  var = de.Variable(dim=DIM)
  var.upsert(tf.range(VOCAB, dtype=tf.int64), init_rows())
  kernel = tf.Variable(head_kernel())
  opt = de.DynamicEmbeddingOptimizer(make_opt())
  static, static_kernel = tf.Variable(init_rows()), tf.Variable(head_kernel())
  dense_opt = make_opt()
  ids = tf.constant(IDS[:4])

  @tf.function
  def step(tgt):
    with tf.GradientTape(persistent=True) as tape:
      emb, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = tf.reduce_sum(tf.square(tf.reshape(emb, [4, -1]) @ kernel - tgt))
      dense_emb = tf.nn.embedding_lookup(static, ids)
      dense_loss = tf.reduce_sum(
          tf.square(tf.reshape(dense_emb, [4, -1]) @ static_kernel - tgt))
    opt.apply_gradients(zip(tape.gradient(loss, [tw, kernel]), [tw, kernel]))
    grads = tape.gradient(dense_loss, [static, static_kernel])
    dense_opt.apply_gradients(zip([tf.convert_to_tensor(grads[0]), grads[1]],
                                  [static, static_kernel]))

  for s in range(6):
    step(tf.constant(LABELS[:4] * s))
  assert_close(var.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy(),
               static.numpy())
  assert_close(kernel.numpy(), static_kernel.numpy())


def test_mixed_float16_equals_float32_training():
  """A legacy LossScaleOptimizer's inner optimizer trains the table with
  unscaled gradients (a fixed scale of 8: no step is skipped)."""
  def trained_rows(policy, make_opt):
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
      m, layer = de_model(make_opt)
      fit(m)
    finally:
      tf_keras.mixed_precision.set_global_policy("float32")
    return layer.params.lookup(tf.range(VOCAB, dtype=tf.int64)).numpy()
  want = trained_rows("float32", lambda: legacy.Adam(0.05))
  got = trained_rows("mixed_float16", lambda: (
      tf_keras.mixed_precision.LossScaleOptimizer(
          legacy.Adam(0.05), dynamic=False, initial_scale=8.0)))
  assert np.abs(want - init_rows()).max() > 0.1
  # float16 activations: agreement to float16 precision.
  np.testing.assert_allclose(got, want, atol=2e-3)


def train(var, opt, steps, start=0):
  for s in range(start, start + steps):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, IDS[s % 2], return_trainable=True)
      loss = tf.reduce_sum(tf.square(emb - float(s % 3)))
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])


@pytest.mark.parametrize("make_opt", [
    lambda: legacy.Adam(0.1),
    lambda: legacy.Ftrl(0.1, initial_accumulator_value=0.2,
                        l1_regularization_strength=0.01),
], ids=["adam", "ftrl"])
def test_checkpoint_restores_rows_slots_and_step(tmp_path, make_opt):
  """4 steps, tf.train.Checkpoint, restore into new objects on 3 shards
  (slot tables created after the restore call), 4 more steps equals 8
  uninterrupted steps."""
  ref_var = de.Variable(dim=DIM, initializer=0.3, name="emb")
  ref_opt = de.DynamicEmbeddingOptimizer(make_opt())
  train(ref_var, ref_opt, 8)

  var = de.Variable(dim=DIM, initializer=0.3, name="emb")
  opt = de.DynamicEmbeddingOptimizer(make_opt())
  train(var, opt, 4)
  path = tf.train.Checkpoint(var=var, opt=opt).save(str(tmp_path / "ck"))

  new_var = de.Variable(dim=DIM, initializer=0.3, name="emb",
                        devices=["/CPU:0", "/CPU:1", "/CPU:2"])
  new_opt = de.DynamicEmbeddingOptimizer(make_opt())
  tf.train.Checkpoint(var=new_var, opt=new_opt).restore(path)
  train(new_var, new_opt, 4, start=4)
  assert int(new_opt.iterations) == 8
  ids = tf.range(VOCAB, dtype=tf.int64)
  assert_close(new_var.lookup(ids).numpy(), ref_var.lookup(ids).numpy())
  slots = new_var.get_slot_variables(new_opt)
  ref_slots = {slot_name(s): s for s in ref_var.get_slot_variables(ref_opt)}
  assert sorted(map(slot_name, slots)) == sorted(ref_slots)
  for slot in slots:
    assert slot.shard_num == 3
    assert_close(slot.lookup(ids).numpy(),
                 ref_slots[slot_name(slot)].lookup(ids).numpy())


def _save_weights(tmp_path):
  prefix = str(tmp_path / "ckpt")

  def save(m):
    m.save_weights(prefix)
    return prefix

  def load(path):
    m, _ = de_model(lambda: legacy.Adam(0.05))
    m.load_weights(path)
    return m
  return save, load


def _saved_model(tmp_path):
  """`model.save(dir)`; `load_model` compiles a fresh optimizer (as for
  every tf_keras model), whose state the SavedModel's variables hold."""
  path = str(tmp_path / "model")

  def save(m):
    m.save(path)
    return path

  def load(path):
    m = tf_keras.models.load_model(path)
    m.load_weights(os.path.join(path, "variables", "variables"))
    return m
  return save, load


@pytest.mark.parametrize("saving", [_save_weights, _saved_model],
                         ids=["save_weights", "saved_model"])
def test_saved_model_resumes_training_like_uninterrupted(tmp_path, saving):
  save, load = saving(tmp_path)
  reference, ref_layer = de_model(lambda: legacy.Adam(0.05))
  fit(reference, epochs=2)
  interrupted, _ = de_model(lambda: legacy.Adam(0.05))
  fit(interrupted, epochs=1)
  saved = save(interrupted)
  # The layer's per-step views (shadow, slot wrappers) hold no saved slot.
  prefix = (os.path.join(saved, "variables", "variables")
            if os.path.isdir(saved) else saved)
  names = [name for name, _ in tf.train.list_variables(prefix)]
  assert not [n for n in names if "shadow/.OPTIMIZER_SLOT" in n]
  assert [n for n in names if "kernel/.OPTIMIZER_SLOT" in n]
  assert [n for n in names if "_de_slot_tables" in n]
  resumed = load(saved)
  assert type(resumed.optimizer).__name__ == "DynamicEmbeddingLegacyAdam"
  fit(resumed, epochs=1)
  assert int(resumed.optimizer.iterations) == 4
  layer = next(l for l in resumed.layers if hasattr(l, "params"))
  ids = tf.range(VOCAB, dtype=tf.int64)
  assert_close(layer.params.lookup(ids).numpy(),
               ref_layer.params.lookup(ids).numpy())
  ref_slots = {slot_name(s): s for s in
               ref_layer.params.get_slot_variables(reference.optimizer)}
  slots = layer.params.get_slot_variables(resumed.optimizer)
  assert sorted(map(slot_name, slots)) == ["m", "v"]
  for slot in slots:
    assert_close(slot.lookup(ids).numpy(),
                 ref_slots[slot_name(slot)].lookup(ids).numpy())


def test_keras_format_keeps_the_wrapped_class_and_the_table(tmp_path):
  """tf_keras's `.keras` format saves a legacy optimizer's config, not its
  state (stock behaviour); it reloads as the wrapped class."""
  m, layer = de_model(lambda: legacy.Adagrad(0.1), bp_v2=True)
  fit(m, epochs=1)
  m.save(str(tmp_path / "m.keras"))
  loaded = tf_keras.models.load_model(str(tmp_path / "m.keras"))
  assert type(loaded.optimizer) is type(m.optimizer)
  assert loaded.optimizer.get_config() == m.optimizer.get_config()
  assert loaded.optimizer._de_bp_v2  # pylint: disable=protected-access
  ids = tf.range(VOCAB, dtype=tf.int64)
  new_layer = next(l for l in loaded.layers if hasattr(l, "params"))
  assert_close(new_layer.params.lookup(ids).numpy(),
               layer.params.lookup(ids).numpy())


@pytest.mark.parametrize("name", ["SGD", "Adam", "Nadam", "Ftrl"])
def test_config_round_trip_through_tf_keras_serialization(name):
  opt = de.DynamicEmbeddingOptimizer(getattr(legacy, name)(0.2), bp_v2=True)
  config = tf_keras.optimizers.serialize(opt)
  assert config["registered_name"] == f"TFRA>DynamicEmbeddingLegacy{name}"
  restored = tf_keras.optimizers.deserialize(config)
  assert type(restored) is type(opt)
  assert isinstance(restored, getattr(legacy, name))
  assert restored.get_config() == opt.get_config()


def two_trainers(bp_v2_opt, bp_v2_var):
  """Two trainers read the same rows, then both apply SGD (lr 1, grad 1)."""
  var = de.Variable(dim=1, bp_v2=bp_v2_var)
  var.upsert([1, 2], [[10.0], [20.0]])
  trainers = []
  for name in ("a", "b"):
    opt = de.DynamicEmbeddingOptimizer(legacy.SGD(1.0), bp_v2=bp_v2_opt)
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, [1, 3], name=name,
                                    return_trainable=True)
      loss = tf.reduce_sum(emb)
    trainers.append((opt, tape.gradient(loss, tw), tw))
  for opt, grad, tw in trainers:
    opt.apply_gradients([(grad, tw)])
  return var.lookup([1, 2, 3]).numpy().ravel().tolist()


@pytest.mark.parametrize("bp_v2_opt,bp_v2_var,expected", [
    (True, False, [8.0, 20.0, -2.0]),    # deltas add up
    (False, True, [8.0, 20.0, -2.0]),
    (False, False, [9.0, 20.0, -1.0]),   # last writer wins
])
def test_bp_v2_adds_concurrent_updates(bp_v2_opt, bp_v2_var, expected):
  assert two_trainers(bp_v2_opt, bp_v2_var) == expected


def test_slot_wrappers_are_not_offered_as_slots():
  """Outside its update a wrapper's slot is its slot table, not the batch
  view (which checkpoints would otherwise save)."""
  var = de.Variable(dim=1)
  opt = de.DynamicEmbeddingOptimizer(legacy.Adam(0.1))
  train(var, opt, 1)
  tw = var.get_trainable_by_name(next(iter(var.trainable_store)))
  with pytest.raises(KeyError, match="get_slot_variables"):
    opt.get_slot(tw, "m")
  assert len(var.get_slot_variables(opt)) == 2


class _ScalarSlot(legacy.SGD):
  """A legacy optimizer with one slot per variable, not per row."""

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, "scale", "ones", shape=[])


class _FixedSlot(legacy.SGD):
  """A legacy optimizer whose slot starts from a fixed tensor."""

  def _create_slots(self, var_list):
    for var in var_list:
      self.add_slot(var, "fixed", tf.zeros([2, 1]))


@pytest.mark.parametrize("cls,match", [
    (_ScalarSlot, "slot 'scale' has shape"),
    (_FixedSlot, "slot 'fixed' has a fixed initial value")])
def test_refuses_slots_that_are_not_per_row(cls, match):
  var = de.Variable(dim=1)
  opt = de.DynamicEmbeddingOptimizer(cls(0.1))
  with tf.GradientTape() as tape:
    emb, tw = de.embedding_lookup(var, [1], return_trainable=True)
    loss = tf.reduce_sum(emb)
  with pytest.raises(tf.errors.InvalidArgumentError, match=f"self: .*{match}"):
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])
  assert int(var.size()) == 0


def test_refuses_row_buffers_of_multi_replica_layers():
  strategy = tf.distribute.MirroredStrategy(["/CPU:0", "/CPU:1"])
  with strategy.scope():
    m, layer = de_model(lambda: legacy.Adam(0.1), name="mirrored")
  assert layer.shadow is None   # the layer trains through a row buffer
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="self: .*row buffers"):
    fit(m, epochs=1)
