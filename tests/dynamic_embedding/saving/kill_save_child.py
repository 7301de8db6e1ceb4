"""Child of test_kill_during_save.py: saves checkpoint 1 (every row 1.0),
sets every row to 2.0, prints "saving 2" and saves checkpoint 2, during
which the parent kills it with SIGKILL.

  python kill_save_child.py DIR ROWS
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position


def variable(directory):
  saver = de.FileSystemSaver(save_path=os.path.join(directory, "tables"))
  return de.Variable(tf.int64, dim=16, name="emb", devices=["/CPU:0"] * 4,
                     kv_creator=de.CuckooHashTableCreator(saver=saver))


def main():
  directory, rows = sys.argv[1], int(sys.argv[2])
  var = variable(directory)
  keys = np.arange(rows, dtype=np.int64)
  var.upsert(keys, np.ones([rows, 16], np.float32))
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(emb=var),
                                       directory, max_to_keep=3)
  manager.save()
  var.upsert(keys, np.full([rows, 16], 2.0, np.float32))
  print("saving 2", flush=True)
  manager.save()
  print("saved 2", flush=True)


if __name__ == "__main__":
  main()
