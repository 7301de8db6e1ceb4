"""`de.Variable`: an embedding table keyed by raw ids, sharded over devices.

A variable owns one table per device in `devices` (built by its
`kv_creator`, `de.CuckooHashTableCreator` by default). Key k lives in table
`partitioner(k, shard_num)`. Every method takes keys of any shape, routes
them (`partition.Routing`), runs one table op per shard on that shard's
device and returns results in key order.

Checkpoints and file saves: saving.py.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.initializers import RowInitializer
from tensorflow_recommenders_addons.dynamic_embedding.partition import Routing
from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables import base as table_base
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableCreator
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import KVCreator
from tensorflow_recommenders_addons.dynamic_embedding import bounds
from tensorflow_recommenders_addons.dynamic_embedding import saving
from tensorflow_recommenders_addons.dynamic_embedding import training_hooks
from tensorflow_recommenders_addons.utils.autograph import run_as_is


@run_as_is
class Variable(saving.VariableSaving, training_hooks.TrainingHooks,
               bounds.BoundedVariable, tf.Module):
  """A dynamic embedding table: ids of any value map to `dim`-wide rows.

  Unknown ids read the `initializer`'s rows without being inserted; rows are
  written by `upsert`/`accum` (and by optimizers when training).

  Args:
    key_dtype: `tf.int64`, `tf.int32` or `tf.string`.
    value_dtype: Row dtype (float32, float16, bfloat16, float64, int8,
      int32, int64, bool).
    dim: Row width, an int >= 1.
    devices: Devices, one table shard on each (a string or a list); None
      means one shard on the current device.
    partitioner: `fn(keys, shard_num) -> int shard numbers`; default
      `de.default_partition_fn` (key modulo shard count, strings by a stable
      hash).
    shared_name: Kept for TFRA compatibility (recorded as `shared_name`);
      tables are always private to their variable.
    name: Variable name; table names, wrapper names and file names derive
      from it. Checkpoints match by object path, not by name.
    initializer: Rows for missing ids: None (zeros), a number, `dim`
      numbers, a Keras/`tf` initializer, or a callable `fn(shape[, dtype])`.
    trainable: Whether lookups create trainable wrappers for gradients.
    checkpoint: Whether checkpoints and SavedModels save the rows.
    init_size: Expected number of rows (pre-sizes the tables).
    kv_creator: A `de.KVCreator` building each shard's table. A
      `de.CuckooHashTableCreator` whose config sets `max_capacity`,
      `ttl` or `admit_after` bounds the variable (the capacity is split
      over the devices); keys it evicts or refuses leave the optimizer
      slot tables too.
    restrict_policy: A restrict-policy class (`de.TimestampRestrictPolicy`,
      `de.FrequencyRestrictPolicy`), instantiated as
      `restrict_policy(self)`; used by `restrict`. Its status (last-write
      steps, write counts) is kept by the tables and saved in checkpoints.
    bp_v2: Optimizers write deltas with `accum` instead of `upsert`, so
      several trainers can update one table.
    short_file_name: Use short hashed file names in `save_to_file_system`
      (for names too long for the filesystem).

  Raises:
    tf.errors.InvalidArgumentError: unsupported dtypes, `dim` < 1, negative
      `init_size`, an empty `devices` list, a `kv_creator` that is not a
      `de.KVCreator`, or a bad constant `initializer`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(key_dtype=tf.string, dim=2, initializer=-1.0)
    >>> var.upsert(["a"], [[1.0, 2.0]])
    >>> var.lookup(["a", "zz"]).numpy().tolist()
    [[1.0, 2.0], [-1.0, -1.0]]
  """

  def __init__(self,
               key_dtype=tf.int64,
               value_dtype=tf.float32,
               dim=1,
               devices=None,
               partitioner=default_partition_fn,
               shared_name=None,
               name="DynamicEmbedding_Variable",
               initializer=None,
               trainable=True,
               checkpoint=True,
               init_size=0,
               kv_creator=None,
               restrict_policy=None,
               bp_v2=False,
               short_file_name=False):
    super().__init__(name=_module_name(name))
    self._de_name = name
    self.key_dtype = v.check_dtype("key_dtype", key_dtype, v.KEY_DTYPES)
    self.value_dtype = v.check_dtype("value_dtype", value_dtype,
                                     v.VALUE_DTYPES)
    self.dim = v.check_int("dim", dim, 1)
    if devices is None:
      devices = [""]
    elif isinstance(devices, str):
      devices = [devices]
    self.devices = list(devices)
    if not self.devices:
      raise v.invalid("devices: must name at least one device (or be None)")
    if not callable(partitioner):
      raise v.invalid(f"partitioner: must be callable, got {partitioner!r}")
    init_size = v.check_int("init_size", init_size, 0)
    kv_creator = kv_creator if kv_creator is not None else CuckooHashTableCreator()
    if not isinstance(kv_creator, KVCreator):
      raise v.invalid(f"kv_creator: must be a de.KVCreator, got "
                      f"{type(kv_creator).__name__}")
    self.partition_fn = partitioner
    self.shared_name = shared_name
    self.initializer = initializer
    self.trainable = bool(trainable)
    self.checkpoint = bool(checkpoint)
    self.init_size = int(init_size)
    self.kv_creator = kv_creator
    self.bp_v2 = bool(bp_v2)
    self.short_file_name = bool(short_file_name)
    self._store = training_hooks.Untracked()
    # The creator's hook splits bounds over the shards (tables/base.py).
    configs = kv_creator.shard_configs(len(self.devices), restrict_policy)
    self._table_config = configs[0]
    # init_scope: a variable first built while a tf.function traces (e.g. a
    # Keras layer's build) must still own eager tables and default rows.
    with tf.init_scope():
      self._rows = RowInitializer(initializer, self.dim, self.value_dtype)
      tables = []
      for idx, device in enumerate(self.devices):
        with tf.device(device):
          tables.append(kv_creator.create(
              key_dtype=self.key_dtype,
              value_dtype=self.value_dtype,
              default_value=self._rows.default_row,
              name=self._table_name(idx),
              checkpoint=False,  # the variable saves all shards as one
              init_size=self.init_size // len(self.devices),
              device=device,
              **({} if configs[idx] is None else {"config": configs[idx]})))
    for table in tables:  # SavedModels store rows with the tables
      if self.bounded and not getattr(table, "bounded_capable", False):
        raise table_base.missing_capability(
            table, "per-row bookkeeping (max_capacity, TTL, admission, "
            "track_changes or a restrict_policy)")
      if hasattr(table, "saved_model_rows"):
        table.saved_model_rows = self.checkpoint
    self._tables = tables
    self.restrict_policy = restrict_policy(self) if restrict_policy else None
    # TF1 graphs: tf.compat.v1.train.Saver() finds the rows (saving.py).
    saving.register_graph_saveable(self)

  @property
  def name(self):
    """The variable's name as given."""
    return self._de_name

  @property
  def shard_num(self):
    """Number of table shards."""
    return len(self._tables)

  @property
  def tables(self):
    """The shard tables, in shard order."""
    return list(self._tables)

  def _on_each_shard(self, fn):
    """`[fn(idx, table) for each shard]`, each call under its shard's device."""
    results = []
    for idx, (table, device) in enumerate(zip(self._tables, self.devices)):
      with tf.device(device):
        results.append(fn(idx, table))
    return results

  def _table_name(self, idx):
    return "{}_mht_{}of{}".format(self._de_name.replace("/", "_"), idx + 1,
                                  len(self.devices))

  # Reads ----------------------------------------------------------------

  def lookup(self, keys, return_exists=False, name=None):
    """Returns the rows of `keys`; missing keys get initializer rows.

    Missing keys are not inserted.

    Args:
      keys: Keys of any shape, of `key_dtype`.
      return_exists: Also return a bool tensor (`keys.shape`) marking the
        keys present in the table.
      name: Optional name scope.

    Returns:
      Rows of shape `keys.shape + [dim]` (and `exists` if requested).

    Raises:
      tf.errors.InvalidArgumentError: keys of another dtype.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1, devices=["/CPU:0", "/CPU:0"])
      >>> var.upsert([1, 2], [[1.0], [2.0]])
      >>> rows, exists = var.lookup([[2, 3]], return_exists=True)
      >>> rows.numpy().tolist(), exists.numpy().tolist()
      ([[[2.0], [0.0]]], [[True, False]])
    """
    keys = v.to_tensor("keys", keys, self.key_dtype)
    self._prune_restored_slots()
    with tf.name_scope(name or "lookup"):
      flat = v.reshape(keys, [-1])
      need_exists = return_exists or self._rows.generates
      values, exists = self._find(flat, need_exists)
      if self._rows.generates:
        missing = tf.where(tf.logical_not(exists))
        values = tf.tensor_scatter_nd_update(
            values, missing, self._rows.generate(tf.shape(missing)[0]))
      values = self._unflatten(values, keys)
      if return_exists:
        exists = tf.reshape(exists, tf.shape(keys))
        exists.set_shape(keys.shape)
        return values, exists
      return values

  def _find(self, flat, need_exists):
    """(values [n, dim], exists [n] or None) for flat keys."""
    if self.shard_num == 1:
      out = self._tables[0].lookup(flat, return_exists=need_exists)
      return out if need_exists else (out, None)
    routing = Routing(self.partition_fn, flat, self.shard_num)
    values, exists = [], []
    for table, device, part in zip(self._tables, self.devices,
                                   routing.split(flat)):
      with tf.device(device):
        out = table.lookup(part, return_exists=need_exists)
      if need_exists:
        values.append(out[0])
        exists.append(out[1])
      else:
        values.append(out)
    return (routing.stitch(values),
            routing.stitch(exists) if need_exists else None)

  def _unflatten(self, rows, keys):
    if keys.shape.is_fully_defined():  # no shape ops (eager: every call)
      return v.reshape(rows, keys.shape.as_list() + [self.dim])
    if keys.shape.rank == 1:  # flat keys of unknown count (unique ids)
      out = v.reshape(rows, [-1, self.dim])
      out.set_shape(keys.shape.concatenate([self.dim]))
      return out
    out = tf.reshape(rows, tf.concat([tf.shape(keys), [self.dim]], 0))
    out.set_shape(keys.shape.concatenate([self.dim]))
    return out

  def size(self, index=None, name=None):
    """Number of rows over all shards, or of shard `index` (scalar int64).

    Args:
      index: None for every shard, or a shard number in
        `[0, shard_num)`.
      name: Optional name scope.

    Returns:
      The row count.

    Raises:
      tf.errors.InvalidArgumentError: `index` out of range.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([1, 2, 2], [[1.0], [2.0], [3.0]])
      >>> int(var.size()), int(var.size(0))
      (2, 2)
    """
    with tf.name_scope(name or "size"):
      if index is not None:
        index = v.check_int("index", index, 0, self.shard_num - 1)
        with tf.device(self.devices[index]):
          return self._tables[index].size()
      return tf.add_n(self._on_each_shard(lambda _, table: table.size()))

  def embedding_lookup(self, ids, name=None, max_norm=None):
    """`de.embedding_lookup(self, ids, name=name, max_norm=max_norm)`.

    Args:
      ids: Ids of any shape (or ragged), of `key_dtype`.
      name: Lookup name (names the `de.TrainableWrapper`).
      max_norm: If set, rows with a larger L2 norm are scaled down to it.

    Returns:
      Rows of shape `ids.shape + [dim]`.

    Raises:
      tf.errors.InvalidArgumentError: ids of another dtype.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=2, initializer=0.5)
      >>> var.embedding_lookup([[1, 2]]).numpy().tolist()
      [[[0.5, 0.5], [0.5, 0.5]]]
    """
    # Imported here: lookup.py imports this module.
    from tensorflow_recommenders_addons.dynamic_embedding import lookup  # pylint: disable=import-outside-toplevel
    return lookup.embedding_lookup(self, ids, name=name, max_norm=max_norm)

  def export(self, name=None):
    """All `(keys, values)` of every shard, in no fixed order.

    Returns:
      keys `[n]` and values `[n, dim]`.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([7], [[7.0]])
      >>> [t.numpy().tolist() for t in var.export()]
      [[7], [[7.0]]]
    """
    with tf.name_scope(name or "export"):
      parts = self._on_each_shard(lambda _, table: table.export())
      if len(parts) == 1:
        return parts[0]
      return (tf.concat([p[0] for p in parts], 0),
              tf.concat([p[1] for p in parts], 0))

  # Writes ---------------------------------------------------------------

  def _rows_for(self, arg, keys, values, kernel_checks=False):
    """Validated flat `(keys [n], values [n, dim])`; checks run before any
    shard is written. `kernel_checks`: the rows go unchanged to one shard's
    write kernel, which refuses rows that are not keys.shape + [dim] under
    the same argument name, so when nothing is reshaped (keys `[n]`, rows
    `[?, dim]`: the optimizers' write-back) the graph's own assertion (12
    ops per write, traced into every train step) is left out."""
    keys = v.to_tensor("keys", keys, self.key_dtype)
    values = v.to_tensor(arg, values, self.value_dtype)
    v.check_rows(arg, values, keys, self.dim)
    expected = keys.shape.concatenate([self.dim])
    static = values.shape.is_fully_defined() and expected.is_fully_defined()
    left_to_kernel = (kernel_checks and self.shard_num == 1 and
                      keys.shape.rank == 1 and values.shape.rank == 2 and
                      values.shape[1] == self.dim)
    if not (static or left_to_kernel):
      check = tf.debugging.assert_equal(
          tf.shape(values), tf.concat([tf.shape(keys), [self.dim]], 0),
          message=f"{arg}: shape must be keys.shape + [dim]")
      with tf.control_dependencies([check]):
        values = tf.identity(values)
    return v.reshape(keys, [-1]), v.reshape(values, [-1, self.dim])

  def _write(self, method, keys, *columns, scores=None, **kwargs):
    """Calls `table.<method>(keys_part, *column_parts, **kwargs)` on every
    shard (`scores`, if given, is split like a column). Returns the grouped
    ops, or with `return_dropped` the list of each shard's dropped keys."""
    if scores is not None:
      kwargs["scores"] = scores
    if self.shard_num == 1:
      return getattr(self._tables[0], method)(keys, *columns, **kwargs)
    routing = Routing(self.partition_fn, keys, self.shard_num)
    split = [routing.split(keys)] + [routing.split(c) for c in columns]
    split_scores = None if scores is None else routing.split(
        v.reshape(tf.cast(scores, tf.int64), [-1]))

    def write(idx, table):
      extra = dict(kwargs)
      if split_scores is not None:
        extra["scores"] = split_scores[idx]
      return getattr(table, method)(*[s[idx] for s in split], **extra)
    results = self._on_each_shard(write)
    return results if kwargs.get("return_dropped") else _group(results)

  def upsert(self, keys, values, name=None, scores=None):
    """Inserts or overwrites the rows of `keys` (last duplicate wins).

    A bounded variable may refuse new keys (admission) and evict rows
    (capacity, TTL); those keys leave the optimizer slot tables too.

    Args:
      keys: Keys of any shape.
      values: Rows of shape `keys.shape + [dim]`.
      name: Optional name scope.
      scores: int64 scores of `keys.shape` for a CUSTOMIZED eviction
        strategy (None: the config's `gen_scores_fn`).

    Returns:
      The write op (None when executing eagerly).

    Raises:
      tf.errors.InvalidArgumentError: wrong dtypes or shapes, or a
        partitioner out of range; nothing is written.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=2)
      >>> var.upsert([[1, 2]], [[[1.0, 1.0], [2.0, 2.0]]])
      >>> var.lookup([2]).numpy().tolist()
      [[2.0, 2.0]]
    """
    with tf.name_scope(name or "upsert"):
      keys, values = self._rows_for("values", keys, values,
                                    kernel_checks=True)
      return self._write_dropping("insert", keys, values, scores=scores)

  def accum(self, keys, old_values, new_values, exists, name=None):
    """Adds `new_values - old_values` to existing rows; inserts the others.

    For positions where `exists` is True the row receives the delta (so
    concurrent trainers' updates add up); where it is False `new_values` is
    inserted. Positions whose key appeared or vanished since `exists` was
    read are skipped.

    Args:
      keys: Keys of any shape.
      old_values: Rows read earlier, `keys.shape + [dim]`.
      new_values: Updated rows, same shape.
      exists: bool, `keys.shape`, from `lookup(..., return_exists=True)`.
      name: Optional name scope.

    Returns:
      The write op (None when executing eagerly).

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([1], [[10.0]])
      >>> old, exists = var.lookup([1, 2], return_exists=True)
      >>> var.accum([1, 2], old, old + 1.0, exists)
      >>> var.lookup([1, 2]).numpy().tolist()
      [[11.0], [1.0]]
    """
    with tf.name_scope(name or "accum"):
      keys = v.to_tensor("keys", keys, self.key_dtype)
      flat_keys, old = self._rows_for("old_values", keys, old_values)
      _, new = self._rows_for("new_values", keys, new_values)
      exists = v.to_tensor("exists", exists, tf.bool)
      if not exists.shape.is_compatible_with(keys.shape):
        raise v.invalid(f"exists: expected the keys' shape, got "
                        f"{exists.shape}")
      exists = v.reshape(exists, [-1])
      deltas = tf.where(exists[:, None], new - old, new)
      return self._write_dropping("accum", flat_keys, deltas, exists)

  def remove(self, keys, name=None):
    """Removes `keys` (absent keys are ignored).

    Args:
      keys: Keys of any shape, of `key_dtype`.
      name: Optional name scope.

    Returns:
      The write op (None when executing eagerly).

    Raises:
      tf.errors.InvalidArgumentError: keys of another dtype.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([1, 2], [[1.0], [2.0]])
      >>> var.remove([1])
      >>> int(var.size())
      1
    """
    keys = v.to_tensor("keys", keys, self.key_dtype)
    with tf.name_scope(name or "remove"):
      return self._write("remove", v.reshape(keys, [-1]))

  def clear(self, name=None):
    """Removes every row of every shard.

    Args:
      name: Optional name scope.

    Returns:
      The op (None when executing eagerly).

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([1], [[1.0]])
      >>> var.clear()
      >>> int(var.size())
      0
    """
    with tf.name_scope(name or "clear"):
      return _group(self._on_each_shard(lambda _, table: table.clear()))


def _group(ops):
  ops = [op for op in ops if op is not None]
  return tf.group(*ops) if ops else None


def _module_name(name):
  """A valid `tf.Module` name (a Python identifier) for a variable name."""
  cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in str(name))
  if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
    cleaned = "v_" + cleaned
  return cleaned

