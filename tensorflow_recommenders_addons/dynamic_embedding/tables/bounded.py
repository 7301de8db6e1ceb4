"""Bounded-table methods of `CuckooHashTable` (mixed into the class).

A table whose config is `bounded` (a capacity, TTL, admission or
`track_changes`; see `CuckooHashTableConfig`) keeps per-row bookkeeping in
the C++ core (cc/core/row_meta.h): the table clock at the row's last write
(`version`; the clock advances once per write call), the row's write count
(`freq`) and its custom score. These methods read and restore it:

  export_keys_and_scores   keys and the scores the eviction policy ranks by
  export_delta(since)      rows written after clock `since`, for replicas
  export_with_meta / import_with_meta
                           rows with all bookkeeping and the clock
  export_sketch / import_sketch
                           the admission counts (count-min sketch)
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.autograph import run_as_is

# A clock no table reaches: export_delta(_NEVER) returns no rows, only the
# clock.
_NEVER = 2**62


@run_as_is
class BoundedTableMethods:
  """Methods of `CuckooHashTable` for bounded tables (module docstring)."""

  def _scores_for(self, keys, scores):
    """The scores input of a write: given, from `gen_scores_fn`, or empty."""
    if scores is None and self._config.gen_scores_fn is not None:
      scores = self._config.gen_scores_fn(keys)
    if scores is None:
      return tf.zeros([0], tf.int64)
    scores = tf.cast(tf.convert_to_tensor(scores), tf.int64)
    if not scores.shape.is_compatible_with(keys.shape):
      raise v.invalid(f"scores: must have the keys' shape {keys.shape}, got "
                      f"{scores.shape}")
    return scores

  def export_with_meta(self, name=None):
    """Every row with its bookkeeping.

    Returns:
      `(keys [n], values [n, dim], versions [n], freqs [n], scores [n],
      clock)`: the clock of each row's last write, its write count, its
      custom score (int64), and the table clock. A table without
      bookkeeping reports zeros.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0],
      ...     config=de.CuckooHashTableConfig(track_changes=True))
      >>> t.insert([1], [[1.0]]); t.insert([1, 2], [[1.5], [2.0]])
      >>> keys, _, versions, freqs, _, clock = t.export_with_meta()
      >>> sorted(zip(keys.numpy().tolist(), versions.numpy().tolist(),
      ...            freqs.numpy().tolist())), int(clock)
      ([(1, 2, 2), (2, 2, 1)], 2)
    """
    with tf.name_scope(name or "export_with_meta"):
      out = self._bounded_ops().tfra_hash_table_export_with_meta(
          self.resource_handle, Tkeys=self._key_dtype,
          Tvalues=self._value_dtype)
    out[1].set_shape([None, self._dim])
    return tuple(out)

  def import_with_meta(self, keys, values, versions, freqs, scores, clock,
                       name=None):
    """Replaces the content with rows and their bookkeeping, and sets the
    clock: the inverse of `export_with_meta`.

    Raises:
      tf.errors.InvalidArgumentError: shapes or dtypes that do not match;
        the table is unchanged.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0],
      ...     config=de.CuckooHashTableConfig(track_changes=True))
      >>> t.import_with_meta([7], [[7.0]], [5], [3], [0], 9)
      >>> [int(x[0]) for x in t.export_with_meta()[2:5]]
      [5, 3, 0]
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    values = v.to_tensor("values", values, self._value_dtype)
    v.check_rows("values", values, keys, self._dim)
    columns = [v.to_tensor(arg, col, tf.int64) for arg, col in
               (("versions", versions), ("freqs", freqs), ("scores", scores))]
    with tf.name_scope(name or "import_with_meta"):
      return self._bounded_ops().tfra_hash_table_import_with_meta(
          self.resource_handle, keys, values, *columns,
          v.to_tensor("clock", clock, tf.int64))

  def export_delta(self, since, name=None):
    """The rows written after clock `since` (e.g. a previous call's clock),
    to push to a serving replica.

    Rows removed since then (evicted, expired) are not reported: bound the
    replica with the same capacity, or refresh it with a full export.

    Args:
      since: int64 clock; 0 returns every row.

    Returns:
      `(keys [n], values [n, dim], versions [n], clock)`.

    Raises:
      tf.errors.FailedPreconditionError: the table keeps no bookkeeping
        (create it with `track_changes=True` or another bound).

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0],
      ...     config=de.CuckooHashTableConfig(track_changes=True))
      >>> t.insert([1, 2], [[1.0], [2.0]])
      >>> clock = t.export_delta(0)[3]
      >>> t.insert([2], [[2.5]])
      >>> keys, values, _, _ = t.export_delta(clock)
      >>> keys.numpy().tolist(), values.numpy().tolist()
      ([2], [[2.5]])
    """
    if not self._config.bounded:
      # Checked here, empty or not: the kernel lets an empty table through.
      raise tf.errors.FailedPreconditionError(
          None, None, "export_delta: the table does not track changes; "
          "create it with track_changes=True (or a capacity, TTL or "
          "admission)")
    with tf.name_scope(name or "export_delta"):
      out = self._bounded_ops().tfra_hash_table_export_delta(
          self.resource_handle, v.to_tensor("since", since, tf.int64),
          Tkeys=self._key_dtype, Tvalues=self._value_dtype)
    out[1].set_shape([None, self._dim])
    return tuple(out)

  def clock(self, name=None):
    """The table clock: the number of write calls so far (int64)."""
    with tf.name_scope(name or "clock"):
      if self._config.bounded:
        return self.export_delta(_NEVER)[3]  # no rows, just the clock
      return self.export_with_meta()[5]

  def export_keys_and_scores(self, name=None):
    """Keys and the scores the eviction policy ranks by (lowest first
    evicted): the last-write clock (LRU, TTL), the write count (LFU) or the
    custom score (CUSTOMIZED).

    Returns:
      `(keys [n], scores [n] int64)`.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0],
      ...     config=de.CuckooHashTableConfig(max_capacity=10,
      ...                                     evict_strategy="lfu"))
      >>> t.insert([1, 2], [[1.0], [2.0]]); t.insert([2], [[2.0]])
      >>> keys, scores = t.export_keys_and_scores()
      >>> sorted(zip(keys.numpy().tolist(), scores.numpy().tolist()))
      [(1, 1), (2, 2)]
    """
    with tf.name_scope(name or "export_keys_and_scores"):
      keys, _, versions, freqs, scores, _ = self.export_with_meta()
    strategy = self._config.evict_strategy
    if strategy == "lfu":
      return keys, freqs
    if strategy == "custom":
      return keys, scores
    return keys, versions

  def export_sketch(self, name=None):
    """The admission counts, `[4, width]` int32 summed over shards (`[4, 0]`
    without admission)."""
    with tf.name_scope(name or "export_sketch"):
      return self._bounded_ops().tfra_hash_table_export_sketch(
          self.resource_handle)

  def import_sketch(self, sketch, name=None):
    """Seeds every shard's admission sketch with `sketch` (from
    `export_sketch`; a `[4, 0]` sketch is ignored).

    Raises:
      tf.errors.InvalidArgumentError: a sketch of another width.
    """
    with tf.name_scope(name or "import_sketch"):
      return self._bounded_ops().tfra_hash_table_import_sketch(
          self.resource_handle, v.to_tensor("sketch", sketch, tf.int32))

  def _meta_tensors(self):
    """Checkpoint tensors of a bounded table."""
    keys, values, versions, freqs, scores, clock = self.export_with_meta()
    return {"-keys": keys, "-values": values, "-versions": versions,
            "-freqs": freqs, "-scores": scores, "-clock": clock,
            "-sketch": self.export_sketch()}

  def _restore_meta_tensors(self, tensors):
    ops = [self.import_with_meta(tensors["-keys"], tensors["-values"],
                                 tensors["-versions"], tensors["-freqs"],
                                 tensors["-scores"], tensors["-clock"])]
    if self._config.admit_after > 1:
      ops.append(self.import_sketch(tensors["-sketch"]))
    ops = [op for op in ops if op is not None]
    return tf.group(ops) if ops else tf.no_op()

  @staticmethod
  def _bounded_ops():
    from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import _ops  # pylint: disable=import-outside-toplevel
    return _ops()
