"""de.unique and de.segment_sum_rows against tf.unique and
tf.math.unsorted_segment_sum."""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de


@pytest.mark.parametrize("shape", [[0], [1], [7, 5], [2, 3, 4], [5000]])
def test_unique_matches_tf_unique(samples, key_dtype, shape,
                                  eager_or_function):
  n = int(np.prod(shape))
  pool = samples.keys(key_dtype, 12)
  picks = np.random.default_rng(n).integers(0, 12, n)
  keys = tf.reshape(tf.gather(pool, picks), shape)
  got_u, got_idx = eager_or_function(de.unique, keys)
  ref_u, ref_idx = tf.unique(tf.reshape(keys, [-1]))
  assert got_u.numpy().tolist() == ref_u.numpy().tolist()
  assert got_idx.shape == shape
  np.testing.assert_array_equal(got_idx.numpy().reshape(-1), ref_idx.numpy())


def test_unique_rejects_float_keys():
  with pytest.raises(tf.errors.InvalidArgumentError, match="keys"):
    de.unique([1.0, 2.0])


@pytest.mark.parametrize("dtype,tol", [(tf.float32, 0), (tf.float64, 0),
                                       (tf.float16, 1e-2), (tf.bfloat16, 5e-2)])
@pytest.mark.parametrize("rows", [0, 5, 200000], ids=["empty", "small",
                                                      "parallel"])
def test_segment_sum_rows_matches_unsorted_segment_sum(dtype, tol, rows):
  rng = np.random.default_rng(rows)
  data = tf.cast(rng.standard_normal((rows, 3)), dtype)
  ids = tf.constant(rng.integers(0, 11, rows), tf.int32)
  got = de.segment_sum_rows(data, ids, 13)
  assert got.dtype == dtype and got.shape == [13, 3]
  if tol == 0:  # same summation order as TF: bit-identical
    ref = tf.math.unsorted_segment_sum(data, ids, 13)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
  else:  # low precision accumulates in float32: compare with exact sums
    ref = tf.math.unsorted_segment_sum(tf.cast(data, tf.float64), ids, 13)
    np.testing.assert_allclose(tf.cast(got, tf.float64).numpy(), ref.numpy(),
                               rtol=tol, atol=tol)


def test_segment_sum_rows_keeps_inner_dims_and_has_gradient():
  data = tf.reshape(tf.range(12, dtype=tf.float32), [3, 2, 2])
  ids = tf.constant([1, 0, 1])
  with tf.GradientTape() as tape:
    tape.watch(data)
    out = de.segment_sum_rows(data, ids, 2)
    loss = tf.reduce_sum(out * tf.constant([[[1.0]], [[2.0]]]))
  assert out.shape == [2, 2, 2]
  np.testing.assert_array_equal(out.numpy()[1], data.numpy()[0] + data.numpy()[2])
  np.testing.assert_array_equal(tape.gradient(loss, data).numpy()[:, 0, 0],
                                [2.0, 1.0, 2.0])


@pytest.mark.parametrize("ids,num", [([0, 3], 3), ([-1, 0], 3)])
def test_segment_sum_rows_rejects_ids_out_of_range(ids, num):
  with pytest.raises(tf.errors.InvalidArgumentError, match="segment_ids"):
    de.segment_sum_rows(tf.ones([2, 1]), ids, num)
