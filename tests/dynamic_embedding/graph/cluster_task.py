"""One task of a between-graph TF1 cluster on 127.0.0.1, TFRA-style, for
test_graph_cluster.py: `python cluster_task.py <cluster json> <job> <index>
<checkpoint dir> <steps>`.

The ps task serves until it is killed. A worker builds the model under
`replica_device_setter` (tables sharded on the ps task, dense variables on
the ps, lookup wrappers on the worker), trains `<steps>` steps of its own
batches with a wrapped `tf.compat.v1.train.AdamOptimizer` through
`MonitoredTrainingSession` (the chief initialises and checkpoints, the
other worker waits until the chief's variables are ready) and prints one
JSON line: its steps, losses, the global step and the table's size.

The workers meet through files next to the checkpoint dir: a non-chief
opens its session once the chief's is open (TF's SessionManager, polling
for readiness, would otherwise sleep its fixed 30 s after a first poll that
comes too early), and the chief starts training once every non-chief has
opened its session, so the workers train at the same time.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

DIM = 4


def model_fn(features, labels):
  """TFRA's Estimator-era model: sharded table, unique lookup, a dense
  layer, a wrapped v1 Adam with bp_v2 (workers add up their updates)."""
  var = de.get_variable("emb", dim=DIM, initializer=0.1, bp_v2=True,
                        devices=["/job:ps/task:0", "/job:ps/task:0"])
  emb = de.embedding_lookup_unique(var, features, name="features")
  weights = tf.compat.v1.get_variable(
      "weights", [2 * DIM, 1],
      initializer=tf.compat.v1.constant_initializer(0.1))
  logits = tf.matmul(tf.reshape(emb, [-1, 2 * DIM]), weights)
  loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=labels, logits=logits))
  opt = de.DynamicEmbeddingOptimizer(tf.compat.v1.train.AdamOptimizer(0.05))
  step = tf.compat.v1.train.get_or_create_global_step()
  return var, loss, opt.minimize(loss, global_step=step), step


def batches(index, steps):
  rng = np.random.default_rng(index)
  for _ in range(steps):
    ids = rng.integers(0, 50, size=(8, 2)).astype(np.int64) + 100 * index
    yield ids, (ids[:, :1] % 2).astype(np.float32)


def _wait_for(path, timeout_s=120):
  deadline = time.monotonic() + timeout_s
  while not path.exists():
    if time.monotonic() > deadline:
      sys.exit(f"cluster_task: {path} did not appear in {timeout_s} s")
    time.sleep(0.05)


def main():
  cluster, job, index = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
  server = tf.distribute.Server(tf.train.ClusterSpec(cluster), job_name=job,
                                task_index=index, start=True)
  if job == "ps":
    server.join()
    return
  tf.compat.v1.disable_eager_execution()
  setter = tf.compat.v1.train.replica_device_setter(
      worker_device=f"/job:worker/task:{index}", cluster=cluster)
  with tf.compat.v1.device(setter):
    ids = tf.compat.v1.placeholder(tf.int64, [None, 2])
    labels = tf.compat.v1.placeholder(tf.float32, [None, 1])
    var, loss, train, step = model_fn(ids, labels)
    size = var.size()
  losses = []
  # A worker's sessions see only the ps tasks and itself (Estimator sets the
  # same filters): the non-chief opens a new session at every readiness
  # poll, and without filters that session waits for every task of the
  # cluster, the chief included, which may already have finished and gone.
  config = tf.compat.v1.ConfigProto(
      device_filters=["/job:ps", f"/job:worker/task:{index}"])
  meeting = Path(sys.argv[4]).parent
  if index != 0:
    _wait_for(meeting / "chief_session_open")
  with tf.compat.v1.train.MonitoredTrainingSession(
      master=server.target, is_chief=index == 0, config=config,
      checkpoint_dir=sys.argv[4] if index == 0 else None,
      save_checkpoint_steps=5) as sess:
    if index == 0:
      (meeting / "chief_session_open").touch()
      for other in range(1, len(cluster["worker"])):
        _wait_for(meeting / f"worker_{other}_session_open")
    else:
      (meeting / f"worker_{index}_session_open").touch()
    for batch, target in batches(index, int(sys.argv[5])):
      losses.append(float(sess.run([loss, train],
                                   {ids: batch, labels: target})[0]))
    result = {"steps": len(losses), "losses": losses,
              "global_step": int(sess.run(step)), "size": int(sess.run(size))}
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  main()
