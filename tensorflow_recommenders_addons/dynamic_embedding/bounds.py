"""Bounded `de.Variable`s: capacity, eviction, admission, TTL, bookkeeping.

The bounds live in the C++ table (see `CuckooHashTableConfig` and
cc/core/row_meta.h); this mixin gives the variable what spans its shards:

* each shard table gets the config its creator's `shard_configs` hook
  gives (the CPU creator splits `max_capacity` over the shards and switches
  bookkeeping on for a restrict policy; tables/base.py);
* `upsert`/`accum` collect the keys every shard refused or evicted and
  remove them from the variable's optimizer slot tables, so a slot row
  never outlives (or precedes) its row. Optimizers write slots first and
  rows last, so that removal comes after the slots' own write;
* after an eager restore, slot rows whose key the variable no longer holds
  (a restore into a smaller capacity evicts; slots restore on their own,
  before or after the variable) are removed before the next lookup or
  write (`_prune_restored_slots`), so slot tables keep the bound too;
* `export_keys_and_scores`, `export_delta` and `clock` over all shards, and
  the checkpoint columns of the bookkeeping.
"""

import tensorflow as tf


class BoundedVariable:
  """Mixed into `de.Variable` (module docstring). Expects `_tables`,
  `_table_config` (the first table's config, or None), `_store` and the
  variable's routing helpers."""

  @property
  def bounded(self):
    """Whether the tables keep bookkeeping (capacity, TTL, admission,
    restrict policy or `track_changes`)."""
    return bool(getattr(self._table_config, "bounded", False))

  def _write_dropping(self, method, keys, *columns, **kwargs):
    """`table.<method>(...)` on every shard; the keys the shards dropped are
    removed from the slot tables. Returns the write op(s) or None."""
    if not self.bounded:
      return self._write(method, keys, *columns, **kwargs)
    self._prune_restored_slots()
    dropped = self._write(method, keys, *columns, return_dropped=True,
                          **kwargs)
    if isinstance(dropped, (list, tuple)):
      dropped = tf.concat(list(dropped), 0)
    ops = self._drop_from_slots(dropped)
    if tf.executing_eagerly():
      return None
    return tf.group([dropped] + ops)

  def _note_restored(self):
    """Called by an eager restore of this variable's rows: a bounded
    primary's slots (or, for a slot, the slot itself) are pruned to the
    primary's keys before its next lookup or write. Deferred, because a
    checkpoint restores slots and variable in either order: by then the
    whole restore is done, so the prune is exact."""
    if not tf.executing_eagerly():
      return
    primary = self._store.primary() if self._store.primary else None
    if primary is not None:
      if primary.bounded:
        primary._store.prune_pending[id(self)] = self  # pylint: disable=protected-access
    elif self.bounded:
      for _, slot in self._store.slots.values():
        self._store.prune_pending[id(slot)] = slot

  def _prune_restored_slots(self):
    """Removes from each restored slot table the keys this variable does
    not hold (see `_note_restored`); runs eagerly, also while a step is
    being traced (`tf.init_scope`)."""
    pending = self._store.prune_pending
    if not pending:
      return
    self._store.prune_pending = {}
    with tf.init_scope():
      for slot in pending.values():
        keys = slot.export()[0]
        _, exists = self.lookup(keys, return_exists=True)
        slot.remove(tf.boolean_mask(keys, tf.logical_not(exists)))

  def _drop_from_slots(self, keys):
    """Removes `keys` from every optimizer slot table of this variable."""
    ops = [slot.remove(keys) for _, slot in self._store.slots.values()]
    return [op for op in ops if op is not None]

  def export_with_meta(self, name=None):
    """`CuckooHashTable.export_with_meta` over all shards; the clock is the
    largest shard clock."""
    with tf.name_scope(name or "export_with_meta"):
      parts = self._on_each_shard(lambda _, table: table.export_with_meta())
      if len(parts) == 1:
        return parts[0]
      columns = [tf.concat([p[i] for p in parts], 0) for i in range(5)]
      return tuple(columns) + (tf.reduce_max(tf.stack([p[5] for p in parts])),)

  def export_keys_and_scores(self, split_size=None, name=None):
    """Keys and the scores their eviction ranks by (lowest first evicted):
    the last-write clock (LRU, TTL), the write count (LFU) or the custom
    score.

    Args:
      split_size: Accepted for TFRA compatibility (its HKV tables page the
        export by it) and ignored: each shard exports in one op.
      name: Optional name scope.

    Returns:
      `(keys [n], scores [n] int64)`.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1, kv_creator=de.CuckooHashTableCreator(
      ...     de.CuckooHashTableConfig(max_capacity=100, evict_strategy="lfu")))
      >>> var.upsert([1, 2], [[1.0], [2.0]]); var.upsert([2], [[3.0]])
      >>> keys, scores = var.export_keys_and_scores()
      >>> sorted(zip(keys.numpy().tolist(), scores.numpy().tolist()))
      [(1, 1), (2, 2)]
    """
    del split_size
    with tf.name_scope(name or "export_keys_and_scores"):
      parts = self._on_each_shard(
          lambda _, table: table.export_keys_and_scores())
      if len(parts) == 1:
        return parts[0]
      return (tf.concat([p[0] for p in parts], 0),
              tf.concat([p[1] for p in parts], 0))

  def export_delta(self, since, name=None):
    """The rows written after clock `since` (a previous call's clock; 0 for
    all), to push to a serving replica. Removed rows are not reported.

    Returns:
      `(keys [n], values [n, dim], clock)`; pass `clock` as the next
      `since`.

    Raises:
      tf.errors.FailedPreconditionError: the variable's tables keep no
        bookkeeping (use `CuckooHashTableConfig(track_changes=True)`).

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1, kv_creator=de.CuckooHashTableCreator(
      ...     de.CuckooHashTableConfig(track_changes=True)))
      >>> var.upsert([1, 2], [[1.0], [2.0]])
      >>> _, _, clock = var.export_delta(0)
      >>> var.upsert([2], [[5.0]])
      >>> keys, values, _ = var.export_delta(clock)
      >>> keys.numpy().tolist(), values.numpy().tolist()
      ([2], [[5.0]])
    """
    with tf.name_scope(name or "export_delta"):
      parts = self._on_each_shard(lambda _, table: table.export_delta(since))
      clock = tf.reduce_max(tf.stack([p[3] for p in parts]))
      if len(parts) == 1:
        return parts[0][0], parts[0][1], clock
      return (tf.concat([p[0] for p in parts], 0),
              tf.concat([p[1] for p in parts], 0), clock)

  def _meta_tensors(self):
    """Checkpoint tensors with the bookkeeping: rows and their columns,
    the clock, and the admission sketch summed over shards."""
    keys, values, versions, freqs, scores, clock = self.export_with_meta()
    tensors = {"-keys": keys, "-values": values, "-versions": versions,
               "-freqs": freqs, "-scores": scores, "-clock": clock}
    if self._table_config.admit_after > 1:
      sketches = self._on_each_shard(lambda _, table: table.export_sketch())
      tensors["-sketch"] = tf.add_n(sketches)
    return tensors

  def _restore_meta(self, tensors):
    """Routes saved rows with their bookkeeping through the partitioner;
    every shard gets the clock and the summed sketch."""
    columns = [tensors[name] for name in ("-versions", "-freqs", "-scores")]
    ops = [self._write("import_with_meta", tensors["-keys"], tensors["-values"],
                       *columns, clock=tensors["-clock"])]
    if self._table_config.admit_after > 1:
      ops += self._on_each_shard(
          lambda _, table: table.import_sketch(tensors["-sketch"]))
    ops = [op for op in ops if op is not None]
    return tf.group(ops) if ops else tf.no_op()
