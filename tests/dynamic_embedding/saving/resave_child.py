"""Child of test_load_during_resave.py: re-saves one variable into DIR with
`save_to_file_system` until killed, save k holding the rows of `rows(k)`
and changing the shard count every other save (3, 3, 2, 2, ...: the
device count changed),
so that a load mixing two saves is visible. Prints "saved <k>" after each
save.

  python resave_child.py DIR KEY_DTYPE
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

DIM = 4
ROWS = 20_000


def rows(k, key_dtype):
  """Keys and values of save k: a key range that moves with k (rows of
  earlier saves are deleted in later ones), every value equal to k."""
  start = (k % 5) * 300
  ints = np.arange(start, start + ROWS + (k % 3) * 500, dtype=np.int64)
  keys = ([b"id-%d" % i for i in ints] if key_dtype == tf.string else ints)
  return keys, np.full([len(ints), DIM], float(k), np.float32)


def main():
  directory, key_dtype = sys.argv[1], tf.as_dtype(sys.argv[2])
  k = 0
  while True:
    k += 1
    var = de.Variable(key_dtype, dim=DIM, name="emb",
                      devices=["/CPU:0"] * (3 if k % 4 in (1, 2) else 2))
    keys, values = rows(k, key_dtype)
    var.upsert(tf.constant(keys, key_dtype), values)
    var.save_to_file_system(directory)
    print(f"saved {k}", flush=True)
    time.sleep(0.01 * (k % 4))  # a trainer saves now and then


if __name__ == "__main__":
  main()
