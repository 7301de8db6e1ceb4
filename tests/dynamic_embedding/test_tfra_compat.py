"""TFRA 0.8.1 arguments and methods that TFRA programs call, against dict
and dense references: `Variable.size(index)`, `Variable.embedding_lookup`,
the file-system arguments (`file_name_list`, `dirpath_env`,
`load_entire_dir`, `append_to_file`), `get_variable`'s `shared_name` and
`short_file_name`, and the `TrainableWrapper` / `ShadowVariable` methods."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding import saving


def _rows(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def _filled(name="compat", devices=None):
  var = de.Variable(dim=2, name=name, devices=devices)
  keys = tf.constant(list(range(10)), tf.int64)
  var.upsert(keys, tf.reshape(tf.range(20, dtype=tf.float32), [10, 2]))
  return var


@pytest.mark.parametrize("shard", [0, 1, 2])
def test_size_of_one_shard_counts_its_keys(shard_devices, shard):
  if shard >= len(shard_devices):
    pytest.skip("fewer shards")
  var = _filled(devices=shard_devices)
  expected = sum(1 for k in range(10) if k % len(shard_devices) == shard)
  assert int(var.size(shard)) == expected
  assert int(var.size()) == 10


def test_size_index_out_of_range_names_index():
  with pytest.raises(tf.errors.InvalidArgumentError, match="index"):
    _filled().size(1)


def test_variable_embedding_lookup_equals_function():
  var = _filled()
  ids = tf.constant([[3, 1], [9, 42]], tf.int64)
  np.testing.assert_array_equal(
      var.embedding_lookup(ids, max_norm=2.0).numpy(),
      de.embedding_lookup(var, ids, max_norm=2.0).numpy())


def test_file_name_list_names_the_shard_files(tmp_path):
  var = _filled(devices=["/cpu:0", "/cpu:0"])
  var.save_to_file_system(str(tmp_path), file_name_list=["even", "odd"])
  assert sorted(os.listdir(tmp_path)) == ["compat_mht.tfraseq", "even.tfrakv",
                                          "odd.tfrakv"]
  fresh = de.Variable(dim=2, name="other")
  fresh.load_from_file_system(str(tmp_path), file_name_list=["even"])
  assert _rows(fresh) == {k: r for k, r in _rows(var).items() if k % 2 == 0}


def test_file_name_list_of_wrong_length_names_argument(tmp_path):
  with pytest.raises(tf.errors.InvalidArgumentError, match="file_name_list"):
    _filled().save_to_file_system(str(tmp_path), file_name_list=["a", "b"])


def test_dirpath_env_overrides_dirpath(tmp_path, monkeypatch):
  target = tmp_path / "from_env"
  monkeypatch.setenv("TFRA_SAVED_KV", str(target))
  var = _filled()
  var.save_to_file_system(str(tmp_path / "ignored"))
  assert sorted(os.listdir(target)) == ["compat_mht.tfraseq",
                                        "compat_mht_1of1.tfrakv"]
  assert not (tmp_path / "ignored").exists()
  fresh = de.Variable(dim=2, name="compat")
  fresh.load_from_file_system("/nonexistent")
  assert _rows(fresh) == _rows(var)


def test_dirpath_env_none_uses_dirpath(tmp_path, monkeypatch):
  monkeypatch.setenv("TFRA_SAVED_KV", str(tmp_path / "from_env"))
  _filled().save_to_file_system(str(tmp_path / "d"), dirpath_env=None)
  assert sorted(os.listdir(tmp_path / "d")) == ["compat_mht.tfraseq",
                                                "compat_mht_1of1.tfrakv"]


def test_table_dirpath_env_overrides_dirpath(tmp_path, monkeypatch):
  monkeypatch.setenv("MY_KV_DIR", str(tmp_path))
  table = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name="t")
  table.insert([5], [[1.5]])
  table.save_to_file_system("/nonexistent", dirpath_env="MY_KV_DIR")
  other = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name="t")
  other.load_from_file_system("/nonexistent", dirpath_env="MY_KV_DIR")
  assert other.lookup([5]).numpy().tolist() == [[1.5]]


def test_load_entire_dir_merges_every_variables_files(tmp_path):
  a = _filled("a")
  b = de.Variable(dim=2, name="b")
  b.upsert(tf.constant([100], tf.int64), [[7.0, 8.0]])
  a.save_to_file_system(str(tmp_path))
  b.save_to_file_system(str(tmp_path))
  merged = de.Variable(dim=2, name="c", devices=["/cpu:0"] * 3)
  merged.load_from_file_system(str(tmp_path), load_entire_dir=True)
  assert _rows(merged) == {**_rows(a), **_rows(b)}


@pytest.mark.parametrize("owner", ["variable", "table"])
def test_append_to_file_is_refused_and_writes_nothing(tmp_path, owner):
  var = _filled()
  target = var if owner == "variable" else var.tables[0]
  with pytest.raises(tf.errors.UnimplementedError, match="append_to_file"):
    target.save_to_file_system(str(tmp_path), append_to_file=True)
  assert not os.listdir(tmp_path)


def test_load_with_restore_function_reroutes_shards(tmp_path):
  one = _filled("r")
  one.save_to_file_system(str(tmp_path))
  three = de.Variable(dim=2, name="r", devices=["/cpu:0"] * 3)
  three.load_from_file_system_with_restore_function(str(tmp_path))
  assert _rows(three) == _rows(one)
  assert [int(three.size(i)) for i in range(3)] == [4, 3, 3]


def test_get_variable_records_shared_name_and_short_file_name():
  with tf.compat.v1.variable_scope("tfra_compat_scope"):
    var = de.get_variable("emb", dim=1, short_file_name=True)
    named = de.get_variable("emb2", dim=1, shared_name="mine")
  assert var.shared_name == "get_variable" and var.short_file_name
  assert named.shared_name == "mine"
  assert saving.shard_file_name(var, 0) != "tfra_compat_scope_emb_mht_1of1"


def _wrapper(var, ids, max_norm=None):
  _, tw = de.embedding_lookup(var, tf.constant(ids, tf.int64),
                              max_norm=max_norm, return_trainable=True)
  return tw


def test_wrapper_update_op_with_v0_adds_the_delta():
  var = de.Variable(dim=1, initializer=1.0, bp_v2=True)
  tw = _wrapper(var, [4, 5])
  v0 = tf.identity(tw.value())
  tw.assign_add([[2.0], [3.0]])
  var.upsert(tf.constant([4], tf.int64), [[10.0]])  # another trainer's write
  tw.update_op(v0)
  assert _rows(var) == {4: [12.0], 5: [4.0]}


def test_wrapper_update_op_without_v0_overwrites():
  var = de.Variable(dim=1, initializer=1.0)
  tw = _wrapper(var, [4])
  tw.assign_add([[2.0]])
  var.upsert(tf.constant([4], tf.int64), [[10.0]])
  tw.update_op()
  assert _rows(var) == {4: [3.0]}


def test_wrapper_prefetch_values_reads_the_table_clipped():
  var = de.Variable(dim=2)
  tw = _wrapper(var, [1, 2], max_norm=1.0)
  var.upsert(tf.constant([1, 2], tf.int64), [[3.0, 4.0], [0.3, 0.4]])
  np.testing.assert_allclose(tw.prefetch_values().numpy(),
                             [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)


def test_wrapper_size_is_the_variables():
  var = _filled()
  assert int(_wrapper(var, [1]).size()) == 10


def test_shadow_value_do_prefetch_reloads_rows():
  var = de.Variable(dim=1)
  shadow = de.shadow_ops.ShadowVariable(var, name="compat_shadow")
  shadow.embedding_lookup(tf.constant([2, 3], tf.int64))
  var.upsert(tf.constant([3], tf.int64), [[7.0]])
  assert shadow.value().numpy().tolist() == [[0.0], [0.0]]
  assert shadow.value(do_prefetch=True).numpy().tolist() == [[0.0], [7.0]]


def test_shadow_embedding_lookup_unique_gradient_sums_duplicates():
  var = de.Variable(dim=2, initializer=1.0)
  shadow = de.shadow_ops.ShadowVariable(var, name="compat_unique")
  ids = tf.constant([[5, 6, 5]], tf.int64)
  with tf.GradientTape() as tape:
    out = de.shadow_ops.embedding_lookup_unique(shadow, ids, 2)
    loss = tf.reduce_sum(out)
  assert out.shape == (1, 3, 2)
  assert tape.gradient(loss, shadow).numpy().tolist() == [[2.0, 2.0],
                                                           [1.0, 1.0]]


def test_shadow_embedding_lookup_unique_checks_embedding_size():
  shadow = de.shadow_ops.ShadowVariable(de.Variable(dim=2))
  with pytest.raises(tf.errors.InvalidArgumentError, match="embedding_size"):
    de.shadow_ops.embedding_lookup_unique(shadow, [1], 3)
