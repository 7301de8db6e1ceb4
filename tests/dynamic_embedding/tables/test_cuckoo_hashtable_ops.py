"""de.CuckooHashTable operations checked against a Python dict.

Accumulation is in test_accum.py; checkpointing and table lifetime in
test_checkpoint.py; bad input in test_bad_input.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3


def default_row(value_dtype, dim=DIM):
  """A recognisable non-zero default row: 3, 4, 5, ... (bool: T, F, T...)."""
  if value_dtype == tf.bool:
    return tf.range(dim) % 2 == 0
  return tf.cast(tf.range(dim) % 5 + 3, value_dtype)


def make_table(key_dtype, value_dtype, dim=DIM, **kwargs):
  return de.CuckooHashTable(key_dtype, value_dtype,
                            default_row(value_dtype, dim), **kwargs)


def filled(samples, key_dtype, value_dtype, n=10, dim=DIM, seed=1, **kwargs):
  """A table holding keys 0..n-1 of the key sequence, and its dict model."""
  table = make_table(key_dtype, value_dtype, dim, **kwargs)
  keys = samples.keys(key_dtype, n)
  values = samples.values(value_dtype, [n, dim], seed=seed)
  table.insert(keys, values)
  return table, samples.as_dict(keys, values)


def test_insert_then_lookup_equals_dict(samples, key_dtype, value_dtype,
                                        eager_or_function):
  table = make_table(key_dtype, value_dtype)
  keys = samples.keys(key_dtype, 20)
  values = samples.values(value_dtype, [20, DIM], seed=2)

  def fn(k, v):
    table.insert(k, v)
    return table.lookup(k)

  out = eager_or_function(fn, keys, values)
  np.testing.assert_array_equal(samples.rows(out), samples.rows(values))


def test_lookup_of_missing_keys_returns_default_value(samples, key_dtype,
                                                      value_dtype,
                                                      eager_or_function):
  table, ref = filled(samples, key_dtype, value_dtype, n=10)
  keys = samples.keys(key_dtype, 10, start=5)  # 5 present, 5 missing
  out = eager_or_function(table.lookup, keys)
  np.testing.assert_array_equal(
      samples.rows(out),
      samples.expected(ref, keys, default_row(value_dtype), DIM))


def test_dynamic_default_values_are_used_per_key(samples, key_dtype,
                                                 value_dtype,
                                                 eager_or_function):
  table, ref = filled(samples, key_dtype, value_dtype, n=6)
  keys = samples.keys(key_dtype, 12)  # keys 6..11 are missing
  defaults = samples.values(value_dtype, [12, DIM], seed=3)
  out = eager_or_function(lambda k, d: table.lookup(k, d), keys, defaults)
  np.testing.assert_array_equal(samples.rows(out),
                                samples.expected(ref, keys, defaults, DIM))


def test_return_exists_marks_present_keys(samples, key_dtype, value_dtype,
                                          eager_or_function):
  table, ref = filled(samples, key_dtype, value_dtype, n=8)
  keys = samples.keys(key_dtype, 12, start=4)
  values, exists = eager_or_function(
      lambda k: table.lookup(k, return_exists=True), keys)
  assert exists.dtype == tf.bool
  assert exists.numpy().tolist() == [k in ref for k in samples.py_keys(keys)]
  np.testing.assert_array_equal(
      samples.rows(values),
      samples.expected(ref, keys, default_row(value_dtype), DIM))


SHAPES = [(), (4,), (2, 3), (2, 1, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_lookup_value_shape_is_keys_shape_plus_dim(samples, key_dtype, shape,
                                                   eager_or_function):
  table, ref = filled(samples, key_dtype, tf.float32, n=4)
  n = int(np.prod(shape))
  keys = samples.keys(key_dtype, n, start=2, shape=shape)
  static_shapes = []

  def fn(k):
    out = table.lookup(k)
    static_shapes.append(out.shape.as_list())
    return out

  out = eager_or_function(fn, keys)
  assert static_shapes == [list(shape) + [DIM]]
  assert out.shape == list(shape) + [DIM]
  np.testing.assert_array_equal(
      samples.rows(out), samples.expected(ref, keys, default_row(tf.float32),
                                          DIM))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_insert_accepts_keys_of_any_rank(samples, key_dtype, shape,
                                         eager_or_function):
  table = make_table(key_dtype, tf.int32)
  n = int(np.prod(shape))
  keys = samples.keys(key_dtype, n, shape=shape)
  values = samples.values(tf.int32, list(shape) + [DIM], seed=4)
  eager_or_function(table.insert, keys, values)
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_lookup_with_unknown_key_shape_keeps_dim_static(samples, key_dtype):
  table, ref = filled(samples, key_dtype, tf.float32, n=4)
  static_shapes = []

  @tf.function(input_signature=[tf.TensorSpec([None, None], key_dtype)])
  def fn(k):
    out, exists = table.lookup(k, return_exists=True)
    static_shapes.append((out.shape.as_list(), exists.shape.as_list()))
    return out

  keys = samples.keys(key_dtype, 6, shape=[2, 3])
  out = fn(keys)
  assert static_shapes == [([None, None, DIM], [None, None])]
  np.testing.assert_array_equal(
      samples.rows(out), samples.expected(ref, keys, default_row(tf.float32),
                                          DIM))


def test_insert_of_duplicate_keys_keeps_the_last(samples, key_dtype,
                                                 eager_or_function):
  table = make_table(key_dtype, tf.int32)
  a, b, c = samples.key_list(key_dtype, 3)
  keys = tf.constant([a, b, a, c, a, b], key_dtype)
  values = tf.constant([[i] * DIM for i in range(6)], tf.int32)
  eager_or_function(table.insert, keys, values)
  samples.assert_same_content(samples.content(table), {
      a: np.full(DIM, 4.0), b: np.full(DIM, 5.0), c: np.full(DIM, 3.0)})


def test_insert_overwrites_existing_rows(samples, key_dtype, value_dtype,
                                         eager_or_function):
  table, ref = filled(samples, key_dtype, value_dtype, n=10, seed=5)
  keys = samples.keys(key_dtype, 10, start=5)
  values = samples.values(value_dtype, [10, DIM], seed=6)
  eager_or_function(table.insert, keys, values)
  ref.update(samples.as_dict(keys, values))
  samples.assert_same_content(samples.content(table), ref)


def test_remove_deletes_only_the_given_keys(samples, key_dtype,
                                            eager_or_function):
  table, ref = filled(samples, key_dtype, tf.float32, n=12)
  gone = samples.keys(key_dtype, 4, start=3)
  absent = samples.keys(key_dtype, 2, start=50)
  eager_or_function(table.remove, tf.concat([gone, absent], 0))
  for k in samples.py_keys(gone):
    del ref[k]
  samples.assert_same_content(samples.content(table), ref)
  assert int(table.size()) == 8


def test_removed_key_can_be_inserted_again(samples, key_dtype,
                                           eager_or_function):
  table, ref = filled(samples, key_dtype, tf.float32, n=5)
  key = samples.keys(key_dtype, 1, start=2)

  def fn(k):
    table.remove(k)
    missing = table.lookup(k, return_exists=True)[1]
    table.insert(k, tf.fill([1, DIM], 42.0))
    return missing

  exists_after_remove = eager_or_function(fn, key)
  assert exists_after_remove.numpy().tolist() == [False]
  ref[samples.py_keys(key)[0]] = np.full(DIM, 42.0)
  samples.assert_same_content(samples.content(table), ref)


def test_clear_empties_the_table(samples, key_dtype, eager_or_function):
  table, _ = filled(samples, key_dtype, tf.float32, n=30)
  keys = samples.keys(key_dtype, 30)

  def fn(k):
    table.clear()
    return table.size(), table.lookup(k, return_exists=True)[1]

  size, exists = eager_or_function(fn, keys)
  assert int(size) == 0
  assert not exists.numpy().any()
  assert samples.content(table) == {}


def test_table_is_usable_after_clear(samples, key_dtype):
  table, _ = filled(samples, key_dtype, tf.float32, n=30)
  table.clear()
  keys = samples.keys(key_dtype, 7, start=20)
  values = samples.values(tf.float32, [7, DIM], seed=7)
  table.insert(keys, values)
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_size_counts_distinct_keys(samples, key_dtype, eager_or_function):
  table = make_table(key_dtype, tf.float32)
  keys = samples.keys(key_dtype, 9)
  doubled = tf.concat([keys, keys], 0)

  def fn(k):
    sizes = [table.size()]
    table.insert(k, tf.ones([18, DIM]))
    sizes.append(table.size())
    table.remove(k[:4])
    sizes.append(table.size())
    return sizes

  assert [int(s) for s in eager_or_function(fn, doubled)] == [0, 9, 5]


def test_export_returns_every_row(samples, key_dtype, value_dtype,
                                  eager_or_function):
  table, ref = filled(samples, key_dtype, value_dtype, n=25)
  keys, values = eager_or_function(table.export)
  assert values.shape[1:] == [DIM]
  samples.assert_same_content(samples.as_dict(keys, values), ref)
  assert len(samples.py_keys(keys)) == len(ref)


def test_import_replaces_the_content(samples, key_dtype, value_dtype,
                                     eager_or_function):
  table, _ = filled(samples, key_dtype, value_dtype, n=10)
  keys = samples.keys(key_dtype, 10, start=6)
  values = samples.values(value_dtype, [10, DIM], seed=8)
  eager_or_function(table.import_, keys, values)
  samples.assert_same_content(samples.content(table),
                              samples.as_dict(keys, values))


def test_export_then_import_copies_a_table(samples, key_dtype, value_dtype):
  source, ref = filled(samples, key_dtype, value_dtype, n=40)
  target = make_table(key_dtype, value_dtype)
  target.import_(*source.export())
  samples.assert_same_content(samples.content(target), ref)


@pytest.mark.parametrize("dim", [1, 33])
def test_insert_lookup_with_dim(samples, key_dtype, value_dtype, dim):
  table, ref = filled(samples, key_dtype, value_dtype, n=15, dim=dim)
  keys = samples.keys(key_dtype, 20, start=5)
  out = table.lookup(keys)
  assert out.shape == [20, dim]
  np.testing.assert_array_equal(
      samples.rows(out),
      samples.expected(ref, keys, default_row(value_dtype, dim), dim))


# Each op applied to a batch of zero keys: (callable, expected result shapes,
# whether the table keeps its content).
EMPTY_BATCH_OPS = {
    "lookup": (lambda t, k, v, e: t.lookup(k), [[0, DIM]], True),
    "lookup_exists": (lambda t, k, v, e: t.lookup(k, return_exists=True),
                      [[0, DIM], [0]], True),
    "lookup_dynamic_default": (lambda t, k, v, e: t.lookup(k, v), [[0, DIM]],
                               True),
    "insert": (lambda t, k, v, e: t.insert(k, v), [], True),
    "accum": (lambda t, k, v, e: t.accum(k, v, e), [], True),
    "remove": (lambda t, k, v, e: t.remove(k), [], True),
    "import_": (lambda t, k, v, e: t.import_(k, v), [], False),
}


@pytest.mark.parametrize("op", sorted(EMPTY_BATCH_OPS))
def test_empty_batch(samples, key_dtype, op, eager_or_function):
  table, ref = filled(samples, key_dtype, tf.float32, n=5)
  fn, shapes, keeps_content = EMPTY_BATCH_OPS[op]
  keys = samples.keys(key_dtype, 0)
  result = eager_or_function(
      lambda k, v, e: fn(table, k, v, e), keys, tf.zeros([0, DIM]),
      tf.zeros([0], tf.bool))
  results = [] if result is None else tf.nest.flatten(result)
  assert [r.shape.as_list() for r in results] == shapes
  samples.assert_same_content(samples.content(table),
                              ref if keeps_content else {})


def test_export_of_empty_table_has_shape_0_by_dim(key_dtype,
                                                  eager_or_function):
  table = make_table(key_dtype, tf.float64)
  keys, values = eager_or_function(table.export)
  assert keys.shape == [0] and keys.dtype == key_dtype
  assert values.shape == [0, DIM] and values.dtype == tf.float64


@pytest.mark.parametrize("init_size,num_shards", [
    (0, None), (0, 1), (0, 8), (0, 3), (1000, 1), (7, 8), (64, 1024)])
def test_sizing_options_do_not_change_results(samples, key_dtype, init_size,
                                              num_shards):
  config = None if num_shards is None else de.CuckooHashTableConfig(
      num_shards=num_shards)
  table, ref = filled(samples, key_dtype, tf.float32, n=300,
                      init_size=init_size, config=config)
  removed = samples.keys(key_dtype, 100, start=50)
  table.remove(removed)
  for k in samples.py_keys(removed):
    del ref[k]
  more = samples.keys(key_dtype, 80, start=280)
  more_values = samples.values(tf.float32, [80, DIM], seed=9)
  table.insert(more, more_values)
  ref.update(samples.as_dict(more, more_values))
  probe = samples.keys(key_dtype, 400)
  np.testing.assert_array_equal(
      samples.rows(table.lookup(probe)),
      samples.expected(ref, probe, default_row(tf.float32), DIM))
  assert int(table.size()) == len(ref)


def test_two_tables_with_the_same_name_are_independent(samples, key_dtype):
  first = make_table(key_dtype, tf.float32, name="emb")
  second = make_table(key_dtype, tf.float32, name="emb")
  keys = samples.keys(key_dtype, 6)
  first.insert(keys, tf.ones([6, DIM]))
  second.insert(keys[:2], tf.fill([2, DIM], 2.0))
  second.remove(keys[:1])
  samples.assert_same_content(samples.content(first),
                              {k: np.ones(DIM) for k in samples.py_keys(keys)})
  samples.assert_same_content(samples.content(second),
                              {samples.py_keys(keys)[1]: np.full(DIM, 2.0)})


def test_properties_describe_the_table(key_dtype, value_dtype):
  table = make_table(key_dtype, value_dtype, dim=5, name="props")
  assert (table.key_dtype, table.value_dtype, table.dim, table.name) == (
      key_dtype, value_dtype, 5, "props")
  np.testing.assert_array_equal(
      np.asarray(table.default_value.numpy()).astype(np.float64),
      np.asarray(default_row(value_dtype, 5).numpy()).astype(np.float64))
