"""Quick start: create a dynamic-embedding table, insert, look up, save, load.

Run: .venv/bin/python examples/quickstart.py
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import tensorflow_recommenders_addons as tfra  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position


def main():
  dim = 8
  table = de.CuckooHashTable(key_dtype=tf.string, value_dtype=tf.float32,
                             default_value=tf.zeros([dim]), name="item_emb")
  items = tf.constant(["item:%d" % i for i in range(100_000)])
  rows = tf.random.stateless_normal([100_000, dim], seed=[1, 2])
  table.insert(items, rows)
  print(f"tensorflow_recommenders_addons {tfra.__version__} on TensorFlow {tf.__version__}")
  print(f"inserted {int(table.size()):,} rows of dim {dim}")

  query = tf.constant([["item:7", "item:42"], ["never-seen", "item:99999"]])
  values, exists = table.lookup(query, return_exists=True)
  print(f"lookup of ids with shape {query.shape} -> values {values.shape}")
  print("found:", exists.numpy().tolist())
  assert np.allclose(values[0, 0], rows[7]) and not exists[1, 0]

  # Training-style update: add deltas to existing rows, insert new ones.
  table.accum(["item:7", "brand-new"], [[1.0] * dim, [0.5] * dim], [True, False])
  print("item:7 after accum, first 3 dims:", np.round(table.lookup(["item:7"])[0, :3].numpy(), 3))

  workdir = tempfile.mkdtemp(prefix="tfra-quickstart-")
  checkpoint = tf.train.Checkpoint(table=table)
  path = checkpoint.save(os.path.join(workdir, "ckpt"))
  table.save_to_file_system(os.path.join(workdir, "files"))

  restored = de.CuckooHashTable(tf.string, tf.float32, tf.zeros([dim]), name="item_emb")
  tf.train.Checkpoint(table=restored).restore(path)
  from_files = de.CuckooHashTable(tf.string, tf.float32, tf.zeros([dim]), name="item_emb")
  from_files.load_from_file_system(os.path.join(workdir, "files"))
  same = all(np.array_equal(t.lookup(items[:1000]), table.lookup(items[:1000]))
             for t in (restored, from_files))
  print(f"saved to {workdir}; checkpoint and file restores match: {same}")
  assert same and int(restored.size()) == int(table.size())


if __name__ == "__main__":
  main()
