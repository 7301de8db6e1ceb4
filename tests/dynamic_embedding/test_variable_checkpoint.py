"""de.Variable persistence: tf.train.Checkpoint (by object path, replacing
content, re-sharding) and save_to_file_system / load_from_file_system."""

import os

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DEVICES = ["/CPU:0", "/CPU:1", "/CPU:2"]
DIM = 3


def filled(samples, key_dtype, shards, n=40, name="emb", seed=1):
  var = de.Variable(key_dtype, dim=DIM, devices=DEVICES[:shards], name=name)
  keys = samples.keys(key_dtype, n)
  values = samples.values(tf.float32, [n, DIM], seed=seed)
  var.upsert(keys, values)
  return var, samples.as_dict(keys, values)


@pytest.mark.parametrize("saved_shards,restored_shards",
                         [(1, 1), (3, 3), (3, 2), (3, 1), (1, 3), (2, 3)])
def test_checkpoint_round_trip_any_shard_count(samples, key_dtype, tmp_path,
                                               saved_shards, restored_shards):
  source, ref = filled(samples, key_dtype, saved_shards)
  path = tf.train.Checkpoint(emb=source).save(str(tmp_path / "ckpt"))
  target = de.Variable(key_dtype, dim=DIM, devices=DEVICES[:restored_shards],
                       name="emb")
  tf.train.Checkpoint(emb=target).restore(path).assert_existing_objects_matched()
  samples.assert_same_content(samples.content(target), ref)
  for idx, table in enumerate(target.tables):  # every key in its own shard
    shards = de.default_partition_fn(table.export()[0], restored_shards)
    assert (shards.numpy() == idx).all()


def test_restore_matches_by_path_not_name_and_replaces_content(samples,
                                                               tmp_path):
  source, ref = filled(samples, tf.int64, 2, name="user_embeddings")
  module = tf.Module()
  module.table = source
  path = tf.train.Checkpoint(model=module).save(str(tmp_path / "ckpt"))

  renamed = de.Variable(dim=DIM, devices=DEVICES[:2], name="another_name")
  renamed.upsert(samples.keys(tf.int64, 5, start=500), tf.ones([5, DIM]))
  other = tf.Module()
  other.table = renamed
  tf.train.Checkpoint(model=other).restore(path).assert_consumed()
  samples.assert_same_content(samples.content(renamed), ref)  # no stale keys


def test_restore_of_empty_checkpoint_empties_variable(tmp_path):
  path = tf.train.Checkpoint(v=de.Variable(dim=DIM)).save(str(tmp_path / "c"))
  target = de.Variable(dim=DIM, devices=DEVICES[:2])
  target.upsert([1, 2, 3], tf.ones([3, DIM]))
  tf.train.Checkpoint(v=target).restore(path)
  assert int(target.size()) == 0


def test_checkpoint_false_saves_and_restores_nothing(tmp_path):
  source = de.Variable(dim=DIM, checkpoint=False)
  source.upsert([1], tf.ones([1, DIM]))
  path = tf.train.Checkpoint(v=source).save(str(tmp_path / "c"))
  names = [name for name, _ in tf.train.list_variables(path)]
  assert not any("keys" in n or "values" in n for n in names), names
  target = de.Variable(dim=DIM, checkpoint=False)
  target.upsert([9], tf.ones([1, DIM]))
  tf.train.Checkpoint(v=target).restore(path)
  assert target.export()[0].numpy().tolist() == [9]


def test_restore_into_other_dim_is_rejected(tmp_path):
  path = tf.train.Checkpoint(v=de.Variable(dim=DIM)).save(str(tmp_path / "c"))
  target = de.Variable(dim=DIM + 1)
  target.upsert([1], tf.ones([1, DIM + 1]))
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf.train.Checkpoint(v=target).restore(path)
  assert target.export()[0].numpy().tolist() == [1]


def test_wrappers_are_not_saved(tmp_path):
  var = de.Variable(dim=DIM)
  de.embedding_lookup(var, [1, 2], name="look")
  path = tf.train.Checkpoint(v=var).save(str(tmp_path / "c"))
  names = [name for name, _ in tf.train.list_variables(path)]
  assert not any("TrainableWrapper" in n or "look" in n for n in names), names


def test_checkpoint_inside_tf_function_restore(samples, tmp_path):
  source, ref = filled(samples, tf.int64, 3)
  ckpt = tf.train.Checkpoint(v=source)
  path = ckpt.write(str(tmp_path / "c"))
  source.clear()
  ckpt.read(path).assert_consumed()
  samples.assert_same_content(samples.content(source), ref)


# save_to_file_system / load_from_file_system ---------------------------------


@pytest.mark.parametrize("saved_shards,loaded_shards", [(1, 1), (3, 3), (3, 1),
                                                        (2, 3)])
