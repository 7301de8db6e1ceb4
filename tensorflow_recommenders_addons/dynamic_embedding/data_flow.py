"""`de.data_flow`: `dynamic_partition` and `dynamic_stitch` with TFRA 0.8's
arguments, as TFRA programs call them (`de.data_flow.dynamic_partition`).

TFRA backs them with its own GPU kernels (`use_fast`); here they are
TensorFlow's `tf.dynamic_partition` and `tf.dynamic_stitch`, whose results
they equal.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.utils.autograph import run_as_is


@run_as_is
def dynamic_partition(data, partitions, num_partitions, name=None):
  """Splits `data` into `num_partitions` tensors by `partitions`.

  Args:
    data: A tensor.
    partitions: int32 tensor of a prefix of `data`'s shape, values in
      `[0, num_partitions)`.
    num_partitions: The number of outputs (int >= 1).
    name: Optional op name.

  Returns:
    A list of `num_partitions` tensors, as `tf.dynamic_partition`.

  Raises:
    tf.errors.InvalidArgumentError: a partition out of range or a shape
      mismatch.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> parts = de.data_flow.dynamic_partition([10, 20, 30], [1, 0, 1], 2)
    >>> [p.numpy().tolist() for p in parts]
    [[20], [10, 30]]
  """
  return tf.dynamic_partition(data, partitions, num_partitions, name=name)


@run_as_is
def dynamic_stitch(indices, data, use_fast=True, name=None):
  """Interleaves the tensors of `data` into one at positions `indices`.

  Args:
    indices: A list of int32 tensors.
    data: A list of tensors, `data[i]` shaped `indices[i].shape + row`.
    use_fast: Accepted for TFRA compatibility (its GPU kernel switch);
      TensorFlow's kernel is used either way.
    name: Optional op name.

  Returns:
    The merged tensor, as `tf.dynamic_stitch`.

  Raises:
    tf.errors.InvalidArgumentError: shapes that do not match.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.data_flow.dynamic_stitch([[1], [0, 2]], [[20], [10, 30]]).numpy().tolist()
    [10, 20, 30]
  """
  del use_fast
  return tf.dynamic_stitch(indices, data, name=name)
