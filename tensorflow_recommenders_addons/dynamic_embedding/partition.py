"""Routing keys to the table shards of a `de.Variable`.

A variable with N shards keeps key k in shard `partitioner(k, N)`. Reads
split a flat key vector into N parts (`Routing`), run one table op per shard
on that shard's device, and stitch the results back into key order; writes
split keys and rows the same way. With one shard nothing is split.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v


def default_partition_fn(keys, shard_num):
  """The default partitioner: integer keys modulo `shard_num`.

  Integer keys go to shard `key mod shard_num` (floor modulo, so negative keys
  land in `[0, shard_num)` too); string keys to a stable FarmHash fingerprint
  bucket (`tf.strings.to_hash_bucket_fast`), identical across processes and
  platforms, so a saved variable re-loads into the same shards.

  Args:
    keys: Keys of any shape (int32, int64 or string).
    shard_num: Number of shards, a Python int >= 1.

  Returns:
    int32 shard numbers with the shape of `keys`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.default_partition_fn(tf.constant([0, 5, -1], tf.int64), 3).numpy().tolist()
    [0, 2, 2]
  """
  if keys.dtype == tf.string:
    return tf.cast(tf.strings.to_hash_bucket_fast(keys, shard_num), tf.int32)
  return tf.cast(tf.math.floormod(keys, tf.cast(shard_num, keys.dtype)),
                 tf.int32)


class Routing:
  """Where each key of a flat key vector goes: one split shared by all inputs.

  Args:
    partitioner: `fn(keys, shard_num) -> shard numbers`.
    keys: Flat (rank-1) key tensor.
    shard_num: Number of shards (>= 2).

  Raises:
    tf.errors.InvalidArgumentError: the partitioner returned a tensor of
      another shape, a non-integer dtype, or numbers outside
      `[0, shard_num)`; raised before any shard is touched.
  """

  def __init__(self, partitioner, keys, shard_num):
    self.shard_num = shard_num
    shards = partitioner(keys, shard_num)
    shards = tf.convert_to_tensor(shards)
    if not shards.dtype.is_integer:
      raise v.invalid(f"partitioner: must return integer shard numbers, got "
                      f"{shards.dtype.name}")
    if not shards.shape.is_compatible_with(keys.shape):
      raise v.invalid(f"partitioner: returned shape {shards.shape}, expected "
                      f"the keys' shape {keys.shape}")
    shards = tf.cast(shards, tf.int32)
    in_range = tf.reduce_all(
        tf.logical_and(shards >= 0, shards < shard_num))
    message = (f"partitioner: returned shard numbers outside [0, "
               f"{shard_num}); min/max:")
    if tf.executing_eagerly():
      # Eagerly the answer is known now: min/max are computed only for the
      # error (an Assert would compute them, and run, on every call).
      if not bool(in_range):
        raise v.invalid(f"{message} {int(tf.reduce_min(shards))} "
                        f"{int(tf.reduce_max(shards))}")
      self.shards = shards
    else:
      check = tf.debugging.Assert(
          in_range, [message, tf.reduce_min(shards), tf.reduce_max(shards)])
      with tf.control_dependencies([check]):
        self.shards = tf.identity(shards)
    self.positions = tf.dynamic_partition(
        tf.range(tf.size(keys)), self.shards, shard_num)

  def split(self, tensor):
    """Splits `tensor` (leading dimension = number of keys) by shard."""
    return tf.dynamic_partition(tensor, self.shards, self.shard_num)

  def stitch(self, parts):
    """Inverse of `split`: per-shard results back in key order."""
    return tf.dynamic_stitch(self.positions, parts)
