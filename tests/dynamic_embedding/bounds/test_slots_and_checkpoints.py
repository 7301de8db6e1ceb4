"""Bounded variables under training and checkpoints: slot rows leave with
their keys (eviction, refused admission), the bookkeeping (last-write
steps, write counts, scores, clock) and the admission counts survive a
checkpoint round trip, also into another shard count, and export_delta
reports exactly the rows written since a clock."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 2


def _bounded(devices=None, **config):
  return de.Variable(
      dim=DIM, initializer=0.5, devices=devices,
      kv_creator=de.CuckooHashTableCreator(
          de.CuckooHashTableConfig(num_shards=2, **config)))


def _keys(var):
  return set(var.export()[0].numpy().tolist())


def _train_step(var, opt, ids):
  with tf.GradientTape() as tape:
    out, wrapper = de.embedding_lookup(var, ids, return_trainable=True)
    loss = tf.reduce_sum(out * out)
  opt.apply_gradients([(tape.gradient(loss, wrapper), wrapper)])


def _batches(steps=12, seed=0):
  rng = np.random.default_rng(seed)
  return [np.unique(rng.zipf(1.3, size=16) % 200).astype(np.int64)
          for _ in range(steps)]


@pytest.mark.parametrize("config", [
    {"max_capacity": 24, "evict_strategy": "lru"},
    {"max_capacity": 24, "evict_strategy": "lfu"},
    {"admit_after": 2},
    {"ttl": 3, "evict_strategy": "ttl"},
], ids=["lru", "lfu", "admission", "ttl"])
@pytest.mark.parametrize("bp_v2", [False, True], ids=["upsert", "bp_v2"])
def test_slot_rows_leave_with_their_keys(config, bp_v2):
  var = _bounded(**config)
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1),
                                     bp_v2=bp_v2)
  for ids in _batches():
    _train_step(var, opt, ids)
    slots = var.get_slot_variables(opt)
    assert len(slots) == 2
    for slot in slots:
      if "ttl" in config:
        # Expired rows leave the slot tables at the next sweep.
        assert _keys(slot) >= _keys(var)
      else:
        assert _keys(slot) == _keys(var)
  if "max_capacity" in config:
    assert int(var.size()) <= 24


def test_refused_keys_get_no_update_and_no_slot_rows():
  var = _bounded(admit_after=3)
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  for step in range(2):
    _train_step(var, opt, tf.constant([7], tf.int64))
    assert int(var.size()) == 0, step
    assert all(int(s.size()) == 0 for s in var.get_slot_variables(opt))
    assert var.lookup([7]).numpy().tolist() == [[0.5, 0.5]]
  _train_step(var, opt, tf.constant([7], tf.int64))
  # Admitted on the third sighting: this step's update is stored, from the
  # initializer's row and fresh (zero) moments, at iteration 3 (gradient
  # 2 * 0.5 = 1).
  m_hat = 0.1 / (1 - 0.9**3)
  v_hat = 0.001 / (1 - 0.999**3)
  want = 0.5 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-7)
  np.testing.assert_allclose(var.lookup([7]).numpy(), [[want, want]],
                             rtol=1e-5)
  assert all(int(s.size()) == 1 for s in var.get_slot_variables(opt))


def _meta(var):
  keys, _, versions, freqs, scores, clock = var.export_with_meta()
  rows = {int(k): (int(a), int(b), int(c)) for k, a, b, c in zip(
      keys.numpy(), versions.numpy(), freqs.numpy(), scores.numpy())}
  return rows, int(clock)


@pytest.mark.parametrize("restore_devices", [None, "three"],
                         ids=["same_shards", "three_shards"])
def test_bookkeeping_survives_checkpoints(tmp_path, restore_devices):
  config = {"max_capacity": 60, "evict_strategy": "custom",
            "admit_after": 2,
            "gen_scores_fn": lambda keys: tf.cast(keys, tf.int64) % 7}
  var = _bounded(**config)
  for ids in _batches(seed=3):
    var.upsert(ids, np.ones([len(ids), DIM], np.float32))
  var.upsert([1000], [[1.0, 1.0]])  # seen once: not admitted yet
  path = tf.train.Checkpoint(var=var).write(str(tmp_path / "ckpt"))
  devices = ["/CPU:0", "/CPU:1", "/CPU:2"] if restore_devices else None
  restored = _bounded(devices=devices, **config)
  tf.train.Checkpoint(var=restored).read(path).assert_consumed()
  assert _meta(restored) == _meta(var)
  # The admission count of 1000 survived: its second sighting admits it.
  restored.upsert([1000], [[2.0, 2.0]])
  assert restored.lookup([1000]).numpy().tolist() == [[2.0, 2.0]]
  # And the clock continued: the new row is stamped after every old one.
  rows, clock = _meta(restored)
  assert rows[1000][0] == clock == _meta(var)[1] + 1


def test_export_delta_reports_rows_written_since_a_clock():
  var = _bounded(track_changes=True, devices=["/CPU:0", "/CPU:1"])
  var.upsert([1, 2, 3], np.ones([3, DIM], np.float32))
  _, _, clock = var.export_delta(0)
  var.upsert([2, 4], np.full([2, DIM], 2.0, np.float32))
  keys, values, new_clock = var.export_delta(clock)
  assert dict(zip(keys.numpy().tolist(), values.numpy()[:, 0].tolist())) == {
      2: 2.0, 4: 2.0}
  assert int(new_clock) > int(clock)
  assert int(tf.size(var.export_delta(new_clock)[0])) == 0


@pytest.mark.parametrize("rows", [0, 1], ids=["empty", "filled"])
def test_export_delta_needs_bookkeeping(rows):
  var = de.Variable(dim=1)
  if rows:
    var.upsert([1], [[1.0]])
  with pytest.raises(tf.errors.FailedPreconditionError, match="track"):
    var.export_delta(0)


def test_keras3_layer_with_a_bounded_table_trains_within_capacity():
  import keras  # pylint: disable=import-outside-toplevel
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3  # pylint: disable=import-outside-toplevel
  creator = de.CuckooHashTableCreator(de.CuckooHashTableConfig(
      max_capacity=20, evict_strategy=de.EvictStrategy.LFU))
  layer = keras3.SquashedEmbedding(4, kv_creator=creator, name="bounded",
                                   max_unique_ids=64)
  model = keras.Sequential([keras.Input((4,), dtype="int64"), layer,
                            keras.layers.Dense(1)])
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05))
  model.compile(opt, "mse")
  ids = np.random.default_rng(0).integers(0, 100, size=(256, 4))
  model.fit(ids, np.ones([256, 1], np.float32), batch_size=16, epochs=2,
            verbose=0)
  assert 0 < int(layer.params.size()) <= 20
  slots = layer.params.get_slot_variables(opt)
  assert len(slots) == 2
  for slot in slots:
    assert _keys(slot) == _keys(layer.params)


def _rows(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), map(tuple, values.numpy().tolist())))


@pytest.mark.parametrize("saver", [False, True], ids=["bundle", "files"])
@pytest.mark.parametrize("order", ["slots_first", "variable_first"])
def test_restore_into_a_smaller_capacity_prunes_the_slot_tables(
    tmp_path, order, saver):
  # Slots are unbounded followers: a restore that evicts rows of the
  # variable must take their slot rows too, whichever restores first (the
  # checkpoint keys decide: "a/..." sorts before "o/...").
  def model(capacity):
    creator = de.CuckooHashTableCreator(
        de.CuckooHashTableConfig(max_capacity=capacity, evict_strategy="lru"),
        saver=de.FileSystemSaver(save_path=str(tmp_path / "tables"))
        if saver else None)
    var = de.Variable(dim=DIM, initializer=0.5, name="emb",
                      kv_creator=creator)
    return var, de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))

  def checkpoint(var, opt):
    names = ("o", "v") if order == "slots_first" else ("z", "a")
    return tf.train.Checkpoint(**dict(zip(names, (opt, var))))

  big, opt = model(100_000)
  for step in range(20):
    _train_step(big, opt, tf.range(step * 50, step * 50 + 50, dtype=tf.int64))
  path = checkpoint(big, opt).write(str(tmp_path / "ckpt"))
  small, opt2 = model(300)
  _train_step(small, opt2, tf.constant([5000], tf.int64))  # builds slots
  checkpoint(small, opt2).read(path)
  small.lookup(tf.constant([], tf.int64))  # the prune runs before a lookup
  kept = _rows(small)
  assert 0 < len(kept) <= 300
  for mine, theirs in zip(small.get_slot_variables(opt2),
                          big.get_slot_variables(opt)):
    slot_rows, saved = _rows(mine), _rows(theirs)
    assert set(slot_rows) == set(kept)  # no orphans, none missing
    assert all(slot_rows[k] == saved[k] for k in slot_rows)
  _train_step(small, opt2, tf.constant([1, 999], tf.int64))
  assert int(small.size()) <= 300
