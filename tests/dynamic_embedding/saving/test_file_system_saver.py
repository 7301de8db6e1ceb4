"""de.FileSystemSaver: checkpoints keep table rows in per-shard side files,
written atomically per generation, re-sharded on restore, with clear errors
for corrupt or missing files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

import serving_process

DEVICES = ["/CPU:0", "/CPU:1", "/CPU:2"]
DIM = 3


def _keys(key_dtype, n, start=0):
  if key_dtype == tf.string:
    return [b"k\x00" + str(i).encode() for i in range(start, start + n)]
  return [(-1) ** i * (i * 7919 + 3) for i in range(start, start + n)]


def _var(save_path, key_dtype=tf.int64, shards=1, name="emb", **saver_kw):
  saver = de.FileSystemSaver(save_path=save_path, **saver_kw)
  return de.Variable(key_dtype, dim=DIM, devices=DEVICES[:shards], name=name,
                     kv_creator=de.CuckooHashTableCreator(saver=saver))


def _fill(var, n=200, start=0, scale=1.0):
  keys = _keys(var.key_dtype, n, start)
  values = (np.arange(n * DIM, dtype=np.float32).reshape(n, DIM) + start) * scale
  var.upsert(tf.constant(keys, var.key_dtype), values)
  return dict(zip(keys, values.tolist()))


def _content(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string], ids=["int64", "string"])
def test_round_trip_replaces_content(tmp_path, key_dtype):
  var = _var(str(tmp_path / "tables"), key_dtype, shards=2)
  ref = _fill(var)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  var.upsert(tf.constant(_keys(key_dtype, 5, start=1000), key_dtype),
             np.ones([5, DIM], np.float32))
  tf.train.Checkpoint(emb=var).restore(path).assert_consumed()
  assert _content(var) == ref


def test_rows_are_in_side_files_not_in_the_bundle(tmp_path):
  var = _var(str(tmp_path / "tables"), shards=3)
  _fill(var, n=50)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  gen = tmp_path / "tables" / "emb" / "gen-00000001"
  assert sorted(os.listdir(gen)) == [f"shard_{i}of3.tfrakv" for i in (1, 2, 3)]
  shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  assert all(shape == [] for name, shape in shapes.items() if "emb" in name)


@pytest.mark.parametrize("saved,loaded", [(3, 1), (1, 3), (2, 3)])
def test_restore_reshards(tmp_path, saved, loaded):
  source = _var(str(tmp_path / "tables"), shards=saved)
  ref = _fill(source)
  path = tf.train.Checkpoint(emb=source).save(str(tmp_path / "ckpt"))
  target = _var(str(tmp_path / "tables"), shards=loaded)
  tf.train.Checkpoint(emb=target).restore(path).assert_consumed()
  assert _content(target) == ref
  for idx, table in enumerate(target.tables):
    keys = table.export()[0]
    assert np.all(de.default_partition_fn(keys, loaded).numpy() == idx)


def test_each_save_is_a_new_generation_and_old_checkpoints_still_load(tmp_path):
  var = _var(str(tmp_path / "tables"))
  ckpt = tf.train.Checkpoint(emb=var)
  first = _fill(var, n=10)
  p1 = ckpt.save(str(tmp_path / "ckpt"))
  _fill(var, n=10, scale=-1.0)
  p2 = ckpt.save(str(tmp_path / "ckpt"))
  assert var.file_system_saver.generations(var) == [1, 2]
  ckpt.restore(p1)
  assert _content(var) == first
  ckpt.restore(p2)
  assert _content(var) != first


def test_max_to_keep_drops_the_oldest_generations(tmp_path):
  var = _var(str(tmp_path / "tables"), max_to_keep=2)
  ckpt = tf.train.Checkpoint(emb=var)
  for i in range(4):
    _fill(var, n=5, start=i)
    ckpt.save(str(tmp_path / "ckpt"))
  assert var.file_system_saver.generations(var) == [3, 4]


def test_restore_does_not_write_files(tmp_path):
  var = _var(str(tmp_path / "tables"))
  _fill(var, n=5)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  target = _var(str(tmp_path / "tables"))
  tf.train.Checkpoint(emb=target).restore(path)
  assert var.file_system_saver.generations(var) == [1]


def test_generation_numbers_continue_after_a_restart(tmp_path):
  var = _var(str(tmp_path / "tables"))
  _fill(var, n=5)
  tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  restarted = _var(str(tmp_path / "tables"))
  _fill(restarted, n=5)
  tf.train.Checkpoint(emb=restarted).save(str(tmp_path / "ckpt"))
  assert restarted.file_system_saver.generations(restarted) == [1, 2]


def test_ranks_write_their_own_files_and_a_new_process_count_refilters(tmp_path):
  root = str(tmp_path / "tables")
  rank0 = _var(root, proc_size=2, proc_rank=0)
  rank1 = _var(root, proc_size=2, proc_rank=1)
  ref = {}
  ref.update(_fill(rank0, n=40))
  ref.update(_fill(rank1, n=40, start=40))
  p0 = tf.train.Checkpoint(emb=rank0).save(str(tmp_path / "r0" / "ckpt"))
  p1 = tf.train.Checkpoint(emb=rank1).save(str(tmp_path / "r1" / "ckpt"))
  gen = tmp_path / "tables" / "emb" / "gen-00000001"
  assert sorted(os.listdir(gen)) == ["shard_1of1_rank0of2.tfrakv",
                                     "shard_1of1_rank1of2.tfrakv"]
  # Same process count: each rank gets its own rows back.
  again1 = _var(root, proc_size=2, proc_rank=1)
  tf.train.Checkpoint(emb=again1).restore(p1)
  assert _content(again1) == {k: ref[k] for k in _keys(tf.int64, 40, 40)}
  # One process: every rank's rows.
  single = _var(root)
  tf.train.Checkpoint(emb=single).restore(p0)
  assert _content(single) == ref
  # Three processes: each keeps the keys it owns, together all of them.
  parts = []
  for rank in range(3):
    var = _var(root, proc_size=3, proc_rank=rank)
    tf.train.Checkpoint(emb=var).restore(p0)
    parts.append(_content(var))
    assert all(k % 3 == rank for k in parts[-1])
  merged = {k: v for part in parts for k, v in part.items()}
  assert merged == ref and sum(map(len, parts)) == len(ref)


def test_moved_checkpoint_tree_loads_from_the_new_save_path(tmp_path):
  var = _var(str(tmp_path / "old" / "tables"))
  ref = _fill(var)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "old" / "ckpt"))
  os.rename(tmp_path / "old", tmp_path / "new")
  moved = path.replace(str(tmp_path / "old"), str(tmp_path / "new"))
  target = _var(str(tmp_path / "new" / "tables"))
  tf.train.Checkpoint(emb=target).restore(moved)
  assert _content(target) == ref


def test_corrupt_file_is_reported_and_the_variable_is_unchanged(tmp_path):
  var = _var(str(tmp_path / "tables"), shards=3)
  _fill(var)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  victim = tmp_path / "tables" / "emb" / "gen-00000001" / "shard_2of3.tfrakv"
  data = bytearray(victim.read_bytes())
  data[len(data) // 2] ^= 0xFF
  victim.write_bytes(bytes(data))
  target = _var(str(tmp_path / "tables"), shards=2)
  kept = _fill(target, n=7, start=500)
  with pytest.raises(tf.errors.DataLossError, match="shard_2of3.*checksum"):
    tf.train.Checkpoint(emb=target).restore(path)
  assert _content(target) == kept


def test_missing_generation_is_reported_and_the_variable_is_unchanged(tmp_path):
  var = _var(str(tmp_path / "tables"))
  _fill(var)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  tf.io.gfile.rmtree(str(tmp_path / "tables"))
  target = _var(str(tmp_path / "elsewhere"))
  kept = _fill(target, n=3)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="table files of variable 'emb'.*missing"):
    tf.train.Checkpoint(emb=target).restore(path)
  assert _content(target) == kept


def test_save_without_save_path_fails_clearly(tmp_path):
  var = de.Variable(dim=DIM, name="emb", kv_creator=de.CuckooHashTableCreator(
      saver=de.FileSystemSaver()))
  with pytest.raises(tf.errors.FailedPreconditionError, match="save_path"):
    tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))


@pytest.mark.parametrize("kwargs,arg", [
    (dict(proc_size=0), "proc_size"), (dict(proc_size=2, proc_rank=2), "proc_rank"),
    (dict(buffer_size=0), "buffer_size"), (dict(max_to_keep=1), "max_to_keep")])
def test_bad_arguments_name_themselves(kwargs, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    de.FileSystemSaver(**kwargs)


def test_saved_model_with_a_file_system_variable_serves(tmp_path):
  var = _var(str(tmp_path / "tables"), shards=2)
  ref = _fill(var, n=20)
  loaded = serving_process.saved_lookup(var, tmp_path / "sm")
  keys = list(ref)[:5]
  got = loaded.serve(tf.constant(keys, tf.int64)).numpy().tolist()
  assert got == [ref[k] for k in keys]


def test_training_resumes_exactly_from_side_files(tmp_path):
  """Rows and Adam slots saved through the saver continue training as if
  never interrupted (slot tables share the variable's creator)."""
  def make():
    var = _var(str(tmp_path / "tables"), shards=2)
    opt = de.DynamicEmbeddingOptimizer(__import__("tf_keras").optimizers.Adam(0.1))
    return var, opt

  ids = tf.constant([[1, 2, 2], [3, 1, 5]], tf.int64)

  def step(var, opt):
    with tf.GradientTape() as tape:
      out, tw = de.embedding_lookup(var, ids, return_trainable=True)
      loss = tf.reduce_sum(out * out)
    opt.apply_gradients(zip(tape.gradient(loss, [tw]), [tw]))

  var, opt = make()
  for _ in range(3):
    step(var, opt)
  ckpt = tf.train.Checkpoint(emb=var, opt=opt)
  path = ckpt.save(str(tmp_path / "ckpt"))
  for _ in range(2):
    step(var, opt)
  resumed, opt2 = make()
  tf.train.Checkpoint(emb=resumed, opt=opt2).restore(path)
  for _ in range(2):
    step(resumed, opt2)
  np.testing.assert_allclose(resumed.lookup(tf.constant([1, 2, 3, 5], tf.int64)),
                             var.lookup(tf.constant([1, 2, 3, 5], tf.int64)),
                             rtol=1e-6)


def test_bundle_checkpoints_migrate_by_adding_a_saver_after_restore(tmp_path):
  """A variable restores an old bundle checkpoint without a saver; setting
  its creator's saver afterwards makes the next saves use side files."""
  old = de.Variable(dim=DIM, name="emb")
  ref = _fill(old)
  bundle = tf.train.Checkpoint(emb=old).save(str(tmp_path / "old"))
  creator = de.CuckooHashTableCreator()
  var = de.Variable(dim=DIM, name="emb", kv_creator=creator)
  tf.train.Checkpoint(emb=var).restore(bundle).assert_consumed()
  creator.saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"))
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "new"))
  assert var.file_system_saver.generations(var) == [1]
  target = _var(str(tmp_path / "tables"), shards=2)
  tf.train.Checkpoint(emb=target).restore(path).assert_consumed()
  assert _content(target) == ref


def test_a_saver_checkpoint_into_a_variable_without_one_names_the_entry(
    tmp_path):
  var = _var(str(tmp_path / "tables"))
  _fill(var, n=5)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  plain = de.Variable(dim=DIM, name="emb")
  with pytest.raises(tf.errors.NotFoundError, match="-keys"):
    tf.train.Checkpoint(emb=plain).restore(path)
