"""`de.math`: the sparse helpers TFRA programs call as
`de.math.sparse_fill_empty_rows`, `de.math.sparse_reshape` and
`de.math.sparse_segment_sum`, with TFRA 0.8's arguments.

TFRA backs them with its own GPU kernels; here they are TensorFlow's ops
(`tf.sparse.fill_empty_rows`, `tf.sparse.reshape`, `tf.sparse.segment_sum`),
which have CPU and GPU kernels, so results equal TensorFlow's.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.utils.autograph import run_as_is


@run_as_is
def sparse_fill_empty_rows(sp_input, default_value, name=None):
  """Gives every empty row of a 2-D `tf.SparseTensor` one entry.

  Args:
    sp_input: A `tf.SparseTensor` of shape `[N, M]`.
    default_value: The value of the entries added to empty rows (the
      values' dtype).
    name: Optional op name.

  Returns:
    `(sp_ordered_output, empty_row_indicator)` as `tf.sparse.fill_empty_rows`:
    the filled tensor and a bool `[N]` vector, True for rows that were empty.

  Raises:
    tf.errors.InvalidArgumentError: `sp_input` is not 2-D.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> sp = tf.sparse.SparseTensor([[0, 1], [2, 0]], [7, 8], [3, 2])
    >>> out, empty = de.math.sparse_fill_empty_rows(sp, -1)
    >>> tf.sparse.to_dense(out).numpy().tolist(), empty.numpy().tolist()
    ([[0, 7], [-1, 0], [8, 0]], [False, True, False])
  """
  return tf.sparse.fill_empty_rows(sp_input, default_value, name=name)


@run_as_is
def sparse_reshape(sp_input, shape, name=None):
  """Reshapes a `tf.SparseTensor` (one dimension may be -1).

  Args:
    sp_input: A `tf.SparseTensor`.
    shape: The new dense shape (int64 vector).
    name: Optional op name.

  Returns:
    The reshaped `tf.SparseTensor`, as `tf.sparse.reshape`.

  Raises:
    tf.errors.InvalidArgumentError: `shape` holds another number of elements.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> sp = tf.sparse.SparseTensor([[0, 1], [1, 0]], [7, 8], [2, 2])
    >>> de.math.sparse_reshape(sp, [4, -1]).indices.numpy().tolist()
    [[1, 0], [2, 0]]
  """
  return tf.sparse.reshape(sp_input, shape, name=name)


@run_as_is
def sparse_segment_sum(data, indices, segment_ids, name=None,
                       num_segments=None):
  """`out[s] = sum(data[indices[i]] for i with segment_ids[i] == s)`.

  Args:
    data: A tensor whose first dimension `indices` select from.
    indices: int32/int64 `[n]`, rows of `data`.
    segment_ids: int32/int64 `[n]`, sorted, the output row of each index.
    name: Optional op name.
    num_segments: Optional number of output rows (default: the largest
      segment id + 1).

  Returns:
    A tensor of `data`'s dtype, as `tf.sparse.segment_sum`.

  Raises:
    tf.errors.InvalidArgumentError: indices or segment ids out of range, or
      unsorted segment ids.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> data = tf.constant([[1.0], [2.0], [4.0]])
    >>> de.math.sparse_segment_sum(data, [0, 2, 1], [0, 0, 1]).numpy().tolist()
    [[5.0], [2.0]]
  """
  return tf.sparse.segment_sum(data, indices, segment_ids, name=name,
                               num_segments=num_segments)
