"""Between-graph replication as TFRA's Estimator-era programs run it: a ps
task and two workers (chief and non-chief) in three processes on
127.0.0.1, `replica_device_setter`, tables on `/job:ps`, a wrapped v1 Adam
with `bp_v2=True` and `MonitoredTrainingSession`: both workers train to
the end (cluster_task.py). Servers are stopped by pid.
"""

import json
import socket
import subprocess
from pathlib import Path

import numpy as np

import cluster_task

import pyproc

STEPS = 12
SCRIPT = str(Path(__file__).with_name("cluster_task.py"))


def _free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def test_chief_and_non_chief_workers_both_train_to_the_end(tmp_path):
  cluster = {"ps": [f"127.0.0.1:{_free_port()}"],
             "worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
  procs = []
  try:
    for job, index in [("ps", 0), ("worker", 0), ("worker", 1)]:
      procs.append(subprocess.Popen(
          pyproc.python(SCRIPT, json.dumps(cluster), job, str(index),
                        str(tmp_path / "ckpt"), str(STEPS)),
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
          cwd=str(tmp_path)))
    results = []
    for proc in procs[1:]:
      out, err = proc.communicate(timeout=150)
      assert proc.returncode == 0, err[-3000:]
      results.append(json.loads(out.strip().splitlines()[-1]))
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()

  assert [r["steps"] for r in results] == [STEPS, STEPS]
  # Each worker's own steps count once on the shared global step; the one
  # finishing last saw both workers' steps.
  assert max(r["global_step"] for r in results) == 2 * STEPS
  ids = set()
  for index in (0, 1):
    for batch, _ in cluster_task.batches(index, STEPS):
      ids.update(batch.reshape(-1).tolist())
  assert max(r["size"] for r in results) == len(ids)
  assert all(np.isfinite(r["losses"]).all() for r in results)
  assert (tmp_path / "ckpt" / "checkpoint").exists()
