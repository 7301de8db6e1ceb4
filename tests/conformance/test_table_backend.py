"""The public-API conformance suite: what every table backend must do.

Each test runs once per backend of the `table_backend` fixture (conftest.py:
"cpu"; "gpu" where the op library has CUDA kernels and a GPU is here, its
tables placed on /GPU:0; "redis" skips until it is built; a skip names why)
through the public API only (`kv_creator=backend.creator(...)`), against a
plain reference: a Python dict, or a dense `tf.Variable` trained by the
same optimizer. The C++ half of the suite is cc/core/tests/conformance_test.cc.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.tables import base

DIM = 3


def _keys(key_dtype, n, start=0):
  if key_dtype == tf.string:
    return [f"id-{i}".encode() for i in range(start, start + n)]
  return list(range(start * 7 - 40, (start + n) * 7 - 40, 7))


def _rows(n, salt=0.0):
  return (np.arange(n * DIM, dtype=np.float32).reshape(n, DIM) * 0.5 + salt)


def _table(table_backend, key_dtype, default=-1.0, config=None):
  with tf.device(table_backend.device):
    return table_backend.creator(config).create(
        key_dtype=key_dtype, value_dtype=tf.float32,
        default_value=[default] * DIM, name="conformance")


def _devices(table_backend):
  """One shard on the backend's device (de.Variable's `devices`)."""
  return table_backend.shard_devices(1)


@pytest.fixture(params=[tf.int64, tf.int32, tf.string], ids=lambda d: d.name)
def key_dtype(request):
  return request.param


def test_tables_implement_the_protocol(table_backend):
  t = _table(table_backend, tf.int64)
  assert isinstance(t, base.DynamicTable)
  assert t.backend == table_backend.name
  assert (t.key_dtype, t.value_dtype, t.dim) == (tf.int64, tf.float32, DIM)


def test_lookup_returns_inserted_rows_and_defaults(table_backend, key_dtype):
  t = _table(table_backend, key_dtype)
  keys = _keys(key_dtype, 50)
  t.insert(keys, _rows(50))
  probe = _keys(key_dtype, 40, start=30)  # 20 present, 20 missing
  values, exists = t.lookup(probe, return_exists=True)
  want = np.concatenate([_rows(50)[30:], np.full((20, DIM), -1.0, np.float32)])
  np.testing.assert_array_equal(values.numpy(), want)
  assert exists.numpy().tolist() == [True] * 20 + [False] * 20
  assert int(t.size()) == 50


def test_accum_follows_the_exists_mask(table_backend, key_dtype):
  t = _table(table_backend, key_dtype)
  keys = _keys(key_dtype, 4)
  t.insert(keys[:2], _rows(2))  # 0, 1 present
  t.accum(keys + keys[:1], np.ones((5, DIM), np.float32),
          [True, False, False, True, True])
  values, exists = t.lookup(keys, return_exists=True)
  np.testing.assert_array_equal(values.numpy()[0], _rows(2)[0] + 2)  # twice
  np.testing.assert_array_equal(values.numpy()[1], _rows(2)[1])  # skipped
  np.testing.assert_array_equal(values.numpy()[2], np.ones(DIM))  # inserted
  assert exists.numpy().tolist() == [True, True, True, False]


def test_remove_clear_export_import(table_backend, key_dtype):
  t = _table(table_backend, key_dtype)
  keys = _keys(key_dtype, 30)
  t.insert(keys, _rows(30))
  t.remove(keys[:10])
  got_keys, got_values = t.export()
  got = {k: v.tolist() for k, v in zip(got_keys.numpy().tolist(),
                                        got_values.numpy())}
  assert got == {k: v.tolist() for k, v in zip(keys[10:], _rows(30)[10:])}
  t.import_(keys[:5], _rows(5, salt=9))
  assert int(t.size()) == 5
  np.testing.assert_array_equal(t.lookup(keys[:5]).numpy(), _rows(5, salt=9))
  t.clear()
  assert int(t.size()) == 0


def test_files_round_trip(table_backend, key_dtype, tmp_path):
  t = _table(table_backend, key_dtype)
  keys = _keys(key_dtype, 40)
  t.insert(keys, _rows(40))
  t.save_to_file_system(str(tmp_path), file_name="t")
  u = _table(table_backend, key_dtype)
  u.load_from_file_system(str(tmp_path), file_name="t")
  np.testing.assert_array_equal(u.lookup(keys).numpy(), _rows(40))


def test_sharded_variable_matches_a_dict(table_backend, key_dtype):
  var = de.Variable(key_dtype=key_dtype, value_dtype=tf.float32, dim=DIM,
                    devices=table_backend.shard_devices(3),
                    kv_creator=table_backend.creator(), name="conf_var")
  keys = _keys(key_dtype, 60)
  var.upsert(keys, _rows(60))
  var.upsert(keys[:20], _rows(20, salt=100))
  ref = {k: v for k, v in zip(keys, _rows(60))}
  ref.update({k: v for k, v in zip(keys[:20], _rows(20, salt=100))})
  np.testing.assert_array_equal(var.lookup(keys).numpy(),
                                np.stack([ref[k] for k in keys]))
  assert int(var.size()) == 60


@pytest.mark.parametrize("optimizer", ["adam", "adagrad", "sgd"])
def test_training_equals_the_dense_oracle(table_backend, optimizer):
  """Five steps through de.embedding_lookup with duplicate ids equal a
  tf.Variable trained by the same optimizer on the same ids (every row is
  in every batch: sparse Adam moves only the rows it sees, dense Adam all)."""
  make = {"adam": lambda: tf_keras.optimizers.Adam(0.1),
          "adagrad": lambda: tf_keras.optimizers.Adagrad(0.1),
          "sgd": lambda: tf_keras.optimizers.SGD(0.1)}[optimizer]
  init = np.random.RandomState(0).normal(size=(8, DIM)).astype(np.float32)
  var = de.Variable(key_dtype=tf.int64, value_dtype=tf.float32, dim=DIM,
                    devices=_devices(table_backend),
                    kv_creator=table_backend.creator(), name="conf_train")
  var.upsert(np.arange(8), init)
  dense = tf.Variable(init)
  de_opt = de.DynamicEmbeddingOptimizer(make())
  dense_opt = make()
  rng = np.random.RandomState(1)
  batches = [np.concatenate([rng.permutation(8), rng.randint(0, 8, 4)])
             for _ in range(5)]
  for ids in batches:
    ids = tf.constant(ids, tf.int64)
    with tf.GradientTape() as tape:
      emb = de.embedding_lookup(var, ids, name="conf_lookup")
      loss = tf.reduce_sum(emb * emb * tf.range(1.0, DIM + 1.0))
    trainable = tape.watched_variables()
    de_opt.apply_gradients(zip(tape.gradient(loss, trainable), trainable))
    with tf.GradientTape() as tape:
      emb = tf.nn.embedding_lookup(dense, ids)
      loss = tf.reduce_sum(emb * emb * tf.range(1.0, DIM + 1.0))
    dense_opt.apply_gradients([(tape.gradient(loss, dense), dense)])
  np.testing.assert_allclose(var.lookup(np.arange(8)).numpy(), dense.numpy(),
                             rtol=1e-6, atol=1e-6)


def test_checkpoint_round_trip(table_backend, tmp_path):
  var = de.Variable(key_dtype=tf.int64, value_dtype=tf.float32, dim=DIM,
                    devices=_devices(table_backend),
                    kv_creator=table_backend.creator(), name="conf_ckpt")
  var.upsert(np.arange(25), _rows(25))
  path = tf.train.Checkpoint(v=var).write(str(tmp_path / "ckpt"))
  other = de.Variable(key_dtype=tf.int64, value_dtype=tf.float32, dim=DIM,
                      devices=_devices(table_backend),
                    kv_creator=table_backend.creator(), name="conf_ckpt")
  other.upsert([999], _rows(1))
  tf.train.Checkpoint(v=other).read(path).assert_consumed()
  np.testing.assert_array_equal(other.lookup(np.arange(25)).numpy(), _rows(25))
  assert int(other.size()) == 25


def test_creator_round_trips_through_its_config(table_backend):
  creator = table_backend.creator()
  again = de.kv_creator_from_config(creator.get_config())
  assert type(again) is type(creator)
  assert again.get_config() == creator.get_config()


def test_bookkeeping_needs_the_capability(table_backend):
  """A capacity either holds (a backend with bookkeeping) or is refused
  with FailedPrecondition naming the backend; never silently ignored."""
  creator = table_backend.creator(de.CuckooHashTableConfig(max_capacity=10))
  table_class = type(creator.create(key_dtype=tf.int64, value_dtype=tf.float32,
                                    default_value=[0.0], name="probe"))
  if not table_class.bounded_capable:
    with pytest.raises(tf.errors.FailedPreconditionError, match=table_backend.name):
      de.Variable(dim=1, kv_creator=creator, name="conf_bounded")
    return
  var = de.Variable(dim=1, kv_creator=creator, name="conf_bounded")
  var.upsert(np.arange(100), np.ones((100, 1), np.float32))
  assert int(var.size()) <= 10
