"""Checkpoint and SavedModel round trips of de.CuckooHashTable."""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 2


def make_table(key_dtype, value_dtype, **kwargs):
  return de.CuckooHashTable(key_dtype, value_dtype,
                            tf.zeros([DIM], value_dtype), **kwargs)


def test_checkpoint_restore_replaces_content(samples, key_dtype, value_dtype,
                                             tmp_path):
  source = make_table(key_dtype, value_dtype)
  keys = samples.keys(key_dtype, 30)
  values = samples.values(value_dtype, [30, DIM], seed=1)
  source.insert(keys, values)
  path = tf.train.Checkpoint(table=source).save(str(tmp_path / "ckpt"))

  target = make_table(key_dtype, value_dtype)
  target.insert(samples.keys(key_dtype, 5, start=100),
                samples.values(value_dtype, [5, DIM], seed=2))
  tf.train.Checkpoint(table=target).restore(path).assert_consumed()
  samples.assert_same_content(samples.content(target),
                              samples.as_dict(keys, values))


def test_checkpoint_of_empty_table_restores_empty(samples, key_dtype,
                                                  tmp_path):
  path = tf.train.Checkpoint(table=make_table(key_dtype, tf.float32)).save(
      str(tmp_path / "ckpt"))
  target = make_table(key_dtype, tf.float32)
  target.insert(samples.keys(key_dtype, 3), tf.ones([3, DIM]))
  tf.train.Checkpoint(table=target).restore(path).assert_consumed()
  assert int(target.size()) == 0


def test_checkpoint_false_saves_no_table_tensors(samples, tmp_path):
  table = make_table(tf.int64, tf.float32, checkpoint=False)
  table.insert(samples.keys(tf.int64, 4), tf.ones([4, DIM]))
  path = tf.train.Checkpoint(table=table).save(str(tmp_path / "ckpt"))
  names = [name for name, _ in tf.train.list_variables(path)]
  assert [n for n in names if n.startswith("table/")] == []


def test_checkpoint_false_table_keeps_content_on_restore(samples, tmp_path):
  source = make_table(tf.int64, tf.float32)
  source.insert(samples.keys(tf.int64, 4), tf.ones([4, DIM]))
  path = tf.train.Checkpoint(table=source).save(str(tmp_path / "ckpt"))
  target = make_table(tf.int64, tf.float32, checkpoint=False)
  keys = samples.keys(tf.int64, 2, start=10)
  target.insert(keys, tf.fill([2, DIM], 7.0))
  tf.train.Checkpoint(table=target).restore(path)
  samples.assert_same_content(samples.content(target),
                              {k: np.full(DIM, 7.0)
                               for k in samples.py_keys(keys)})


class _Lookup(tf.Module):

  def __init__(self, table):
    super().__init__()
    self.table = table
    self.lookup = tf.function(
        lambda keys: self.table.lookup(keys),
        input_signature=[tf.TensorSpec([None], table.key_dtype)])


def test_saved_model_serves_the_saved_content(samples, key_dtype, tmp_path):
  table = make_table(key_dtype, tf.float32)
  keys = samples.keys(key_dtype, 6)
  values = samples.values(tf.float32, [6, DIM], seed=3)
  table.insert(keys, values)
  export_dir = str(tmp_path / "model")
  tf.saved_model.save(
      _Lookup(table), export_dir,
      options=tf.saved_model.SaveOptions(namespace_whitelist=["TFRA"]))
  table.clear()  # the model must hold its own copy

  loaded = tf.saved_model.load(export_dir)
  probe = samples.keys(key_dtype, 8)
  np.testing.assert_array_equal(
      samples.rows(loaded.lookup(probe)),
      samples.expected(samples.as_dict(keys, values), probe,
                       tf.zeros([DIM]), DIM))
