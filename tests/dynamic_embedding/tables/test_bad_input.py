"""Bad arguments are refused with an error naming the argument, and the table
is left unchanged.

Three layers catch bad input: the Python wrapper (eagerly, or at trace time
inside tf.function), the ops' shape functions (trace time), and the kernels
(run time, when shapes are only known then, or when the raw ops are called
directly). Each layer is exercised here. Bad files are in test_bad_files.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.utils.resource_loader import LIBRARIES

DIM = 3
N = 4


@pytest.fixture
def table(samples, key_dtype):
  """A table with N rows; tests check that they survive the bad call."""
  t = de.CuckooHashTable(key_dtype, tf.float32, tf.zeros([DIM]))
  t.insert(samples.keys(key_dtype, N, start=20),
           samples.values(tf.float32, [N, DIM], seed=1))
  return t


@pytest.fixture
def expect_rejected(samples):
  """expect_rejected(table, fn, arg, errors): fn() raises one of `errors`
  naming `arg`, and the table's content is unchanged."""

  def check(table, fn, arg, errors=tf.errors.InvalidArgumentError):
    before = samples.content(table)
    with pytest.raises(errors) as info:
      fn()
    assert arg in str(info.value), str(info.value)
    samples.assert_same_content(samples.content(table), before)
    return info.value

  return check


def keys_of(samples, table, n=N):
  return samples.keys(table.key_dtype, n)


def other_key_dtype(key_dtype):
  return tf.int32 if key_dtype == tf.int64 else tf.int64


def wrong_dtype_keys(table, n=N):
  return tf.range(n, dtype=other_key_dtype(table.key_dtype))


# op name -> call(table, keys, rows, exists) with one argument wrong, the
# argument the error must name. `rows`/`exists` come in well-formed for N
# keys; each case breaks exactly one thing.
def _f64(rows):
  return tf.cast(rows, tf.float64)