def test_file_system_round_trip_any_shard_count(samples, key_dtype, tmp_path,
                                                saved_shards, loaded_shards):
  source, ref = filled(samples, key_dtype, saved_shards)
  source.save_to_file_system(str(tmp_path))
  # The shard files and the save mark (save_marks.py).
  assert sorted(os.listdir(tmp_path)) == sorted([
      f"emb_mht_{i + 1}of{saved_shards}.tfrakv" for i in range(saved_shards)
  ] + ["emb_mht.tfraseq"])
  target = de.Variable(key_dtype, dim=DIM, devices=DEVICES[:loaded_shards],
                       name="emb")
  target.load_from_file_system(str(tmp_path))
  samples.assert_same_content(samples.content(target), ref)


def test_files_of_other_variables_are_not_loaded(samples, tmp_path):
  a, ref = filled(samples, tf.int64, 2, name="a")
  b, _ = filled(samples, tf.int64, 2, name="ab", seed=2)
  a.save_to_file_system(str(tmp_path))
  b.save_to_file_system(str(tmp_path))
  target = de.Variable(dim=DIM, name="a")
  target.load_from_file_system(str(tmp_path))
  samples.assert_same_content(samples.content(target), ref)


def test_short_file_names_and_process_ranks(samples, tmp_path):
  long_name = "tower/" + "x" * 300
  var, ref = filled(samples, tf.int64, 2, name=long_name)
  var.short_file_name = True
  var.save_to_file_system(str(tmp_path), proc_size=2, proc_rank=1)
  names = sorted(os.listdir(tmp_path))
  assert len(names) == 3 and all(len(n) < 64 for n in names)
  assert sum(n.endswith("_rank1of2.tfrakv") for n in names) == 2
  assert sum(n.endswith("_rank1of2.tfraseq") for n in names) == 1
  target = de.Variable(dim=DIM, name=long_name, short_file_name=True)
  with pytest.raises(tf.errors.NotFoundError):
    target.load_from_file_system(str(tmp_path), proc_size=2, proc_rank=0)
  target.load_from_file_system(str(tmp_path), proc_size=2, proc_rank=1)
  samples.assert_same_content(samples.content(target), ref)


def test_corrupt_file_loads_nothing(samples, tmp_path):
  source, _ = filled(samples, tf.int64, 3)
  source.save_to_file_system(str(tmp_path))
  victim = tmp_path / "emb_mht_3of3.tfrakv"
  data = bytearray(victim.read_bytes())
  data[len(data) // 2] ^= 0xFF
  victim.write_bytes(bytes(data))
  target = de.Variable(dim=DIM, devices=DEVICES, name="emb")
  with pytest.raises(tf.errors.DataLossError):
    target.load_from_file_system(str(tmp_path))
  assert int(target.size()) == 0


def test_missing_files_raise_not_found(tmp_path):
  with pytest.raises(tf.errors.NotFoundError, match="dirpath"):
    de.Variable(dim=DIM, name="nothing").load_from_file_system(str(tmp_path))


def test_bad_proc_rank_is_rejected(tmp_path):
  with pytest.raises(tf.errors.InvalidArgumentError, match="proc_rank"):
    de.Variable(dim=DIM).save_to_file_system(str(tmp_path), proc_size=2,
                                             proc_rank=2)


def test_saved_model_serving_function_reads_saved_rows(tmp_path):
  """A tf.function using a sharded variable exports and serves after load."""
  module = tf.Module()
  module.var = de.Variable(dim=2, initializer=1.0, devices=DEVICES[:2])
  module.var.upsert([1, 4], [[5.0, 5.0], [4.0, 4.0]])

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def serve(ids):
    return de.embedding_lookup(module.var, ids, name="serve")

  module.serve = serve
  tf.saved_model.save(module, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  got = loaded.serve(tf.constant([4, 1, 2], tf.int64)).numpy().tolist()
  assert got == [[4.0, 4.0], [5.0, 5.0], [1.0, 1.0]]


def test_saved_model_with_shadow_variable_serves(tmp_path):
  module = tf.Module()
  module.var = de.Variable(dim=2, initializer=0.5)
  module.var.upsert([3], [[3.0, 3.0]])
  module.shadow = de.shadow_ops.ShadowVariable(module.var, name="shadow")

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def serve(ids):
    return de.shadow_ops.embedding_lookup(module.shadow, ids)

  module.serve = serve
  assert module.var.get_trainable_by_name("shadow") is module.shadow
  tf.saved_model.save(module, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  got = loaded.serve(tf.constant([3, 9], tf.int64)).numpy().tolist()
  assert got == [[3.0, 3.0], [0.5, 0.5]]
