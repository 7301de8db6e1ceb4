"""de.Variable: the TFRA signature, reads and writes against a dict reference,
shard routing and initializers."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3


def test_signature_matches_tfra():
  params = inspect.signature(de.Variable).parameters
  expected = [
      ("key_dtype", tf.int64), ("value_dtype", tf.float32), ("dim", 1),
      ("devices", None), ("partitioner", de.default_partition_fn),
      ("shared_name", None), ("name", "DynamicEmbedding_Variable"),
      ("initializer", None), ("trainable", True), ("checkpoint", True),
      ("init_size", 0), ("kv_creator", None), ("restrict_policy", None),
      ("bp_v2", False), ("short_file_name", False)]
  assert [(n, p.default) for n, p in params.items()] == expected


def test_one_table_per_device_placed_there(shard_devices):
  var = de.Variable(dim=DIM, devices=shard_devices, name="placed")
  assert var.shard_num == len(shard_devices) == len(var.tables)
  for table, device in zip(var.tables, shard_devices):
    assert table.resource_handle.device.endswith(device.replace("/", "").replace(
        "CPU", "device:CPU"))
  assert [t.name for t in var.tables] == [
      f"placed_mht_{i + 1}of{len(shard_devices)}"
      for i in range(len(shard_devices))]


def test_upsert_lookup_remove_match_dict(samples, key_dtype, shard_devices,
                                         eager_or_function):
  var = de.Variable(key_dtype, tf.float32, dim=DIM, devices=shard_devices)
  keys = samples.keys(key_dtype, 40)
  values = samples.values(tf.float32, [40, DIM], seed=3)
  eager_or_function(var.upsert, keys, values)
  ref = samples.as_dict(keys, values)
  eager_or_function(var.remove, keys[:10])
  for k in samples.py_keys(keys[:10]):
    del ref[k]
  probe = tf.reshape(samples.keys(key_dtype, 48), [4, 3, 4])
  got = eager_or_function(var.lookup, probe)
  assert got.shape == [4, 3, 4, DIM]
  np.testing.assert_array_equal(
      samples.rows(got),
      samples.expected(ref, probe, tf.zeros([DIM]), DIM))
  assert int(var.size()) == 30
  samples.assert_same_content(samples.content(var), ref)


def test_keys_are_routed_by_partitioner(samples, key_dtype, shard_devices):
  var = de.Variable(key_dtype, dim=1, devices=shard_devices)
  keys = samples.keys(key_dtype, 50)
  var.upsert(keys, tf.ones([50, 1]))
  for idx, table in enumerate(var.tables):
    stored = table.export()[0]
    shards = de.default_partition_fn(stored, var.shard_num).numpy()
    assert (shards == idx).all()
  assert sum(int(t.size()) for t in var.tables) == 50


def test_default_partition_fn_is_floor_modulo_and_stable_for_strings():
  ints = tf.constant([-7, -1, 0, 1, 2**62 + 5], tf.int64)
  np.testing.assert_array_equal(de.default_partition_fn(ints, 3).numpy(),
                                np.mod(ints.numpy(), 3))
  strs = tf.constant([b"a", b"b", b"\x00x"])
  np.testing.assert_array_equal(
      de.default_partition_fn(strs, 4).numpy(),
      tf.strings.to_hash_bucket_fast(strs, 4).numpy())


def test_custom_partitioner_is_used():
  var = de.Variable(dim=1, devices=["/CPU:0", "/CPU:1"],
                    partitioner=lambda keys, n: tf.zeros_like(keys, tf.int32))
  var.upsert([1, 2, 3], tf.ones([3, 1]))
  assert [int(t.size()) for t in var.tables] == [3, 0]
  np.testing.assert_array_equal(var.lookup([3, 9]).numpy(), [[1.0], [0.0]])


def test_accum_adds_deltas_and_inserts_missing(shard_devices):
  var = de.Variable(dim=2, devices=shard_devices)
  var.upsert([1, 2], [[1.0, 1.0], [2.0, 2.0]])
  old, exists = var.lookup([1, 2, 3], return_exists=True)
  np.testing.assert_array_equal(exists.numpy(), [True, True, False])
  var.accum([1, 2, 3], old, old + [[1.0, 0.0], [0.5, 0.5], [7.0, 7.0]],
            exists)
  np.testing.assert_array_equal(var.lookup([1, 2, 3]).numpy(),
                                [[2.0, 1.0], [2.5, 2.5], [7.0, 7.0]])


def test_clear_empties_every_shard(shard_devices):
  var = de.Variable(dim=1, devices=shard_devices)
  var.upsert(tf.range(20, dtype=tf.int64), tf.ones([20, 1]))
  var.clear()
  assert int(var.size()) == 0


def test_export_returns_all_rows_of_all_shards(samples, shard_devices):
  var = de.Variable(tf.string, dim=DIM, devices=shard_devices)
  keys = samples.keys(tf.string, 25)
  values = samples.values(tf.float32, [25, DIM], seed=9)
  var.upsert(keys, values)
  samples.assert_same_content(samples.content(var),
                              samples.as_dict(keys, values))


@pytest.mark.parametrize("value_dtype", [tf.float16, tf.float64, tf.int32,
                                         tf.bool])
def test_other_value_dtypes(value_dtype, samples):
  var = de.Variable(value_dtype=value_dtype, dim=2,
                    devices=["/CPU:0", "/CPU:1"])
  values = samples.values(value_dtype, [4, 2], seed=5)
  var.upsert([1, 2, 3, 4], values)
  np.testing.assert_array_equal(samples.rows(var.lookup([4, 3, 2, 1])),
                                samples.rows(values)[::-1])


# Initializers ---------------------------------------------------------------


@pytest.mark.parametrize("initializer,expected", [
    (None, [0.0, 0.0, 0.0]),
    (0.5, [0.5, 0.5, 0.5]),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    (np.array([3.0, 2.0, 1.0]), [3.0, 2.0, 1.0]),
    (tf.constant_initializer(4.0), [4.0, 4.0, 4.0]),
    (tf.ones_initializer(), [1.0, 1.0, 1.0]),
    (tf.keras.initializers.Constant(2.0), [2.0, 2.0, 2.0]),
    (tf.keras.initializers.Zeros(), [0.0, 0.0, 0.0]),
], ids=["none", "scalar", "list", "numpy", "tf_constant", "tf_ones",
        "keras_constant", "keras_zeros"])
def test_constant_initializers_fill_missing_rows(initializer, expected,
                                                 shard_devices):
  var = de.Variable(dim=3, initializer=initializer, devices=shard_devices)
  var.upsert([1], [[9.0, 9.0, 9.0]])
  np.testing.assert_array_equal(var.lookup([1, 5, 6]).numpy(),
                                [[9.0] * 3, expected, expected])
  assert int(var.size()) == 1


@pytest.mark.parametrize("make", [
    lambda: tf.keras.initializers.RandomNormal(stddev=1.0),
    lambda: tf.random_normal_initializer(),
    lambda: tf.keras.initializers.RandomUniform(-1.0, 1.0),
    lambda: (lambda shape, dtype=tf.float32: tf.random.normal(shape,
                                                              dtype=dtype)),
    lambda: (lambda shape: tf.random.uniform(shape, 5.0, 6.0)),
], ids=["keras_normal", "tf_normal", "keras_uniform", "callable_dtype",
        "callable_shape_only"])
def test_random_initializers_generate_rows_only_for_missing_keys(
    make, shard_devices, eager_or_function):
  var = de.Variable(dim=4, initializer=make(), devices=shard_devices)
  var.upsert([7], [[7.0] * 4])
  keys = tf.constant([1, 7, 2, 3], tf.int64)
  rows, exists = eager_or_function(
      lambda k: var.lookup(k, return_exists=True), keys)
  rows = rows.numpy()
  np.testing.assert_array_equal(exists.numpy(), [False, True, False, False])
  np.testing.assert_array_equal(rows[1], [7.0] * 4)
  missing = rows[[0, 2, 3]]
  assert np.isfinite(missing).all()
  assert len({tuple(r) for r in missing}) == 3, "missing keys share a row"
  assert not np.isin(missing, [0.0, 7.0]).any()
  assert int(var.size()) == 1, "a lookup inserted keys"


def test_glorot_rows_inside_function_with_runtime_count():
  var = de.Variable(dim=4, initializer=tf.keras.initializers.GlorotUniform())

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def look(keys):
    return var.lookup(keys)

  rows = look(tf.constant([1, 2], tf.int64)).numpy()
  limit = np.sqrt(6.0 / (2 + 4))   # Glorot for the [missing keys, dim] shape
  assert rows.shape == (2, 4) and (np.abs(rows) <= limit).all()
  assert len({tuple(r) for r in rows}) == 2


def test_static_shape_only_callable_inside_function_says_so():
  var = de.Variable(dim=4, initializer=lambda shape: np.ones(shape) * 0.5)
  assert var.lookup([1, 2]).numpy().tolist() == [[0.5] * 4] * 2  # eager

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def look(keys):
    return var.lookup(keys)

  with pytest.raises(tf.errors.InvalidArgumentError, match="initializer"):
    look(tf.constant([1, 2], tf.int64))


@pytest.mark.parametrize("make", [
    lambda: tf.keras.initializers.RandomNormal(stddev=1.0),
    lambda: tf.keras.initializers.TruncatedNormal(seed=3),
    lambda: tf_keras.initializers.RandomUniform(-1.0, 1.0),
    lambda: tf_keras.initializers.GlorotNormal(),
    lambda: tf_keras.initializers.HeUniform(seed=1),
], ids=["keras3_normal", "keras3_truncated_seeded", "tf_keras_uniform",
        "tf_keras_glorot_normal", "tf_keras_he_seeded"])
@pytest.mark.parametrize("mode", ["eager", "function"])
def test_keras_random_initializers_draw_fresh_rows_every_call(make, mode):
  """Keras initializers repeat their values call after call; new keys of a
  later batch (a later execution of the same function) must not get the
  rows of an earlier batch's new keys."""
  var = de.Variable(dim=4, initializer=make())
  look = var.lookup if mode == "eager" else tf.function(var.lookup)
  first = look(tf.constant([1, 2], tf.int64)).numpy()
  second = look(tf.constant([3, 4], tf.int64)).numpy()
  assert np.isfinite(first).all() and np.isfinite(second).all()
  assert not np.isclose(first, second).any()


def test_bad_constant_initializer_is_rejected():
  with pytest.raises(tf.errors.InvalidArgumentError, match="initializer"):
    de.Variable(dim=3, initializer=[1.0, 2.0])