BAD_CALLS = {
    # key/value count mismatch
    "insert_count": (lambda t, k, v, e: t.insert(k, v[:-1]), "values"),
    "accum_count": (lambda t, k, v, e: t.accum(k, v[:-1], e),
                    "values_or_deltas"),
    "import_count": (lambda t, k, v, e: t.import_(k, v[:-1]), "values"),
    # wrong key dtype
    "insert_key_dtype": (lambda t, k, v, e: t.insert(wrong_dtype_keys(t), v),
                         "keys"),
    "lookup_key_dtype": (lambda t, k, v, e: t.lookup(wrong_dtype_keys(t)),
                         "keys"),
    "accum_key_dtype": (lambda t, k, v, e: t.accum(wrong_dtype_keys(t), v, e),
                        "keys"),
    "remove_key_dtype": (lambda t, k, v, e: t.remove(wrong_dtype_keys(t)),
                         "keys"),
    "import_key_dtype": (lambda t, k, v, e: t.import_(wrong_dtype_keys(t), v),
                         "keys"),
    # wrong value dtype
    "insert_value_dtype": (lambda t, k, v, e: t.insert(k, _f64(v)), "values"),
    "accum_value_dtype": (lambda t, k, v, e: t.accum(k, _f64(v), e),
                          "values_or_deltas"),
    "import_value_dtype": (lambda t, k, v, e: t.import_(k, _f64(v)),
                           "values"),
    "lookup_default_dtype": (lambda t, k, v, e: t.lookup(k, _f64(v)),
                             "dynamic_default_values"),
    "exists_dtype": (lambda t, k, v, e: t.accum(k, v, tf.cast(e, tf.int32)),
                     "exists"),
    # wrong dim
    "insert_dim": (lambda t, k, v, e: t.insert(k, tf.ones([N, DIM + 1])),
                   "values"),
    "accum_dim": (lambda t, k, v, e: t.accum(k, tf.ones([N, DIM - 1]), e),
                  "values_or_deltas"),
    "import_dim": (lambda t, k, v, e: t.import_(k, tf.ones([N, DIM + 1])),
                   "values"),
    # wrong rank
    "insert_rank_flat": (lambda t, k, v, e: t.insert(k, tf.ones([N * DIM])),
                         "values"),
    "insert_rank_keys_2d": (
        lambda t, k, v, e: t.insert(tf.reshape(k, [2, N // 2]), v), "values"),
    "accum_rank_flat": (lambda t, k, v, e: t.accum(k, tf.ones([N * DIM]), e),
                        "values_or_deltas"),
    # exists shape
    "exists_short": (lambda t, k, v, e: t.accum(k, v, e[:-1]), "exists"),
    "exists_rank": (lambda t, k, v, e: t.accum(k, v, tf.reshape(e, [N, 1])),
                    "exists"),
    # dynamic_default_values shape
    "default_count": (lambda t, k, v, e: t.lookup(k, tf.ones([N + 1, DIM])),
                      "dynamic_default_values"),
    "default_dim": (lambda t, k, v, e: t.lookup(k, tf.ones([N, DIM + 1])),
                    "dynamic_default_values"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_call_is_rejected_eagerly(samples, table, expect_rejected, case):
  call, arg = BAD_CALLS[case]
  keys = keys_of(samples, table)
  rows = tf.ones([N, DIM])
  exists = tf.constant([True, False] * (N // 2))
  expect_rejected(table, lambda: call(table, keys, rows, exists), arg)


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_call_is_rejected_when_traced(samples, table, expect_rejected,
                                          case):
  call, arg = BAD_CALLS[case]
  keys = keys_of(samples, table)
  rows = tf.ones([N, DIM])
  exists = tf.constant([True, False] * (N // 2))
  fn = tf.function(lambda k, v, e: call(table, k, v, e) and None)
  expect_rejected(table, lambda: fn(keys, rows, exists), arg,
                  (tf.errors.InvalidArgumentError, ValueError))


# Shapes known only at run time: the kernels must catch the mismatch.
DYNAMIC_CALLS = {
    "insert_count": (lambda t, k, v, e: t.insert(k, v[:-1]), "values"),
    "insert_dim": (lambda t, k, v, e: t.insert(k, tf.concat([v, v], 1)),
                   "values"),
    "insert_rank": (lambda t, k, v, e: t.insert(k, tf.reshape(v, [-1])),
                    "values"),
    "accum_count": (lambda t, k, v, e: t.accum(k, v[:-1], e),
                    "values_or_deltas"),
    "accum_exists": (lambda t, k, v, e: t.accum(k, v, e[:-1]), "exists"),
    "import_count": (lambda t, k, v, e: t.import_(k, v[:-1]), "values"),
    "lookup_default_count": (lambda t, k, v, e: t.lookup(k, v[:-1]),
                             "default_value"),
    "lookup_default_dim": (lambda t, k, v, e: t.lookup(k, tf.concat([v, v],
                                                                    1)),
                           "default_value"),
}


@pytest.mark.parametrize("case", sorted(DYNAMIC_CALLS))
def test_bad_shapes_known_only_at_run_time_are_rejected(samples, table,
                                                        expect_rejected,
                                                        case):
  call, arg = DYNAMIC_CALLS[case]

  @tf.function(input_signature=[
      tf.TensorSpec([None], table.key_dtype),
      tf.TensorSpec([None, None], tf.float32),
      tf.TensorSpec([None], tf.bool)])
  def fn(k, v, e):
    call(table, k, v, e)

  keys = keys_of(samples, table)
  expect_rejected(
      table, lambda: fn(keys, tf.ones([N, DIM]), tf.ones([N], tf.bool)), arg)


# The raw ops, bypassing every Python check: the kernels validate on their
# own (the table records its dtypes and dim at creation).
RAW = LIBRARIES["_cuckoo_hashtable_ops.so"].ops

# An empty scores vector: no custom scores.
NO_SCORES = tf.zeros([0], tf.int64)

RAW_CALLS = {
    "insert_key_dtype": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, wrong_dtype_keys(t), v, NO_SCORES), "keys"),
    "insert_value_dtype": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, _f64(v), NO_SCORES), "values"),
    "insert_count": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, v[:-1], NO_SCORES), "values"),
    "insert_scores_count": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, v, tf.zeros([N - 1], tf.int64)), "scores"),
    "find_key_dtype": (lambda t, k, v: RAW.tfra_hash_table_find(
        t.resource_handle, wrong_dtype_keys(t), v[0]), "keys"),
    "find_default_dtype": (lambda t, k, v: RAW.tfra_hash_table_find(
        t.resource_handle, k, _f64(v[0])), "default_value"),
    "find_default_dim": (lambda t, k, v: RAW.tfra_hash_table_find(
        t.resource_handle, k, tf.ones([DIM + 1])), "default_value"),
    "accum_exists": (lambda t, k, v: RAW.tfra_hash_table_accum(
        t.resource_handle, k, v, tf.ones([N + 1], tf.bool)), "exists"),
    "accum_value_dtype": (lambda t, k, v: RAW.tfra_hash_table_accum(
        t.resource_handle, k, _f64(v), tf.ones([N], tf.bool)),
                          "values_or_deltas"),
    "remove_key_dtype": (lambda t, k, v: RAW.tfra_hash_table_remove(
        t.resource_handle, wrong_dtype_keys(t), Tout=tf.float32), "keys"),
    "export_key_dtype": (lambda t, k, v: RAW.tfra_hash_table_export(
        t.resource_handle, Tkeys=other_key_dtype(t.key_dtype),
        Tvalues=tf.float32), "keys"),
    "import_value_dtype": (lambda t, k, v: RAW.tfra_hash_table_import(
        t.resource_handle, k, _f64(v)), "values"),
    "save_file_name_slash": (
        lambda t, k, v: RAW.tfra_hash_table_save_to_file_system(
            t.resource_handle, "/tmp", "a/b", key_dtype=t.key_dtype,
            value_dtype=tf.float32), "file_name"),
    "load_dirpath_not_scalar": (
        lambda t, k, v: RAW.tfra_hash_table_load_from_file_system(
            t.resource_handle, ["/tmp", "/tmp"], "x", key_dtype=t.key_dtype,
            value_dtype=tf.float32), "dirpath"),
}


@pytest.mark.parametrize("case", sorted(RAW_CALLS))
def test_raw_op_rejects_bad_input_eagerly(samples, table, expect_rejected,
                                          case):
  call, arg = RAW_CALLS[case]
  keys = keys_of(samples, table)
  expect_rejected(table, lambda: call(table, keys, tf.ones([N, DIM])), arg)


@pytest.mark.parametrize("key_dtype", [tf.int64], ids=["int64"])
@pytest.mark.parametrize("case", sorted(RAW_CALLS))
def test_raw_op_rejects_bad_input_in_a_graph(samples, table, expect_rejected,
                                             case):
  # Inputs reach the kernel through edges named after the producing tensors
  # ("k", "v", "Cast", ...); the error must still name the op's argument.
  call, arg = RAW_CALLS[case]

  @tf.function(input_signature=[tf.TensorSpec([None], table.key_dtype),
                                tf.TensorSpec([None, None], tf.float32)])
  def fn(k, v):
    call(table, k, v)

  keys = keys_of(samples, table)
  expect_rejected(table, lambda: fn(keys, tf.ones([N, DIM])), arg)


# Static shapes that contradict each other: the ops' shape functions reject
# them when the graph is built, naming the argument.
SHAPE_FN_CALLS = {
    "insert_count": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, v[:-1], NO_SCORES), "values"),
    "insert_scores_count": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, v, tf.zeros([N - 1], tf.int64)), "scores"),
    "insert_dim_vs_rank": (lambda t, k, v: RAW.tfra_hash_table_insert(
        t.resource_handle, k, tf.ones([N, 1, DIM]), NO_SCORES), "values"),
    "import_count": (lambda t, k, v: RAW.tfra_hash_table_import(
        t.resource_handle, k, v[:-1]), "values"),
    "accum_count": (lambda t, k, v: RAW.tfra_hash_table_accum(
        t.resource_handle, k, v[:-1], tf.ones([N], tf.bool)),
                    "values_or_deltas"),
    "accum_exists": (lambda t, k, v: RAW.tfra_hash_table_accum(
        t.resource_handle, k, v, tf.ones([N + 1], tf.bool)), "exists"),
}


