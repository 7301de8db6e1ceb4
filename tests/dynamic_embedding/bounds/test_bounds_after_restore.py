"""Capacity bounds hold after restores (a checkpoint or files of a bigger
table land in a bounded one), `max_capacity` below the device count is
refused, a TTL table's size counts what its export returns, and two
variables of one name cannot share a FileSystemSaver directory."""

import os

import numpy as np
import pytest
import tensorflow as tf
from logical_devices import CPU_DEVICES

from tensorflow_recommenders_addons import dynamic_embedding as de

CAPACITY, ROWS, BATCHES = 1000, 9000, 9


def _bounded(capacity, shards=1, name="emb", saver=None):
  config = de.CuckooHashTableConfig(max_capacity=capacity,
                                    evict_strategy=de.EvictStrategy.LRU)
  return de.Variable(dim=2, name=name, devices=CPU_DEVICES[:shards],
                     kv_creator=de.CuckooHashTableCreator(config=config,
                                                          saver=saver))


def _filled_big(saver=None):
  """A roomy bounded variable written in BATCHES steps: later batches are
  more recent (LRU keeps them)."""
  big = _bounded(10 * ROWS, saver=saver)
  per = ROWS // BATCHES
  for b in range(BATCHES):
    keys = np.arange(b * per, (b + 1) * per, dtype=np.int64)
    big.upsert(keys, np.stack([keys, -keys], 1).astype(np.float32))
  return big, per


def _restore(how, tmp_path, small, big):
  if how == "checkpoint":
    path = tf.train.Checkpoint(v=big).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(v=small).read(path).assert_consumed()
  else:
    big.save_to_file_system(str(tmp_path / "files"))
    small.load_from_file_system(str(tmp_path / "files"))


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("how", ["checkpoint", "files"])
def test_restoring_more_rows_than_capacity_evicts_by_policy(tmp_path, how,
                                                            shards):
  big, per = _filled_big()
  small = _bounded(CAPACITY, shards)
  _restore(how, tmp_path, small, big)
  keys, values = (t.numpy() for t in small.export())
  assert 0 < len(keys) <= CAPACITY and int(small.size()) == len(keys)
  # Least recently written rows went first: what is kept is from the
  # newest batches, with its saved values.
  assert keys.min() >= ROWS - 2 * per
  np.testing.assert_array_equal(values, np.stack([keys, -keys], 1))


def test_max_capacity_below_the_device_count_is_refused():
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="max_capacity: 2 rows cannot be split over 3"):
    _bounded(2, shards=3)


def test_ttl_size_counts_the_rows_export_returns():
  config = de.CuckooHashTableConfig(max_capacity=1000, ttl=8,
                                    evict_strategy=de.EvictStrategy.TTL)
  var = de.Variable(dim=1, kv_creator=de.CuckooHashTableCreator(config=config))
  var.upsert(tf.constant([1, 2, 3], tf.int64), tf.ones([3, 1]))
  sizes, exported = [], []
  for i in range(14):  # rows expire between the table's periodic sweeps
    var.upsert(tf.constant([10 + i], tf.int64), tf.ones([1, 1]))
    sizes.append(int(var.size()))
    exported.append(len(var.export()[0]))
  assert sizes == exported
  assert min(sizes) < max(sizes)  # rows did expire


def test_two_variables_of_one_name_cannot_share_a_saver(tmp_path):
  saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"),
                             max_to_keep=2)
  first = _bounded(CAPACITY, name="emb", saver=saver)
  second = _bounded(CAPACITY, name="emb", saver=saver)
  first.upsert([1], [[1.0, 1.0]])
  second.upsert([2], [[2.0, 2.0]])
  tf.train.Checkpoint(v=first).write(str(tmp_path / "one"))
  with pytest.raises(tf.errors.FailedPreconditionError,
                     match="two variables named 'emb' save through one"):
    tf.train.Checkpoint(v=second).write(str(tmp_path / "two"))
  # The first variable's checkpoint is intact.
  fresh = _bounded(CAPACITY, name="emb",
                   saver=de.FileSystemSaver(save_path=str(tmp_path / "tables")))
  tf.train.Checkpoint(v=fresh).read(str(tmp_path / "one")).assert_consumed()
  assert fresh.lookup([1]).numpy().tolist() == [[1.0, 1.0]]
  assert os.path.isdir(str(tmp_path / "tables"))
