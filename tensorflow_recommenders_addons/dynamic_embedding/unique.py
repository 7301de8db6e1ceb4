"""`de.unique`: the batch deduplication every lookup starts with."""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.autograph import run_as_is
from tensorflow_recommenders_addons.utils.resource_loader import LIBRARIES

_LIB = LIBRARIES["_cuckoo_hashtable_ops.so"]


@run_as_is
def unique(keys, name=None):
  """Distinct keys in first-seen order, and each position's key number.

  Same results as `tf.unique` on the flattened keys, but for keys of any
  shape (`idx` has the keys' shape) and faster on training batches
  (cc/core/unique.h).

  Args:
    keys: int32, int64 or string tensor of any shape.
    name: Optional op name.

  Returns:
    `(unique_keys [u], idx)` with `unique_keys[idx] == keys`; idx is int32.

  Raises:
    tf.errors.InvalidArgumentError: another key dtype.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> u, idx = de.unique(tf.constant([[7, 3], [7, 9]], tf.int64))
    >>> u.numpy().tolist(), idx.numpy().tolist()
    ([7, 3, 9], [[0, 1], [0, 2]])
  """
  keys = tf.convert_to_tensor(keys)
  v.check_dtype("keys", keys.dtype, v.KEY_DTYPES)
  return _LIB.ops.tfra_unique(keys, name=name)


@run_as_is
def segment_sum_rows(data, segment_ids, num_segments, name=None):
  """`out[s] = sum(data[i] for i with segment_ids[i] == s)`, zeros elsewhere.

  Equal to `tf.math.unsorted_segment_sum` (rows summed in position order;
  half/bfloat16 accumulate in float32), about 2.5x faster on CPU. It
  merges the gradient rows of duplicate ids in every lookup.

  Args:
    data: `[n, ...]` float tensor.
    segment_ids: `[n]` int32 in `[0, num_segments)`.
    num_segments: int32 scalar.
    name: Optional op name.

  Returns:
    `[num_segments, ...]` sums.

  Raises:
    tf.errors.InvalidArgumentError: ids out of range or shapes that differ.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.segment_sum_rows([[1.0], [2.0], [4.0]], [1, 0, 1], 3).numpy().tolist()
    [[2.0], [5.0], [0.0]]
  """
  return _LIB.ops.tfra_segment_sum_rows(
      data, tf.cast(segment_ids, tf.int32), tf.cast(num_segments, tf.int32),
      name=name)


@tf.RegisterGradient("TFRA>SegmentSumRows")
def _segment_sum_rows_grad(op, grad):
  return tf.gather(grad, op.inputs[1]), None, None
