"""A table is freed with its last Python reference (no leak in eager mode)."""

import gc
import weakref

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

ROWS, DIM = 250_000, 32  # ~32 MiB of float32 rows per table


def _resident_mib():
  with open("/proc/self/statm", encoding="ascii") as f:
    return int(f.read().split()[1]) * 4096 / 2**20


def _filled_table(keys, values):
  table = de.CuckooHashTable(tf.int64, tf.float32, tf.zeros([DIM]))
  table.insert(keys, values)
  return table


def test_dropped_table_is_garbage_collected():
  table = de.CuckooHashTable(tf.string, tf.float32, [0.0])
  table.insert(["a"], [[1.0]])
  ref = weakref.ref(table)
  del table
  gc.collect()
  assert ref() is None


def test_dropped_tables_release_their_memory():
  keys = tf.range(ROWS, dtype=tf.int64)
  values = tf.ones([ROWS, DIM])
  table_mib = ROWS * (DIM * 4 + 8) / 2**20
  _filled_table(keys, values)  # warm up allocator and kernels
  gc.collect()
  before = _resident_mib()
  for _ in range(6):
    _filled_table(keys, values)
    gc.collect()
  # A leak would keep 6 tables (~6 * table_mib) resident.
  assert _resident_mib() - before < 2.5 * table_mib


def test_tables_created_after_others_are_dropped_start_empty():
  for i in range(20):
    table = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name="reused")
    assert int(table.size()) == 0
    table.insert([i], [[float(i)]])
    np.testing.assert_array_equal(table.lookup([i]).numpy(), [[float(i)]])
    del table