@pytest.mark.parametrize("key_dtype", [tf.int64], ids=["int64"])
@pytest.mark.parametrize("case", sorted(SHAPE_FN_CALLS))
def test_shape_functions_reject_contradicting_static_shapes(
    samples, table, expect_rejected, case):
  call, arg = SHAPE_FN_CALLS[case]
  fn = tf.function(lambda k, v: call(table, k, v) and None)
  keys = keys_of(samples, table)
  expect_rejected(table, lambda: fn(keys, tf.ones([N, DIM])), arg,
                  (tf.errors.InvalidArgumentError, ValueError))


RAW_CREATE = {
    "num_shards_high": (dict(num_shards=1025), "num_shards"),
    "num_shards_negative": (dict(num_shards=-1), "num_shards"),
    "init_size_negative": (dict(init_size=-1), "init_size"),
    "value_shape_zero": (dict(value_shape=[0]), "value_shape"),
    "value_shape_matrix": (dict(value_shape=[2, 2]), "value_shape"),
}


@pytest.mark.parametrize("case", sorted(RAW_CREATE))
def test_create_kernel_rejects_bad_attributes(case):
  attrs, arg = RAW_CREATE[case]
  attrs = dict(dict(key_dtype=tf.int64, value_dtype=tf.float32,
                    value_shape=[DIM]), **attrs)
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    RAW.tfra_hash_table_of_tensors(**attrs)


