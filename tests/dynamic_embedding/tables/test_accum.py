"""de.CuckooHashTable.accum semantics checked against a Python dict.

Per position, in batch order: present and exists -> row += delta (bool: OR);
absent and not exists -> insert; any other combination -> skipped.
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3


def make_table(key_dtype, value_dtype):
  return de.CuckooHashTable(key_dtype, value_dtype,
                            tf.zeros([DIM], value_dtype))


def add(value_dtype, row, delta):
  """The reference element-wise accumulation of one value dtype."""
  return np.logical_or(row, delta).astype(np.float64) \
      if value_dtype == tf.bool else row + delta


def test_accum_adds_deltas_to_present_keys(samples, key_dtype, value_dtype,
                                           eager_or_function):
  table = make_table(key_dtype, value_dtype)
  keys = samples.keys(key_dtype, 12)
  start = samples.values(value_dtype, [12, DIM], seed=1)
  deltas = samples.values(value_dtype, [12, DIM], seed=2)
  table.insert(keys, start)
  eager_or_function(table.accum, keys, deltas, tf.ones([12], tf.bool))
  np.testing.assert_array_equal(
      samples.rows(table.lookup(keys)),
      add(value_dtype, samples.rows(start), samples.rows(deltas)))


def test_accum_inserts_absent_keys_when_not_exists(samples, key_dtype,
                                                   value_dtype,
                                                   eager_or_function):
  table = make_table(key_dtype, value_dtype)
  keys = samples.keys(key_dtype, 12)
  values = samples.values(value_dtype, [12, DIM], seed=3)
  eager_or_function(table.accum, keys, values, tf.zeros([12], tf.bool))
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_accum_skips_positions_whose_exists_flag_is_stale(samples, key_dtype,
                                                          eager_or_function):
  table = make_table(key_dtype, tf.float32)
  present = samples.keys(key_dtype, 4)
  table.insert(present, tf.ones([4, DIM]))
  absent = samples.keys(key_dtype, 4, start=4)
  keys = tf.concat([present, absent], 0)
  # present with exists=False and absent with exists=True: all skipped.
  exists = tf.constant([False] * 4 + [True] * 4)
  eager_or_function(table.accum, keys, tf.fill([8, DIM], 5.0), exists)
  samples.assert_same_content(
      samples.content(table),
      {k: np.ones(DIM) for k in samples.py_keys(present)})


def test_accum_mixed_batch_matches_dict(samples, key_dtype, value_dtype,
                                        eager_or_function):
  table = make_table(key_dtype, value_dtype)
  start_keys = samples.keys(key_dtype, 10)
  start = samples.values(value_dtype, [10, DIM], seed=4)
  table.insert(start_keys, start)
  ref = samples.as_dict(start_keys, start)
  keys = samples.keys(key_dtype, 16, start=2)
  deltas = samples.values(value_dtype, [16, DIM], seed=5)
  exists = tf.constant([i % 3 != 0 for i in range(16)])
  eager_or_function(table.accum, keys, deltas, exists)
  for k, d, e in zip(samples.py_keys(keys), samples.rows(deltas),
                     exists.numpy()):
    if k in ref and e:
      ref[k] = add(value_dtype, ref[k], d)
    elif k not in ref and not e:
      ref[k] = d
  samples.assert_same_content(samples.content(table), ref)


def test_accum_adds_every_duplicate_with_exists(samples, key_dtype,
                                                value_dtype,
                                                eager_or_function):
  table = make_table(key_dtype, value_dtype)
  a, b = samples.key_list(key_dtype, 2)
  table.insert(tf.constant([a, b], key_dtype),
               tf.cast(tf.constant([[0] * DIM, [1] * DIM]), value_dtype))
  keys = tf.constant([a, b, a, a], key_dtype)
  deltas = samples.values(value_dtype, [4, DIM], seed=6, low=0, high=3)
  eager_or_function(table.accum, keys, deltas, tf.ones([4], tf.bool))
  d = samples.rows(deltas)
  expected_a = add(value_dtype, add(value_dtype, add(value_dtype,
                                                     np.zeros(DIM), d[0]),
                                    d[2]), d[3])
  expected_b = add(value_dtype, np.ones(DIM), d[1])
  samples.assert_same_content(samples.content(table),
                              {a: expected_a, b: expected_b})


def test_accum_applies_duplicates_in_batch_order(samples, key_dtype,
                                                 eager_or_function):
  # The first position inserts the absent key; the second then finds it
  # present and adds; the third (exists=False, key now present) is skipped.
  table = make_table(key_dtype, tf.int64)
  a = samples.key_list(key_dtype, 1)[0]
  keys = tf.constant([a, a, a], key_dtype)
  values = tf.constant([[10] * DIM, [1] * DIM, [100] * DIM], tf.int64)
  exists = tf.constant([False, True, False])
  eager_or_function(table.accum, keys, values, exists)
  samples.assert_same_content(samples.content(table), {a: np.full(DIM, 11.0)})


def test_bool_rows_accumulate_as_logical_or(samples, eager_or_function):
  table = make_table(tf.int64, tf.bool)
  keys = tf.constant([1, 2, 3, 4], tf.int64)
  table.insert(keys, tf.constant([[False] * DIM, [False] * DIM, [True] * DIM,
                                  [True] * DIM]))
  deltas = tf.constant([[False] * DIM, [True] * DIM, [False] * DIM,
                        [True] * DIM])
  eager_or_function(table.accum, keys, deltas, tf.ones([4], tf.bool))
  assert table.lookup(keys).numpy().tolist() == [
      [False] * DIM, [True] * DIM, [True] * DIM, [True] * DIM]


def test_accum_accepts_keys_of_rank_2(samples, key_dtype, eager_or_function):
  table = make_table(key_dtype, tf.float32)
  keys = samples.keys(key_dtype, 6, shape=[2, 3])
  values = samples.values(tf.float32, [2, 3, DIM], seed=7)
  eager_or_function(table.accum, keys, values, tf.zeros([2, 3], tf.bool))
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_accum_after_lookup_with_exists_is_an_upsert(samples, key_dtype,
                                                     eager_or_function):
  table = make_table(key_dtype, tf.float32)
  old = samples.keys(key_dtype, 3)
  table.insert(old, tf.ones([3, DIM]))
  keys = samples.keys(key_dtype, 6)

  def fn(k):
    _, exists = table.lookup(k, return_exists=True)
    table.accum(k, tf.fill([6, DIM], 2.0), exists)

  eager_or_function(fn, keys)
  expected = {k: np.full(DIM, 3.0 if i < 3 else 2.0)
              for i, k in enumerate(samples.py_keys(keys))}
  samples.assert_same_content(samples.content(table), expected)
