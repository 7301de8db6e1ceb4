"""`de.Variable` in a TF1 graph run by `tf.compat.v1.Session`: tables keep
their rows from run to run, `tf.compat.v1.train.Saver()` saves and restores
them, and lookup wrappers are local variables that no Saver stores.

Each test builds its own `tf.Graph` (the suite runs eagerly otherwise); the
references are Python dicts.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
from logical_devices import CPU_DEVICES

from tensorflow_recommenders_addons import dynamic_embedding as de

KEYS = {tf.int64: [3, -7, 2**40, 11, 0], tf.string: [b"a", b"", b"\x00z",
                                                     b"user/9", b"q"]}


def _rows(n, dim, scale=1.0):
  return (np.arange(n * dim, dtype=np.float32).reshape(n, dim) + 1.0) * scale


def _content(sess, var):
  keys, values = sess.run(var.export())
  return {k: v.tolist() for k, v in zip(keys.tolist(), values)}


@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("key_dtype", [tf.int64, tf.string])
def test_rows_written_in_one_run_are_read_in_the_next(shards, key_dtype):
  keys = KEYS[key_dtype]
  rows = _rows(len(keys), 2)
  with tf.Graph().as_default():
    var = de.get_variable("emb", key_dtype=key_dtype, dim=2,
                          devices=CPU_DEVICES[:shards], initializer=-1.0)
    write = var.upsert(keys[:3], rows[:3])
    read = var.lookup(keys)
    with tf.compat.v1.Session() as sess:
      sess.run(write)
      first = sess.run(read)
      sess.run(var.accum(keys[:1], rows[:1], rows[:1] * 3.0, [True]))
      second = sess.run(read)
  expected = np.concatenate([rows[:3], -np.ones([2, 2], np.float32)])
  np.testing.assert_array_equal(first, expected)
  expected[0] *= 3.0
  np.testing.assert_array_equal(second, expected)


def test_each_session_has_its_own_tables():
  """Local sessions own their devices, as TF's MutableHashTable does: a new
  session of the same graph starts empty (a cluster's sessions share the
  tables on their devices; test_graph_programs.py)."""
  with tf.Graph().as_default():
    var = de.Variable(dim=1, name="per_session")
    write = var.upsert([1], [[5.0]])
    size = var.size()
    with tf.compat.v1.Session() as sess:
      sess.run(write)
      assert sess.run(size) == 1
    with tf.compat.v1.Session() as sess:
      assert sess.run(size) == 0


@pytest.mark.parametrize("save_shards,restore_shards", [(2, 2), (2, 3), (1, 2)])
def test_saver_round_trip_restores_every_row(tmp_path, save_shards,
                                             restore_shards):
  keys = KEYS[tf.int64]
  rows = _rows(len(keys), 3)

  def build(shards):
    emb = de.get_variable("emb", dim=3, devices=CPU_DEVICES[:shards])
    other = de.Variable(key_dtype=tf.string, dim=1, name="scope/other")
    dense = tf.compat.v1.get_variable(
        "dense", [2], initializer=tf.compat.v1.constant_initializer(4.0))
    return emb, other, dense

  with tf.Graph().as_default():
    emb, other, dense = build(save_shards)
    writes = [emb.upsert(keys, rows), other.upsert([b"x", b"y"], [[1.0], [2.0]])]
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(writes)
      path = saver.save(sess, os.path.join(tmp_path, "model"))
  assert sorted(name for name, _ in tf.train.list_variables(path)) == [
      "dense", "emb-keys", "emb-values", "scope/other-keys",
      "scope/other-values"]

  with tf.Graph().as_default():
    emb, other, dense = build(restore_shards)
    stale = emb.upsert([12345], [[9.0, 9.0, 9.0]])
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(stale)
      saver.restore(sess, path)
      assert _content(sess, emb) == dict(zip(keys, rows.tolist()))
      assert _content(sess, other) == {b"x": [1.0], b"y": [2.0]}
      np.testing.assert_array_equal(sess.run(dense), [4.0, 4.0])


def test_variables_of_one_name_save_under_distinct_names(tmp_path):
  with tf.Graph().as_default():
    first, second = de.Variable(dim=1, name="twin"), de.Variable(dim=1,
                                                                  name="twin")
    writes = [first.upsert([1], [[1.0]]), second.upsert([2], [[2.0]])]
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      sess.run(writes)
      path = saver.save(sess, os.path.join(tmp_path, "model"))
  with tf.Graph().as_default():
    first, second = de.Variable(dim=1, name="twin"), de.Variable(dim=1,
                                                                  name="twin")
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      saver.restore(sess, path)
      assert _content(sess, first) == {1: [1.0]}
      assert _content(sess, second) == {2: [2.0]}


def test_checkpoint_false_is_not_saved(tmp_path):
  with tf.Graph().as_default():
    de.Variable(dim=1, name="kept")
    de.Variable(dim=1, name="skipped", checkpoint=False)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
      path = saver.save(sess, os.path.join(tmp_path, "model"))
  assert [name for name, _ in tf.train.list_variables(path)] == [
      "kept-keys", "kept-values"]


def test_lookup_wrappers_are_local_variables(tmp_path):
  """Wrappers hold one batch of one worker: each session initialises its
  own with the local variables, and no Saver stores them; gradients still
  reach them (they are trainable)."""
  with tf.Graph().as_default():
    var = de.get_variable("emb", dim=2, initializer=0.5)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    out, wrapper = de.embedding_lookup_unique(var, ids, return_trainable=True)
    grad = tf.gradients(tf.reduce_sum(out * out), [wrapper])[0]
    assert wrapper in tf.compat.v1.local_variables()
    assert wrapper.ids in tf.compat.v1.local_variables()
    assert wrapper in tf.compat.v1.trainable_variables()
    assert not tf.compat.v1.global_variables()
    not_ready = tf.compat.v1.report_uninitialized_variables()
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.local_variables_initializer())
      assert sess.run(not_ready).tolist() == []
      values, grads = sess.run([out, grad], {ids: [4, 9, 4]})
      path = tf.compat.v1.train.Saver().save(
          sess, os.path.join(tmp_path, "model"))
  np.testing.assert_array_equal(values, np.full([3, 2], 0.5, np.float32))
  np.testing.assert_array_equal(grads, [[2.0, 2.0], [1.0, 1.0]])
  assert [name for name, _ in tf.train.list_variables(path)] == [
      "emb-keys", "emb-values"]


def test_wrappers_stay_on_the_worker_under_replica_device_setter():
  """replica_device_setter sends variables to the ps; a wrapper is placed
  where its lookup runs instead, so workers never share one."""
  with tf.Graph().as_default() as graph:
    setter = tf.compat.v1.train.replica_device_setter(
        ps_tasks=1, worker_device="/job:worker/task:1", ps_device="/job:ps")
    with tf.compat.v1.device(setter):
      var = de.get_variable("emb", dim=2,
                            devices=["/job:ps/task:0", "/job:ps/task:0"])
      _, wrapper = de.embedding_lookup_unique(var, tf.constant([1], tf.int64),
                                              return_trainable=True)
      step = tf.compat.v1.train.get_or_create_global_step()
  tables = [op.device for op in graph.get_operations()
            if op.type == "TFRA>HashTableOfTensors"]
  assert tables == ["/job:ps/task:0"] * 2
  assert wrapper.handle.op.device == "/job:worker/task:1"
  assert wrapper.ids.handle.op.device == "/job:worker/task:1"
  assert step.handle.op.device == "/job:ps/task:0"
