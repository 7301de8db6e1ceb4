"""Loading a directory that is being re-saved yields one save or an error.

`save_to_file_system` brackets its files with a save mark (save_marks.py);
a load that overlaps a save, or finds one interrupted, raises AbortedError
and leaves the variable as it was. The racing test runs a child process
that re-saves in a loop (changing the shard count every save) while this
process loads in a bounded loop: every load is exactly one save, or an
error with nothing changed; never a mix.
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from logical_devices import CPU_DEVICES

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding import file_streams
from tensorflow_recommenders_addons.dynamic_embedding import save_marks

import pyproc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from resave_child import DIM, rows  # noqa: E402  pylint: disable=wrong-import-position
sys.path.remove(HERE)

LOADS = 40          # the racing loop's attempts
DEADLINE_S = 60.0   # ... and its time limit


def _var(key_dtype=tf.int64, shards=2):
  return de.Variable(key_dtype, dim=DIM, name="emb",
                     devices=CPU_DEVICES[:shards])


def _save(directory, k, key_dtype=tf.int64, shards=3):
  var = _var(key_dtype, shards)
  keys, values = rows(k, key_dtype)
  var.upsert(tf.constant(keys, key_dtype), values)
  var.save_to_file_system(str(directory))
  return var


def _content(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), map(tuple, values.numpy().tolist())))


def _which_save(content, key_dtype):
  """The k whose save `content` is, or None when it is no single save."""
  ks = {row[0] for row in content.values()}
  if len(ks) != 1:
    return None
  k = int(ks.pop())
  keys, values = rows(k, key_dtype)
  return k if content == dict(zip(keys, map(tuple, values.tolist()))) else None


def _loaded(var, before):
  """`var`'s rows other than the ones it held `before` a load."""
  return {k: r for k, r in _content(var).items() if k not in before}


def _filled_target(key_dtype=tf.int64):
  var = _var(key_dtype)
  keys = ([b"own-%d" % i for i in range(50)] if key_dtype == tf.string
          else list(range(10**6, 10**6 + 50)))
  var.upsert(tf.constant(keys, key_dtype), np.full([50, DIM], -1, np.float32))
  return var


def test_a_save_in_flight_or_interrupted_is_aborted(tmp_path):
  _save(tmp_path, 1)
  # What a save leaves when it is killed after its first shard file.
  save_marks.write(str(tmp_path / "emb_mht.tfraseq"), save_marks.SAVING)
  target = _filled_target()
  before = _content(target)
  with pytest.raises(tf.errors.AbortedError, match="in progress, or was "
                     "interrupted"):
    target.load_from_file_system(str(tmp_path))
  assert _content(target) == before
  _save(tmp_path, 2)  # the next complete save makes the directory loadable
  fresh = _var()
  fresh.load_from_file_system(str(tmp_path))
  assert _which_save(_content(fresh), tf.int64) == 2


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("shards", [3, 2])
def test_a_save_during_the_load_undoes_it(tmp_path, monkeypatch, mode,
                                          shards):
  _save(tmp_path, 1, shards=3)
  real = file_streams.verify

  def verify_then_resave(var, paths, buffer_size, all_ranks=True):
    counts = real(var, paths, buffer_size, all_ranks)

    def resave(c):  # another process re-saving, between verify and read
      _save(tmp_path, 2, shards=shards)
      return c
    return tf.py_function(resave, [counts], tf.int64)

  monkeypatch.setattr(file_streams, "verify", verify_then_resave)
  target = _filled_target()
  before = _content(target)

  def load():
    target.load_from_file_system(str(tmp_path))

  with pytest.raises((tf.errors.AbortedError, tf.errors.NotFoundError)):
    load() if mode == "eager" else tf.function(load)()
  assert _content(target) == before
  monkeypatch.undo()
  load()  # once the directory is still, the load is the newest save
  assert _which_save(_loaded(target, before), tf.int64) == 2


def test_load_entire_dir_is_guarded_by_every_mark(tmp_path, monkeypatch):
  _save(tmp_path, 1)
  other = de.Variable(tf.int64, dim=DIM, name="other")
  other.upsert(tf.constant([5], tf.int64), np.ones([1, DIM], np.float32))
  other.save_to_file_system(str(tmp_path))
  save_marks.write(str(tmp_path / "other_mht.tfraseq"), save_marks.SAVING)
  target = _var()
  with pytest.raises(tf.errors.AbortedError, match="other_mht.tfraseq"):
    target.load_from_file_system(str(tmp_path), load_entire_dir=True)
  assert int(target.size()) == 0
  # A load of one variable is guarded by its own mark only.
  target.load_from_file_system(str(tmp_path))
  assert _which_save(_content(target), tf.int64) == 1


@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string],
                         ids=["int64", "string"])
def test_loads_racing_a_resaving_process_see_one_save_or_fail(
    tmp_path, key_dtype):
  child = subprocess.Popen(
      pyproc.python(os.path.join(HERE, "resave_child.py"), str(tmp_path),
                    key_dtype.name), stdout=subprocess.PIPE, text=True,
      env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
  try:
    assert child.stdout.readline().startswith("saved "), "child did not save"
    outcomes = {"loaded": 0}
    seen = set()
    start = time.monotonic()
    for _ in range(LOADS):
      if time.monotonic() - start > DEADLINE_S:
        break
      target = _filled_target(key_dtype)
      before = _content(target)
      try:
        target.load_from_file_system(str(tmp_path))
      except (tf.errors.AbortedError, tf.errors.NotFoundError,
              tf.errors.DataLossError) as e:
        outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
        assert _content(target) == before, "a failed load changed rows"
        continue
      k = _which_save(_loaded(target, before), key_dtype)
      assert k is not None, "a load mixed two saves"
      assert _content(target).items() >= before.items()
      outcomes["loaded"] += 1
      seen.add(k)
    print(f"racing loads ({key_dtype.name}): {outcomes}, saves seen: "
          f"{len(seen)}")
    assert outcomes["loaded"] > 0, outcomes
  finally:
    child.kill()
    child.wait()


@pytest.mark.parametrize("code,error", [
    (10, tf.errors.AbortedError), (5, tf.errors.NotFoundError),
    (15, tf.errors.DataLossError)])
def test_raise_status_fails_a_graph_with_the_code_it_is_given(code, error):
  # What a graph-mode load uses to raise a Python check's own error.
  raise_status = file_streams._LIB.ops.tfra_raise_status  # pylint: disable=protected-access
  raise_status(0, "ignored")  # 0 is OK
  with pytest.raises(error, match="the message"):
    tf.function(lambda: raise_status(code, "the message") and None)()
  with pytest.raises(tf.errors.InvalidArgumentError, match="code: 99"):
    raise_status(99, "x")
