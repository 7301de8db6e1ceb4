"""A load reads exactly one complete save, or raises and changes nothing.

Shard files are named `<stem>_<i>of<n>[_rank<r>of<p>].tfrakv`; before any
row is applied the names must form one complete set: every shard 1..n (of
every rank, where all are read) present and one `n` per variable. A missing
file is NotFound naming it, files of two saves with other shard counts are
DataLoss; in both cases the variable keeps its rows. A save removes the
files of an earlier save of the same variable with another shard count.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from logical_devices import CPU_DEVICES

DIM = 2


def _var(shards, name="emb", saver=None):
  creator = de.CuckooHashTableCreator(saver=saver) if saver else None
  kwargs = {"kv_creator": creator} if creator else {}
  return de.Variable(tf.int64, dim=DIM, devices=CPU_DEVICES[:shards],
                     name=name, **kwargs)


def _fill(var, n, start=0, offset=0.0):
  keys = np.arange(start, start + n, dtype=np.int64) * 7 + 1
  values = np.arange(n * DIM, dtype=np.float32).reshape(n, DIM) + offset
  var.upsert(keys, values)
  return dict(zip(keys.tolist(), values.tolist()))


def _content(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def _unchanged_after(var, error, fragment, load):
  before = _content(var)
  with pytest.raises(error) as info:
    load()
  assert fragment in str(info.value), str(info.value)
  assert _content(var) == before


@pytest.mark.parametrize("missing", [1, 2, 3])
def test_load_with_a_missing_shard_file_is_not_found(tmp_path, missing):
  source = _var(3)
  _fill(source, 3000)
  source.save_to_file_system(str(tmp_path))
  gone = tmp_path / f"emb_mht_{missing}of3.tfrakv"
  gone.unlink()
  target = _var(2)
  _fill(target, 10, start=10**6)
  _unchanged_after(target, tf.errors.NotFoundError, str(gone),
                   lambda: target.load_from_file_system(str(tmp_path)))


def test_load_of_two_saves_with_other_shard_counts_is_data_loss(tmp_path):
  # Files left by another tool (or an older version) next to a new save.
  for shards, d in [(3, tmp_path / "a"), (2, tmp_path)]:
    source = _var(shards)
    _fill(source, 60, offset=shards)
    source.save_to_file_system(str(d))
  for f in os.listdir(tmp_path / "a"):
    os.rename(tmp_path / "a" / f, tmp_path / f)
  target = _var(1)
  _fill(target, 5, start=10**6)
  _unchanged_after(target, tf.errors.DataLossError, "two saves",
                   lambda: target.load_from_file_system(str(tmp_path)))


@pytest.mark.parametrize("first,second", [(3, 2), (1, 3), (2, 1)])
def test_resave_with_another_shard_count_loads_only_the_new_save(
    tmp_path, first, second):
  old = _var(first)
  _fill(old, 100, offset=100.0)
  old.save_to_file_system(str(tmp_path))
  new = _var(second)
  ref = _fill(new, 50, start=25)  # keys 0..24 were deleted, 25..49 changed
  new.save_to_file_system(str(tmp_path))
  names = sorted(n for n in os.listdir(tmp_path) if n.endswith(".tfrakv"))
  assert names == [f"emb_mht_{i}of{second}.tfrakv"
                   for i in range(1, second + 1)]
  target = _var(2)
  target.load_from_file_system(str(tmp_path))
  assert _content(target) == ref


def test_resave_inside_a_function_drops_the_old_shard_count(tmp_path):
  old = _var(3)
  _fill(old, 30)
  old.save_to_file_system(str(tmp_path))
  new = _var(2)
  ref = _fill(new, 20, offset=9.0)
  @tf.function
  def save():
    new.save_to_file_system(str(tmp_path))

  save()
  target = _var(1)
  target.load_from_file_system(str(tmp_path))
  assert _content(target) == ref


@pytest.mark.parametrize("missing", ["shard_1of3.tfrakv", "shard_3of3.tfrakv"])
def test_saver_restore_with_a_missing_shard_file_is_not_found(tmp_path,
                                                               missing):
  saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"))
  var = _var(3, saver=saver)
  _fill(var, 3000)
  path = tf.train.Checkpoint(emb=var).save(str(tmp_path / "ckpt"))
  gone = tmp_path / "tables" / "emb" / "gen-00000001" / missing
  gone.unlink()
  _fill(var, 10, start=10**6)
  _unchanged_after(var, tf.errors.NotFoundError, missing,
                   lambda: tf.train.Checkpoint(emb=var).restore(path))


def test_saver_restore_in_one_process_needs_every_rank(tmp_path):
  # Two ranks saved; rank 1's files are gone; one process restores all.
  for rank in (0, 1):
    saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"),
                               proc_size=2, proc_rank=rank)
    var = _var(2, saver=saver)
    _fill(var, 40, start=40 * rank)
    path = tf.train.Checkpoint(emb=var).save(str(tmp_path / f"ckpt{rank}"))
  gen = tmp_path / "tables" / "emb" / "gen-00000001"
  for f in os.listdir(gen):
    if "rank1of2" in f:
      (gen / f).unlink()
  saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"))
  target = _var(1, saver=saver)
  _fill(target, 3, start=10**6)
  _unchanged_after(target, tf.errors.NotFoundError, "rank1of2",
                   lambda: tf.train.Checkpoint(emb=target).restore(path))
