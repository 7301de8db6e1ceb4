"""A save killed with SIGKILL part-way leaves the previous checkpoint whole:
the child is killed as soon as a shard file of the second generation is
being written, and the latest checkpoint then restores every row of the
first save, unmixed with the second."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "kill_save_child.py")
ROWS = 400_000


def _partial_file(gen_dir):
  if not os.path.isdir(gen_dir):
    return False
  return any(".tmp-" in name for name in os.listdir(gen_dir))


def test_sigkill_mid_save_leaves_the_previous_checkpoint_loadable(tmp_path):
  directory = str(tmp_path)
  gen2 = os.path.join(directory, "tables", "emb", "gen-00000002")
  child = subprocess.Popen([sys.executable, CHILD, directory, str(ROWS)],
                           stdout=subprocess.PIPE, text=True)
  try:
    assert child.stdout.readline().strip() == "saving 2"
    deadline = time.monotonic() + 60
    while not _partial_file(gen2):
      assert child.poll() is None, "the second save finished before a kill"
      assert time.monotonic() < deadline
      time.sleep(0.0005)
    child.send_signal(signal.SIGKILL)
  finally:
    child.kill()
    child.wait()
  assert child.returncode == -signal.SIGKILL

  latest = tf.train.latest_checkpoint(directory)
  assert latest.endswith("ckpt-1")
  sys.path.insert(0, os.path.dirname(CHILD))
  try:
    from kill_save_child import variable  # pylint: disable=import-outside-toplevel
  finally:
    sys.path.pop(0)
  var = variable(directory)
  tf.train.Checkpoint(emb=var).restore(latest).assert_consumed()
  keys, values = var.export()
  assert sorted(keys.numpy().tolist()) == list(range(ROWS))
  assert np.all(values.numpy() == 1.0)
  # The next save skips the orphaned generation's number.
  path = tf.train.Checkpoint(emb=var).save(os.path.join(directory, "next"))
  assert path
  assert max(var.file_system_saver.generations(var)) >= 2
  fresh = variable(directory)
  tf.train.Checkpoint(emb=fresh).restore(path)
  assert int(fresh.size()) == ROWS
