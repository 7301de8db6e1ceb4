"""Two FileSystemSaver saves in flight into one directory (two threads, two
savers of same-named variables) each get a generation directory of their
own: every checkpoint restores exactly the rows it saved."""

import threading

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 4
ROWS = 20000
ROUNDS = 4


def _var(save_path, sign):
  saver = de.FileSystemSaver(save_path=save_path)
  var = de.Variable(tf.int64, dim=DIM, name="emb",
                    kv_creator=de.CuckooHashTableCreator(saver=saver))
  keys = np.arange(ROWS, dtype=np.int64) * 3 + (0 if sign > 0 else 1)
  values = np.full([ROWS, DIM], sign, np.float32)
  var.upsert(tf.constant(keys), values)
  return var, dict(zip(keys.tolist(), values.tolist()))


def _content(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def test_two_saves_in_flight_never_share_a_generation(tmp_path):
  tables = str(tmp_path / "tables")
  pairs = [_var(tables, 1.0), _var(tables, -1.0)]
  paths = {}
  for r in range(ROUNDS):
    barrier = threading.Barrier(2)

    def save(i, r=r, barrier=barrier):
      ckpt = tf.train.Checkpoint(emb=pairs[i][0])
      barrier.wait()
      paths[(r, i)] = ckpt.save(str(tmp_path / f"ckpt{i}_{r}"))

    threads = [threading.Thread(target=save, args=(i,)) for i in (0, 1)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
  def gen(path):
    reader = tf.train.load_checkpoint(path)
    name, = [n for n in reader.get_variable_to_shape_map()
             if n.endswith("-fs_generation")]
    return reader.get_tensor(name)

  gens = [gen(p) for p in paths.values()]
  assert len(set(gens)) == 2 * ROUNDS
  for (r, i), path in sorted(paths.items()):
    var = pairs[i][0]
    var.upsert(tf.constant([10**9], tf.int64), np.zeros([1, DIM], np.float32))
    tf.train.Checkpoint(emb=var).restore(path)
    assert _content(var) == pairs[i][1]
