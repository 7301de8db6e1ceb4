"""Bad input to de.Variable and the lookups: clear errors naming the
argument, and nothing written."""

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DEVICES = ["/CPU:0", "/CPU:1", "/CPU:2"]


@pytest.fixture
def var():
  v = de.Variable(tf.int64, dim=2, devices=DEVICES[:2])
  v.upsert([1], [[1.0, 1.0]])
  return v


def assert_unchanged(v):
  assert v.export()[0].numpy().tolist() == [1]


@pytest.mark.parametrize("call,arg", [
    (lambda v: de.embedding_lookup(v, tf.constant([1], tf.int32)), "ids"),
    (lambda v: de.embedding_lookup_unique(v, ["a"]), "ids"),
    (lambda v: de.embedding_lookup(v, [1.5]), "ids"),
    (lambda v: de.embedding_lookup_sparse(
        v, tf.SparseTensor([[0, 0]], tf.constant([1], tf.int32), [1, 1]),
        None), "sp_ids"),
    (lambda v: de.safe_embedding_lookup_sparse(
        v, tf.SparseTensor([[0, 0]], ["x"], [1, 1])), "sparse_ids"),
    (lambda v: v.lookup(tf.constant(["1"])), "keys"),
], ids=["int32_ids", "string_ids", "float_ids", "sparse_int32",
        "safe_string", "variable_lookup"])
def test_ids_of_another_dtype_are_rejected(var, call, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    call(var)


@pytest.mark.parametrize("values", [
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],  # width 3 != dim 2
    [[1.0, 2.0]],  # one row for two keys
    tf.constant([[1, 2], [3, 4]], tf.int32),  # dtype
], ids=["width", "rows", "dtype"])
def test_upsert_with_bad_values_writes_nothing(var, values):
  with pytest.raises(tf.errors.InvalidArgumentError, match="values"):
    var.upsert([2, 3], values)
  assert_unchanged(var)


@pytest.mark.parametrize("rows_spec,bad_shape", [
    ([None, 2], [3, 2]),      # 3 rows for 2 keys
    ([None, None], [3, 2]),
    ([None, None], [1, 4]),   # 2 keys' floats in one row
], ids=["rows_of_dim", "unknown_width", "rows_of_two_keys"])
@pytest.mark.parametrize("shards", [1, 2])
def test_shape_mismatch_known_only_at_run_time_writes_nothing(
    shards, rows_spec, bad_shape):
  """One shard with `[?, dim]` rows leaves the check to the write kernel;
  the other cases assert in the graph before any shard is written."""
  var = de.Variable(tf.int64, dim=2, devices=DEVICES[:shards])
  var.upsert([1], [[1.0, 1.0]])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64),
                                tf.TensorSpec(rows_spec, tf.float32)])
  def write(keys, values):
    var.upsert(keys, values)
    return tf.constant(0)

  with pytest.raises(tf.errors.InvalidArgumentError, match="values"):
    write(tf.constant([2, 3], tf.int64), tf.ones(bad_shape))
  assert_unchanged(var)
  write(tf.constant([2, 3], tf.int64), tf.ones([2, 2]))
  assert sorted(var.export()[0].numpy().tolist()) == [1, 2, 3]


@pytest.mark.parametrize("bad_shard", [-1, 2, 7])
def test_partitioner_out_of_range_writes_nothing(bad_shard, eager_or_function):
  v = de.Variable(dim=1, devices=DEVICES[:2],
                  partitioner=lambda k, n: tf.where(
                      k == 3, bad_shard, tf.zeros_like(k, tf.int32)))
  with pytest.raises(tf.errors.InvalidArgumentError, match="partitioner"):
    eager_or_function(v.upsert, tf.constant([1, 2, 3], tf.int64),
                      tf.ones([3, 1]))
  assert int(v.size()) == 0
  with pytest.raises(tf.errors.InvalidArgumentError, match="partitioner"):
    v.lookup([3])


