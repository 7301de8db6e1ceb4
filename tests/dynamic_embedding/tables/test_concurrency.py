"""Concurrent use of one table from Python threads, and large batches.

Eager ops release the GIL while the kernel runs, so the worker threads below
really race on the table. Every written row has all elements equal, so a torn
row (half old, half new) shows up as a row with unequal elements. Each worker
owns a disjoint key range and keeps a dict of what its range must hold; keys
no worker writes ("stable" keys) must always be found with their value.
"""

import threading
import traceback

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 16
WORKERS = 5
ITERATIONS = 250
OWN_KEYS = 6000          # per worker; big batches cross the parallel split
STABLE_KEYS = 300
COUNTER_START = 10**6    # key index of the shared accumulation counter


def _torn_rows(values):
  rows = values.reshape(-1, DIM)
  return rows[~np.all(rows == rows[:, :1], axis=1)]


class Worker:
  """One thread's deterministic op sequence over its own key range."""

  def __init__(self, table, samples, key_dtype, index, stable, counter):
    self.table = table
    self.samples = samples
    self.key_dtype = key_dtype
    self.index = index
    self.keys = samples.key_list(key_dtype, OWN_KEYS,
                                 start=10_000 * (index + 1))
    self.stable = stable  # (key list, expected float value per key)
    self.counter = counter
    self.model = {}
    self.counter_adds = 0
    self.rng = np.random.default_rng(index)

  def _pick(self, size):
    size = min(size, OWN_KEYS)
    return [self.keys[i] for i in self.rng.choice(OWN_KEYS, size,
                                                  replace=False)]

  def _size(self):
    # Mostly small batches; now and then one large enough to be split over
    # the intra-op thread pool.
    return 5000 if self.rng.random() < 0.05 else int(self.rng.integers(1, 64))

  def insert(self, step):
    keys = self._pick(self._size())
    value = float(step * WORKERS + self.index + 1)
    self.table.insert(tf.constant(keys, self.key_dtype),
                      tf.fill([len(keys), DIM], value))
    self.model.update((k, value) for k in keys)

  def accum(self, step):
    keys = self._pick(self._size())
    delta = float(step % 7 + 1)
    exists = [k in self.model for k in keys]
    self.table.accum(tf.constant(keys, self.key_dtype),
                     tf.fill([len(keys), DIM], delta), exists)
    for k in keys:
      self.model[k] = self.model.get(k, 0.0) + delta

  def remove(self, step):
    del step
    keys = self._pick(self._size())
    self.table.remove(tf.constant(keys, self.key_dtype))
    for k in keys:
      self.model.pop(k, None)

  def accum_counter(self, step):
    del step
    self.table.accum(tf.constant([self.counter], self.key_dtype),
                     tf.ones([1, DIM]), [True])
    self.counter_adds += 1

  def lookup(self, step):
    del step
    own = self._pick(32)
    stable_keys, stable_values = self.stable
    picks = self.rng.choice(len(stable_keys), 32)
    # Keys of other workers are being written right now: only check that
    # their rows are whole.
    others = self.samples.key_list(
        self.key_dtype, 64,
        start=10_000 * (1 + (self.index + 1) % WORKERS) +
        int(self.rng.integers(0, OWN_KEYS - 64)))
    keys = own + [stable_keys[i] for i in picks] + others
    values, exists = self.table.lookup(tf.constant(keys, self.key_dtype),
                                       return_exists=True)
    values, exists = values.numpy(), exists.numpy()
    assert len(_torn_rows(values)) == 0, _torn_rows(values)[:3]
    first = values[:, 0]
    for i, k in enumerate(own):
      assert exists[i] == (k in self.model), k
      assert first[i] == self.model.get(k, 0.0), (k, first[i])
    assert exists[32:64].all()
    np.testing.assert_array_equal(first[32:64], stable_values[picks])

  def run(self):
    ops = [self.insert, self.accum, self.lookup, self.remove,
           self.accum_counter, self.lookup]
    for step in range(ITERATIONS):
      ops[int(self.rng.integers(0, len(ops)))](step)


def _exporter(table, samples, stable, stop, checks):
  stable_keys, stable_values = stable
  want = dict(zip(stable_keys, stable_values))
  while not stop.is_set():
    keys, values = table.export()
    flat, values = samples.py_keys(keys), values.numpy()
    assert len(flat) == len(set(flat)) == values.shape[0]
    assert len(_torn_rows(values)) == 0
    got = {k: values[i, 0] for i, k in enumerate(flat) if k in want}
    assert got == want
    checks.append(len(flat))


@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string],
                         ids=lambda d: d.name)