CONSTRUCTION = {
    "key_dtype_float": (dict(key_dtype=tf.float32), "key_dtype"),
    "key_dtype_bool": (dict(key_dtype=tf.bool), "key_dtype"),
    "key_dtype_not_a_dtype": (dict(key_dtype="no-such-dtype"), "key_dtype"),
    "value_dtype_string": (dict(value_dtype=tf.string), "value_dtype"),
    "value_dtype_complex": (dict(value_dtype=tf.complex64), "value_dtype"),
    "value_dtype_uint8": (dict(value_dtype=tf.uint8), "value_dtype"),
    "default_scalar": (dict(default_value=0.0), "default_value"),
    "default_empty": (dict(default_value=[]), "default_value"),
    "default_matrix": (dict(default_value=[[0.0, 0.0]]), "default_value"),
    "default_dtype": (dict(default_value=tf.zeros([2], tf.float64)),
                      "default_value"),
    "default_not_numeric": (dict(default_value=["a", "b"]), "default_value"),
    "init_size_negative": (dict(init_size=-1), "init_size"),
}


@pytest.mark.parametrize("case", sorted(CONSTRUCTION))
def test_construction_rejects_bad_arguments(case):
  changes, arg = CONSTRUCTION[case]
  kwargs = dict(dict(key_dtype=tf.int64, value_dtype=tf.float32,
                     default_value=[0.0, 0.0]), **changes)
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    de.CuckooHashTable(**kwargs)


@pytest.mark.parametrize("num_shards", [0, -1, 1025, 4096])
def test_config_rejects_num_shards_out_of_range(num_shards):
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_shards"):
    de.CuckooHashTableConfig(num_shards=num_shards)


@pytest.mark.parametrize("num_shards", [1, 2, 3, 1000, 1024])
def test_config_accepts_num_shards_in_range(num_shards):
  table = de.CuckooHashTable(
      tf.int64, tf.float32, [0.0],
      config=de.CuckooHashTableConfig(num_shards=num_shards))
  table.insert(tf.range(100, dtype=tf.int64), tf.ones([100, 1]))
  np.testing.assert_array_equal(table.lookup([5, 500]).numpy(), [[1.0], [0.0]])


# Python and numpy inputs that an integer dtype cannot hold exactly. TF's own
# conversion would wrap or truncate them (2**40 -> 0), silently aliasing keys.
INEXACT = {
    "int32_key_list_overflow": (tf.int32, tf.float32, "keys", [2**40], None),
    "int32_key_numpy_overflow": (tf.int32, tf.float32, "keys",
                                 np.array([2**31], np.int64), None),
    "int32_key_numpy_fraction": (tf.int32, tf.float32, "keys",
                                 np.array([1.5]), None),
    "int64_key_numpy_nan": (tf.int64, tf.float32, "keys",
                            np.array([np.nan]), None),
    "int64_key_numpy_uint64": (tf.int64, tf.float32, "keys",
                               np.array([2**64 - 1], np.uint64), None),
    "int8_value_overflow": (tf.int64, tf.int8, "values", [1], [[300]]),
    "int8_value_numpy_overflow": (tf.int64, tf.int8, "values", [1],
                                  np.array([[-129]])),
    "int32_value_numpy_fraction": (tf.int64, tf.int32, "values", [1],
                                   np.array([[0.5]])),
}


@pytest.mark.parametrize("case", sorted(INEXACT))
def test_inexact_integer_conversion_is_rejected(samples, expect_rejected,
                                                case):
  key_dtype, value_dtype, arg, keys, values = INEXACT[case]
  table = de.CuckooHashTable(key_dtype, value_dtype, tf.zeros([1],
                                                              value_dtype))
  table.insert(tf.constant([0], key_dtype), tf.ones([1, 1], value_dtype))
  values = [[1]] if values is None else values
  expect_rejected(table, lambda: table.insert(keys, values), arg)


@pytest.mark.parametrize("keys,values", [
    ([2**31 - 1, -2**31], [[1], [2]]),
    (np.array([7, 8], np.int64), np.array([[1.0], [2.0]])),
    (np.array([7.0, 8.0]), [[1], [2]]),
], ids=["int32_limits", "numpy_int64", "numpy_whole_floats"])
def test_exact_integer_conversion_is_accepted(samples, keys, values):
  table = de.CuckooHashTable(tf.int32, tf.int8, [0])
  table.insert(keys, values)
  samples.assert_same_content(
      samples.content(table),
      {int(k): np.asarray(v, np.float64) for k, v in zip(keys, values)})