def test_partitioner_returning_floats_is_rejected():
  v = de.Variable(dim=1, devices=DEVICES[:2],
                  partitioner=lambda k, n: tf.zeros_like(k, tf.float32))
  with pytest.raises(tf.errors.InvalidArgumentError, match="partitioner"):
    v.upsert([1], [[1.0]])


def test_unknown_combiner(var):
  sp = tf.SparseTensor([[0, 0]], tf.constant([1], tf.int64), [1, 1])
  with pytest.raises(tf.errors.InvalidArgumentError, match="combiner"):
    de.embedding_lookup_sparse(var, sp, None, combiner="max")
  with pytest.raises(tf.errors.InvalidArgumentError, match="combiner"):
    de.safe_embedding_lookup_sparse(var, sp, combiner="avg")


def test_weights_with_other_shape_than_ids(var):
  sp = tf.SparseTensor([[0, 0], [0, 1]], tf.constant([1, 2], tf.int64), [1, 2])
  weights = tf.SparseTensor([[0, 0]], [1.0], [1, 2])
  with pytest.raises(tf.errors.InvalidArgumentError, match="sp_weights"):
    de.embedding_lookup_sparse(var, sp, weights)
  with pytest.raises(tf.errors.InvalidArgumentError, match="sparse_weights"):
    de.safe_embedding_lookup_sparse(var, sp, weights)


def test_weights_mismatch_known_only_at_run_time(var):
  spec = tf.SparseTensorSpec([None, None], tf.int64)
  wspec = tf.SparseTensorSpec([None, None], tf.float32)

  @tf.function(input_signature=[spec, wspec])
  def look(ids, weights):
    return de.embedding_lookup_sparse(var, ids, weights)

  sp = tf.SparseTensor([[0, 0], [0, 1]], tf.constant([1, 2], tf.int64), [1, 2])
  with pytest.raises(tf.errors.InvalidArgumentError, match="sp_weights"):
    look(sp, tf.SparseTensor([[0, 0]], [1.0], [1, 2]))


def test_non_sparse_ids_for_sparse_lookup(var):
  with pytest.raises(tf.errors.InvalidArgumentError, match="sp_ids"):
    de.embedding_lookup_sparse(var, tf.constant([[1]], tf.int64), None)


def test_params_must_be_a_variable():
  with pytest.raises(tf.errors.InvalidArgumentError, match="params"):
    de.embedding_lookup(tf.Variable(tf.zeros([3, 2])), [1])


@pytest.mark.parametrize("kwargs,arg", [
    (dict(dim=0), "dim"), (dict(dim=2.5), "dim"), (dict(dim=None), "dim"),
    (dict(dim="3"), "dim"), (dict(dim=True), "dim"),
    (dict(key_dtype=tf.float32), "key_dtype"),
    (dict(value_dtype=tf.string), "value_dtype"),
    (dict(devices=[]), "devices"), (dict(init_size=-1), "init_size"),
    (dict(kv_creator=object()), "kv_creator"),
    (dict(partitioner="mod"), "partitioner"),
])
def test_bad_constructor_arguments(kwargs, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    de.Variable(**kwargs)


def test_restrict_without_policy_is_a_failed_precondition(var):
  with pytest.raises(tf.errors.FailedPreconditionError, match="restrict"):
    var.restrict(10)


def test_empty_batches_are_fine(var):
  empty = tf.zeros([0], tf.int64)
  assert de.embedding_lookup(var, empty).shape == [0, 2]
  assert de.embedding_lookup_unique(var, tf.zeros([2, 0], tf.int64)).shape == \
      [2, 0, 2]
  sp = tf.SparseTensor(tf.zeros([0, 2], tf.int64), empty, [3, 4])
  assert de.embedding_lookup_sparse(var, sp, None).numpy().tolist() == \
      [[0.0, 0.0]] * 3
  var.upsert(empty, tf.zeros([0, 2]))
  var.remove(empty)
  assert_unchanged(var)