def test_concurrent_writers_keep_rows_whole_and_contents_exact(samples,
                                                               key_dtype):
  table = de.CuckooHashTable(key_dtype, tf.float32, tf.zeros([DIM]))
  stable_keys = samples.key_list(key_dtype, STABLE_KEYS)
  stable_values = np.arange(STABLE_KEYS, dtype=np.float32) + 0.5
  table.insert(tf.constant(stable_keys, key_dtype),
               tf.tile(stable_values[:, None], [1, DIM]))
  counter = samples.key_list(key_dtype, 1, start=COUNTER_START)[0]
  table.insert(tf.constant([counter], key_dtype), tf.zeros([1, DIM]))
  stable = (stable_keys, stable_values)
  workers = [Worker(table, samples, key_dtype, i, stable, counter)
             for i in range(WORKERS)]

  errors, checks, stop = [], [], threading.Event()

  def guarded(fn, *args):
    try:
      fn(*args)
    except Exception:  # pylint: disable=broad-except
      errors.append(traceback.format_exc())
      stop.set()

  threads = [threading.Thread(target=guarded, args=(w.run,)) for w in workers]
  exporter = threading.Thread(
      target=guarded, args=(_exporter, table, samples, stable, stop, checks))
  for t in threads + [exporter]:
    t.start()
  for t in threads:
    t.join()
  stop.set()
  exporter.join()
  assert not errors, errors[0]
  assert checks, "the exporter never ran"

  expected = {k: np.full(DIM, v) for k, v in zip(stable_keys, stable_values)}
  expected[counter] = np.full(DIM, sum(w.counter_adds for w in workers))
  for w in workers:
    expected.update((k, np.full(DIM, v)) for k, v in w.model.items())
  samples.assert_same_content(samples.content(table), expected)


LARGE = 200_000


def _large_keys(key_dtype, start, n, step=1):
  ids = tf.range(start, start + n * step, step, dtype=tf.int64)
  if key_dtype == tf.string:
    return tf.strings.join(["id-", tf.strings.as_string(ids)])
  return ids


def _rows_for(ids):
  """Row of id i: [i, i+1, ..., i+DIM-1] as float64 (exact in float32)."""
  return ids[:, None].astype(np.float64) + np.arange(DIM)


@pytest.fixture(params=[tf.int64, tf.string], ids=lambda d: d.name)
def large_table(request):
  """A table of LARGE rows keyed by the even ids 0, 2, 4, ..."""
  key_dtype = request.param
  table = de.CuckooHashTable(key_dtype, tf.float32, tf.fill([DIM], -1.0))
  ids = np.arange(0, 2 * LARGE, 2)
  table.insert(_large_keys(key_dtype, 0, LARGE, 2), _rows_for(ids))
  return table


def test_large_batch_lookup_is_exact(large_table):
  # Ids 0..2*LARGE-1: even ones present, odd ones missing.
  ids = np.arange(2 * LARGE)
  keys = _large_keys(large_table.key_dtype, 0, 2 * LARGE)
  defaults = -_rows_for(ids).astype(np.float32)
  values, exists = large_table.lookup(keys, defaults, return_exists=True)
  present = ids % 2 == 0
  np.testing.assert_array_equal(exists.numpy(), present)
  np.testing.assert_array_equal(
      values.numpy(), np.where(present[:, None], _rows_for(ids), defaults))
  assert int(large_table.size()) == LARGE


def test_large_batch_accum_is_exact(large_table):
  ids = np.arange(LARGE)  # half present (even), half absent (odd)
  keys = _large_keys(large_table.key_dtype, 0, LARGE)
  _, exists = large_table.lookup(keys, return_exists=True)
  large_table.accum(keys, tf.ones([LARGE, DIM]), exists)
  expected = np.where((ids % 2 == 0)[:, None], _rows_for(ids) + 1, 1.0)
  np.testing.assert_array_equal(large_table.lookup(keys).numpy(), expected)
  assert int(large_table.size()) == LARGE + LARGE // 2


def test_large_batch_remove_is_exact(large_table):
  ids = np.arange(0, 2 * LARGE, 2)
  keys = _large_keys(large_table.key_dtype, 0, LARGE, 2)
  large_table.remove(keys[::3])
  kept = np.arange(LARGE) % 3 != 0
  values, exists = large_table.lookup(keys, return_exists=True)
  np.testing.assert_array_equal(exists.numpy(), kept)
  np.testing.assert_array_equal(
      values.numpy(), np.where(kept[:, None], _rows_for(ids), -1.0))
  assert int(large_table.size()) == int(kept.sum())
