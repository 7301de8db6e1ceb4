"""Bounded `de.Variable`s against the plain-Python reference (reference.py):
eviction order of every policy, admission, TTL, and the dropped keys each
write reports, after every write of a random stream with duplicates."""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

from bounded_reference import BoundedReference  # pylint: disable=wrong-import-order

STEPS = 30


def _keys(dtype, ints):
  if dtype == tf.string:
    return [f"id-{i}".encode() for i in ints]
  return [int(i) for i in ints]


def _variable(key_dtype, **config):
  return de.Variable(
      key_dtype=key_dtype, dim=2, initializer=-1.0,
      kv_creator=de.CuckooHashTableCreator(
          de.CuckooHashTableConfig(num_shards=1, **config)))


def _content(var):
  keys, values = var.export()
  keys = [k if isinstance(k, bytes) else int(k) for k in keys.numpy()]
  return dict(zip(keys, values.numpy()[:, 0].tolist()))


def _stream(seed, space):
  """Batches of 1..12 ids (duplicates included) over `space` ids, skewed so
  that some ids recur often."""
  rng = np.random.default_rng(seed)
  for _ in range(STEPS):
    size = int(rng.integers(1, 13))
    yield rng.zipf(1.3, size=size) % space


def _check_stream(var, ref, key_dtype, space, seed, with_scores=False):
  rng = np.random.default_rng(seed + 1)
  for step, ints in enumerate(_stream(seed, space)):
    keys = _keys(key_dtype, ints)
    values = [float(step * 100 + i) for i in range(len(keys))]
    scores = rng.integers(-50, 50, size=len(keys)).tolist() \
        if with_scores else None
    want = ref.upsert(keys, values, scores)
    got = var.tables[0].insert(
        tf.constant(keys, key_dtype),
        tf.constant([[x, x] for x in values]), scores=scores,
        return_dropped=True)
    got = [k if isinstance(k, bytes) else int(k) for k in got.numpy()]
    assert sorted(got, key=repr) == sorted(want, key=repr), step
    assert _content(var) == ref.live(), step


@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string],
                         ids=["int64", "string"])
@pytest.mark.parametrize("capacity", [6, 40])
@pytest.mark.parametrize("policy", ["lru", "lfu", "custom"])
def test_eviction_order_matches_reference(key_dtype, capacity, policy):
  config = {"max_capacity": capacity, "evict_strategy": policy}
  if policy == "custom":
    config["gen_scores_fn"] = lambda keys: tf.zeros(tf.shape(keys), tf.int64)
  var = _variable(key_dtype, **config)
  ref = BoundedReference(capacity, policy)
  _check_stream(var, ref, key_dtype, space=3 * capacity, seed=capacity,
                with_scores=policy == "custom")


@pytest.mark.parametrize("ttl", [1, 4, 9])
def test_ttl_expiry_matches_reference(ttl):
  var = _variable(tf.int64, ttl=ttl, evict_strategy="ttl", max_capacity=20)
  ref = BoundedReference(20, "ttl", ttl=ttl)
  _check_stream(var, ref, tf.int64, space=40, seed=ttl)


@pytest.mark.parametrize("admit_after", [2, 3])
def test_admission_matches_reference(admit_after):
  var = _variable(tf.int64, admit_after=admit_after)
  ref = BoundedReference(admit_after=admit_after)
  _check_stream(var, ref, tf.int64, space=30, seed=admit_after)


def test_not_admitted_keys_read_the_initializer():
  var = _variable(tf.int64, admit_after=3)
  for _ in range(2):
    var.upsert([5], [[9.0, 9.0]])
  assert int(var.size()) == 0
  assert var.lookup([5]).numpy().tolist() == [[-1.0, -1.0]]
  var.upsert([5], [[9.0, 9.0]])
  assert var.lookup([5]).numpy().tolist() == [[9.0, 9.0]]


def test_capacity_splits_over_devices_and_shards(shard_devices):
  capacity = 64
  var = de.Variable(
      dim=1, devices=shard_devices,
      kv_creator=de.CuckooHashTableCreator(
          de.CuckooHashTableConfig(num_shards=4, max_capacity=capacity)))
  for step in range(20):
    ids = np.arange(step * 37, step * 37 + 37)
    var.upsert(ids, np.ones([37, 1], np.float32))
    assert int(var.size()) <= capacity
  share, extra = divmod(capacity, len(shard_devices))
  for idx, table in enumerate(var.tables):
    assert int(table.size()) <= share + (idx < extra)
  assert int(var.size()) >= capacity // 2


@pytest.mark.parametrize("capacity", [1, 10, 100])
def test_small_capacities_hold_exactly(capacity):
  table = de.CuckooHashTable(
      tf.int64, tf.float32, [0.0],
      config=de.CuckooHashTableConfig(max_capacity=capacity))
  table.insert(tf.range(10_000, dtype=tf.int64), tf.zeros([10_000, 1]))
  assert 0 < int(table.size()) <= capacity


def test_export_keys_and_scores_follow_the_policy():
  var = _variable(tf.int64, max_capacity=100, evict_strategy="lfu")
  var.upsert([1, 2, 3], np.ones([3, 2], np.float32))
  var.upsert([2, 3], np.ones([2, 2], np.float32))
  var.upsert([3], np.ones([1, 2], np.float32))
  keys, scores = var.export_keys_and_scores()
  assert dict(zip(keys.numpy().tolist(), scores.numpy().tolist())) == {
      1: 1, 2: 2, 3: 3}
