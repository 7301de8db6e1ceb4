"""`de.math` and `de.data_flow` (TFRA's names and arguments) equal
TensorFlow's ops, and TFRA names this release lacks say what to use."""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de


def _sparse():
  return tf.sparse.SparseTensor([[0, 1], [0, 3], [3, 2]], [1.5, -2.0, 4.0],
                                [5, 4])


def test_sparse_fill_empty_rows_equals_tf():
  out, empty = de.math.sparse_fill_empty_rows(sp_input=_sparse(),
                                              default_value=9.0)
  want, want_empty = tf.sparse.fill_empty_rows(_sparse(), 9.0)
  np.testing.assert_array_equal(tf.sparse.to_dense(out),
                                tf.sparse.to_dense(want))
  assert empty.numpy().tolist() == want_empty.numpy().tolist() == [
      False, True, True, False, True]


def test_sparse_reshape_equals_tf():
  out = de.math.sparse_reshape(sp_input=_sparse(), shape=[2, -1])
  np.testing.assert_array_equal(
      tf.sparse.to_dense(out),
      tf.sparse.to_dense(tf.sparse.reshape(_sparse(), [2, 10])))


@pytest.mark.parametrize("num_segments", [None, 4])
def test_sparse_segment_sum_equals_tf(num_segments):
  data = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3))
  args = dict(indices=[3, 0, 0, 2], segment_ids=[0, 0, 2, 2])
  got = de.math.sparse_segment_sum(data, num_segments=num_segments, **args)
  want = tf.sparse.segment_sum(data, num_segments=num_segments, **args)
  np.testing.assert_array_equal(got, want)


def test_dynamic_partition_and_stitch_round_trip_like_tf():
  data = tf.constant([[1.0], [2.0], [3.0], [4.0], [5.0]])
  partitions = tf.constant([2, 0, 2, 1, 0])
  parts = de.data_flow.dynamic_partition(data=data, partitions=partitions,
                                         num_partitions=3)
  want = tf.dynamic_partition(data, partitions, 3)
  assert [p.numpy().tolist() for p in parts] == [
      p.numpy().tolist() for p in want]
  indices = tf.dynamic_partition(tf.range(5), partitions, 3)
  stitched = de.data_flow.dynamic_stitch(indices=indices, data=parts,
                                         use_fast=False)
  np.testing.assert_array_equal(stitched, data)


@pytest.mark.parametrize("module,name,alternative", [
    ("de", "HkvHashTableCreator", "de.CuckooHashTableCreator"),
    ("de", "RedisTableConfig", "de.CuckooHashTableCreator"),
    ("de.keras.layers", "HvdAllToAllEmbedding", "MirroredStrategy"),
    ("de.keras.callbacks", "DEHvdModelCheckpoint",
     "de.keras.callbacks.ModelCheckpoint"),
    ("de.train", "DEHvdSaver", "MirroredStrategy"),
    ("de", "DistributedVariableWrapper", "MonitoredTrainingSession"),
])
def test_missing_tfra_names_say_what_to_use(module, name, alternative):
  obj = {"de": de, "de.keras.layers": de.keras.layers,
         "de.keras.callbacks": de.keras.callbacks, "de.train": de.train}[module]
  with pytest.raises(NotImplementedError, match=f"{module}.{name}: ") as e:
    getattr(obj, name)
  assert alternative in str(e.value)
  assert not hasattr(obj, name)  # also an AttributeError: probes still work


def test_other_unknown_names_stay_plain_attribute_errors():
  with pytest.raises(AttributeError) as e:
    de.NoSuchThing  # pylint: disable=pointless-statement
  assert not isinstance(e.value, NotImplementedError)


def test_tfra_aliases_name_the_same_objects():
  assert de.train.Checkpoint is de.train.DECheckpoint is tf.train.Checkpoint
  assert de.keras.models.de_save_model is de.keras.models.save_model
  assert de.keras.models.de_hvd_save_model is de.keras.models.save_model
