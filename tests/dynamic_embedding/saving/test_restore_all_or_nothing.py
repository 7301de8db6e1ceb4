"""A restore or load that fails part-way leaves the variable as it was.

Files are verified whole before any row is applied, so the failures left
are the ones verification cannot see: a file that vanishes or is truncated
after it was verified (another process pruning or rewriting the directory,
an I/O error). The fault is injected right after the real verification, on
the last file read, so that in eager mode the rows of the earlier files are
already in the table when the read fails: the load must roll them back
(eagerly) or never write them (graph, `tf.function`). Rows and, for bounded
variables, their bookkeeping (versions, frequencies, scores) are compared
whole before and after.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from logical_devices import CPU_DEVICES

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding import file_streams

DIM = 3
ROWS = 3000


def _var(kind, save_path=None, shards=2, name="emb"):
  config = None
  if kind == "bounded":
    config = de.CuckooHashTableConfig(max_capacity=100_000,
                                      evict_strategy=de.EvictStrategy.LFU)
  saver = de.FileSystemSaver(save_path=save_path) if save_path else None
  return de.Variable(tf.int64, dim=DIM, devices=CPU_DEVICES[:shards],
                     name=name,
                     kv_creator=de.CuckooHashTableCreator(config=config,
                                                          saver=saver))


def _fill(var, n, start=0, repeats=1):
  keys = np.arange(start, start + n, dtype=np.int64) * 7919 + 3
  for r in range(repeats):
    var.upsert(keys, np.full([n, DIM], start + r, np.float32)
               + np.arange(n, dtype=np.float32)[:, None])


def _state(var):
  """Everything a rollback must bring back, keyed by row."""
  if var.bounded:
    keys, values, versions, freqs, scores, _ = (
        t.numpy() for t in var.export_with_meta())
    columns = zip(values.tolist(), versions.tolist(), freqs.tolist(),
                  scores.tolist())
  else:
    keys, values = (t.numpy() for t in var.export())
    columns = values.tolist()
  return int(var.size()), dict(zip(keys.tolist(), columns))


def _break(path, fault):
  if fault == "vanish":
    os.remove(path)
  else:  # truncate: a torn copy, half the file.
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)


@pytest.fixture
def fault_after_verify(monkeypatch):
  """Arms a fault: after the real verification passes, `path` breaks."""
  def arm(path, fault):
    real = file_streams.verify

    def verify(var, paths, buffer_size, all_ranks=True):
      counts = real(var, paths, buffer_size, all_ranks)

      def hurt(c):
        _break(path, fault)
        return c
      return tf.py_function(hurt, [counts], tf.int64)

    monkeypatch.setattr(file_streams, "verify", verify)
  return arm


FAULTS = [("vanish", tf.errors.NotFoundError),
          ("truncate", tf.errors.DataLossError)]


@pytest.mark.parametrize("fault,error", FAULTS, ids=[f for f, _ in FAULTS])
@pytest.mark.parametrize("target", ["empty", "filled", "bounded"])
@pytest.mark.parametrize("mode", ["eager", "function"])
def test_failed_load_from_file_system_changes_nothing(
    tmp_path, fault_after_verify, fault, error, target, mode):
  source = _var("plain", shards=3)
  _fill(source, ROWS)
  source.save_to_file_system(str(tmp_path))
  names = sorted(n for n in os.listdir(tmp_path) if n.endswith(".tfrakv"))
  assert names == [f"emb_mht_{i}of3.tfrakv" for i in (1, 2, 3)]
  var = _var("bounded" if target == "bounded" else "plain")
  if target != "empty":
    _fill(var, 500, start=ROWS // 2, repeats=3)  # overlaps the files' keys
  before = _state(var)
  fault_after_verify(str(tmp_path / names[-1]), fault)

  def load():
    var.load_from_file_system(str(tmp_path))  # an op, run by tf.function

  with pytest.raises(error):
    load() if mode == "eager" else tf.function(load)()
  assert _state(var) == before


@pytest.mark.parametrize("fault,error", FAULTS, ids=[f for f, _ in FAULTS])
@pytest.mark.parametrize("target", ["empty", "filled", "bounded"])
def test_failed_checkpoint_restore_changes_nothing(
    tmp_path, fault_after_verify, fault, error, target):
  kind = "bounded" if target == "bounded" else "plain"
  saved = _var(kind, save_path=str(tmp_path / "tables"), shards=3)
  _fill(saved, ROWS)
  path = tf.train.Checkpoint(emb=saved).write(str(tmp_path / "ckpt"))
  gen = tmp_path / "tables" / "emb" / "gen-00000001"
  assert sorted(os.listdir(gen))[-1] == "shard_3of3.tfrakv"
  var = _var(kind, save_path=str(tmp_path / "tables"))
  if target != "empty":
    _fill(var, 500, start=ROWS // 2, repeats=3)
  before = _state(var)
  fault_after_verify(str(gen / "shard_3of3.tfrakv"), fault)
  with pytest.raises(error):
    tf.train.Checkpoint(emb=var).read(path)
  assert _state(var) == before


def test_load_that_succeeds_writes_every_row(tmp_path):
  # The oracle for the tests above: the same load without a fault.
  source = _var("plain", shards=3)
  _fill(source, ROWS)
  source.save_to_file_system(str(tmp_path))
  var = _var("bounded")
  _fill(var, 500, start=ROWS // 2, repeats=3)
  var.load_from_file_system(str(tmp_path))
  want = dict(zip(*(t.numpy().tolist() for t in source.export())))
  _, got = _state(var)
  # The 500 keys it held are among the files' 3,000: those take the
  # file's values.
  assert len(got) == ROWS
  for key, row in want.items():
    assert got[key][0] == row
