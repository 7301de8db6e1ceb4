"""`CuckooHashTable`: the hash table behind dynamic embeddings.

The class keeps TFRA's name and signature for source compatibility; the
engine is this package's sharded open-addressing table (cc/core), not cuckoo
hashing. Where the table lives follows its placement: on a CPU it is the
'cpu' backend; on a GPU, in an op library built with CUDA, the creation op's
GPU kernel builds the 'gpu' backend (cc/core/gpu) for int64/int32 keys, so
`device="/GPU:0"` (or a `tf.device` scope) is the only change user code
needs. Each instance owns one table: without a `shared_name` the kernel
returns a ref-counting handle, so the table is freed with its last handle
(no leak in eager mode) and every SavedModel load gets its own table.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import file_streams
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables import base
from tensorflow_recommenders_addons.dynamic_embedding.tables import bounded
from tensorflow_recommenders_addons.utils.autograph import run_as_is
from tensorflow_recommenders_addons.utils.resource_loader import LIBRARIES

_LIB = LIBRARIES["_cuckoo_hashtable_ops.so"]
DEFAULT_BUFFER_SIZE = 4 * 1024 * 1024


def _ops():
  return _LIB.ops


def _result(dropped, return_dropped):
  """A write's result: its dropped keys, or the op (None when eager)."""
  if return_dropped:
    return dropped
  return None if tf.executing_eagerly() else dropped.op


@run_as_is
class CuckooHashTable(base.DynamicTable, bounded.BoundedTableMethods,
                      tf.saved_model.experimental.TrackableResource):
  """A mutable hash table from keys to fixed-size value vectors.

  Keys are int64, int32 or string (embedded NUL bytes are kept); values are
  vectors of `dim` elements of float32, float16, bfloat16, float64, int8,
  int32, int64 or bool, where `dim` is the length of `default_value`. Keys may
  have any shape; values are `keys.shape + [dim]`. All methods are safe to
  call concurrently from many threads; large batches are split over
  TensorFlow's intra-op thread pool.

  Duplicate keys: in one `insert` the last occurrence wins; in one `accum`
  every delta is added, in batch order.

  Args:
    key_dtype: Key dtype: `tf.int64`, `tf.int32` or `tf.string`.
    value_dtype: Value dtype (see above).
    default_value: The row returned for missing keys, shape `[dim]`.
    name: Name of the table (also the default file name for
      `save_to_file_system`).
    checkpoint: Whether `tf.train.Checkpoint` / SavedModel save the content.
    init_size: Number of rows to pre-size the table for (0: grow on demand).
    config: A `de.CuckooHashTableConfig`, or None for defaults.
    device: Device to place the table on ('' lets TensorFlow choose). On a
      GPU (op library built with CUDA, int64/int32 keys) the table is the
      CUDA table and its rows live in GPU memory; elsewhere the CPU table.
    shard_saveable_object_fn: Accepted for TFRA source compatibility and kept
      on the instance; checkpointing uses the table's own serialization.

  Raises:
    tf.errors.InvalidArgumentError: unsupported dtypes, a `default_value`
      that is not a non-empty vector, or a negative `init_size`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0, 0.0])
    >>> t.insert([1, 2], [[1.0, 1.5], [2.0, 2.5]])
    >>> t.lookup([2, 7]).numpy().tolist()
    [[2.0, 2.5], [0.0, 0.0]]
  """

  backend = "cpu"
  bounded_capable = True

  def __init__(self,
               key_dtype,
               value_dtype,
               default_value,
               name="CuckooHashTable",
               checkpoint=True,
               init_size=0,
               config=None,
               device="",
               shard_saveable_object_fn=None):
    from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import CuckooHashTableConfig  # pylint: disable=import-outside-toplevel
    self._key_dtype = v.check_dtype("key_dtype", key_dtype, v.KEY_DTYPES)
    self._value_dtype = v.check_dtype("value_dtype", value_dtype,
                                      v.VALUE_DTYPES)
    with tf.device(device):
      self._default_value = v.to_tensor("default_value", default_value,
                                        self._value_dtype)
    if self._default_value.shape.rank != 1 or self._default_value.shape[0] in (
        None, 0):
      raise v.invalid(f"default_value: must be a vector of shape [dim] with "
                      f"dim >= 1, got shape {self._default_value.shape}")
    if int(init_size) < 0:
      raise v.invalid(f"init_size: must be >= 0, got {init_size}")
    self._dim = int(self._default_value.shape[0])
    self._name = name
    self._checkpoint = bool(checkpoint)
    # Set by de.Variable on the tables whose rows it checkpoints: they save
    # their rows where they are reached, which is only in SavedModels (the
    # variable hides its tables from checkpoints). An export may reach the
    # tables without the variable: Keras 3's model.export collects
    # resources only.
    self.saved_model_rows = False
    self._init_size = int(init_size)
    self._config = config if config is not None else CuckooHashTableConfig()
    self._shard_saveable_object_fn = shard_saveable_object_fn
    # A table built in a TF1 graph is shared by node name, like TF's own
    # MutableHashTable: every Session.run of the graph (and every session or
    # worker running the same graph against one cluster) reaches the same
    # table in its device's resource manager instead of creating a fresh
    # one per run. Eager tables (and those that tf.functions and SavedModel
    # loads create) stay anonymous and ref-counted.
    with tf.init_scope():
      self._graph_shared = not tf.executing_eagerly()
    super().__init__(device=device)
    self._resource_handle = None
    _ = self.resource_handle  # create the table now, on `device`
    # The backend actually built (named by capability errors): known from
    # the handle's device once placed; a graph handle names the requested
    # device, which the placer may still refine.
    if "GPU" in (self._resource_handle.device or "").upper():
      self.backend = "gpu"

  def _create_resource(self):
    return _ops().tfra_hash_table_of_tensors(
        key_dtype=self._key_dtype,
        value_dtype=self._value_dtype,
        value_shape=[self._dim],
        init_size=self._init_size,
        num_shards=self._config.num_shards,
        max_capacity=self._config.max_capacity,
        evict_strategy=self._config.evict_strategy,
        ttl=self._config.ttl,
        admit_after=self._config.admit_after,
        sketch_width=self._config.sketch_width,
        track_meta=self._config.bounded,
        backend="",  # the placement's own table (module docstring)
        use_node_name_sharing=self._graph_shared and not tf.inside_function(),
        name=_op_name(self._name))

  @property
  def name(self):
    """The table's name."""
    return self._name

  @property
  def key_dtype(self):
    """The key dtype."""
    return self._key_dtype

  @property
  def value_dtype(self):
    """The value dtype."""
    return self._value_dtype

  @property
  def dim(self):
    """Number of elements in one value row."""
    return self._dim

  @property
  def default_value(self):
    """The row returned for missing keys."""
    return self._default_value

  def size(self, name=None):
    """Returns the number of rows in the table as a scalar int64 tensor.

    Args:
      name: Optional op name.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.string, tf.float32, [0.0])
      >>> t.insert(["a", "b"], [[1.0], [2.0]])
      >>> int(t.size())
      2
    """
    with tf.name_scope(name or f"{_op_name(self._name)}_Size"):
      return _ops().tfra_hash_table_size(self.resource_handle)

  def lookup(self, keys, dynamic_default_values=None, return_exists=False,
             name=None):
    """Looks up `keys`, returning default rows for missing keys.

    Lookups never insert.

    Args:
      keys: Keys of any shape, of the table's key dtype.
      dynamic_default_values: Optional per-key defaults of shape
        `keys.shape + [dim]`, used instead of `default_value` for missing keys.
      return_exists: Also return a bool tensor of shape `keys.shape` telling
        which keys were found.
      name: Optional op name.

    Returns:
      Values of shape `keys.shape + [dim]`, and the `exists` mask when
      `return_exists` is True.

    Raises:
      tf.errors.InvalidArgumentError: wrong key dtype, or defaults of the
        wrong dtype or shape.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [-1.0])
      >>> t.insert([3], [[3.0]])
      >>> values, exists = t.lookup([[3, 4]], return_exists=True)
      >>> values.numpy().tolist(), exists.numpy().tolist()
      ([[[3.0], [-1.0]]], [[True, False]])
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    if dynamic_default_values is None:
      defaults = self._default_value
    else:
      defaults = v.to_tensor("dynamic_default_values", dynamic_default_values,
                             self._value_dtype)
      v.check_rows("dynamic_default_values", defaults, keys, self._dim)
    with tf.name_scope(name or f"{_op_name(self._name)}_lookup"):
      if return_exists:
        return _ops().tfra_hash_table_find_with_exists(
            self.resource_handle, keys, defaults)
      return _ops().tfra_hash_table_find(self.resource_handle, keys,
                                                defaults)

  def insert(self, keys, values, name=None, scores=None,
             return_dropped=False):
    """Inserts or assigns `values` for `keys` (last duplicate wins).

    Args:
      keys: Keys of any shape.
      values: Rows of shape `keys.shape + [dim]`.
      name: Optional op name.
      scores: int64 scores of `keys.shape` for a CUSTOMIZED table (None:
        the config's `gen_scores_fn(keys)`).
      return_dropped: Return the keys a bounded table refused or evicted.

    Returns:
      With `return_dropped`, the dropped keys `[m]`; else the op (None when
      executing eagerly).

    Raises:
      tf.errors.InvalidArgumentError: wrong dtypes or shapes; the table is
        unchanged.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int32, tf.int8, [0, 0])
      >>> t.insert([5, 5], [[1, 1], [2, 2]])
      >>> t.lookup([5]).numpy().tolist()
      [[2, 2]]
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    values = v.to_tensor("values", values, self._value_dtype)
    v.check_rows("values", values, keys, self._dim)
    with tf.name_scope(name or f"{_op_name(self._name)}_insert"):
      dropped = _ops().tfra_hash_table_insert(
          self.resource_handle, keys, values, self._scores_for(keys, scores))
    return _result(dropped, return_dropped)

  def accum(self, keys, values_or_deltas, exists, name=None,
            return_dropped=False):
    """Adds deltas to rows that exist and inserts rows that do not.

    For each position, in batch order: if the key is present and
    `exists` is True, the delta is added to its row; if the key is absent
    and `exists` is False, the value is inserted; otherwise (the table
    changed since the caller looked the key up) the position is skipped.
    Duplicate keys with `exists=True` each add their delta. bool rows
    accumulate as logical OR.

    Args:
      keys: Keys of any shape.
      values_or_deltas: Rows of shape `keys.shape + [dim]`.
      exists: bool tensor of shape `keys.shape`, typically from
        `lookup(..., return_exists=True)`.
      name: Optional op name.
      return_dropped: Return the keys a bounded table refused or evicted.

    Returns:
      With `return_dropped`, the dropped keys `[m]`; else the op (None when
      executing eagerly).

    Raises:
      tf.errors.InvalidArgumentError: wrong dtypes or shapes; the table is
        unchanged.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> t.accum([1], [[5.0]], [False])
      >>> t.accum([1, 1], [[1.0], [2.0]], [True, True])
      >>> t.lookup([1]).numpy().tolist()
      [[8.0]]
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    values = v.to_tensor("values_or_deltas", values_or_deltas,
                         self._value_dtype)
    exists = v.to_tensor("exists", exists, tf.bool)
    v.check_rows("values_or_deltas", values, keys, self._dim)
    if not exists.shape.is_compatible_with(keys.shape):
      raise v.invalid(f"exists: expected shape {keys.shape} (keys.shape) but "
                      f"got {exists.shape}")
    with tf.name_scope(name or f"{_op_name(self._name)}_accum"):
      dropped = _ops().tfra_hash_table_accum(self.resource_handle,
                                                    keys, values, exists)
    return _result(dropped, return_dropped)

  def remove(self, keys, name=None):
    """Removes `keys` (absent keys are ignored).

    Args:
      keys: Keys of any shape.
      name: Optional op name.

    Returns:
      The op (None when executing eagerly).

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> t.insert([1, 2], [[1.0], [2.0]])
      >>> t.remove([1, 9])
      >>> int(t.size())
      1
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    with tf.name_scope(name or f"{_op_name(self._name)}_remove"):
      return _ops().tfra_hash_table_remove(
          self.resource_handle, keys, Tout=self._value_dtype)

  def clear(self, name=None):
    """Removes every row and releases the table's memory.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> t.insert([1], [[1.0]])
      >>> t.clear()
      >>> int(t.size())
      0
    """
    with tf.name_scope(name or f"{_op_name(self._name)}_clear"):
      return _ops().tfra_hash_table_clear(self.resource_handle)

  def export(self, name=None):
    """Returns all `(keys, values)`: a consistent snapshot, in no fixed order.

    Returns:
      keys of shape `[n]` and values of shape `[n, dim]`.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> t.insert([4], [[4.0]])
      >>> [x.numpy().tolist() for x in t.export()]
      [[4], [[4.0]]]
    """
    with tf.name_scope(name or f"{_op_name(self._name)}_export"):
      keys, values = _ops().tfra_hash_table_export(
          self.resource_handle, Tkeys=self._key_dtype,
          Tvalues=self._value_dtype)
    values.set_shape([None, self._dim])
    return keys, values

  def import_(self, keys, values, name=None):
    """Replaces the whole content with `keys` and `values` (e.g. from `export`).

    Readers see either the old or the new content, never a mix.

    Args:
      keys: Keys of any shape.
      values: Rows of shape `keys.shape + [dim]`.
      name: Optional op name.

    Raises:
      tf.errors.InvalidArgumentError: keys and values of different lengths,
        wrong dtypes; the table is unchanged.

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> t.insert([1], [[1.0]])
      >>> t.import_([2, 3], [[2.0], [3.0]])
      >>> sorted(t.export()[0].numpy().tolist())
      [2, 3]
    """
    keys = v.to_tensor("keys", keys, self._key_dtype)
    values = v.to_tensor("values", values, self._value_dtype)
    v.check_rows("values", values, keys, self._dim)
    with tf.name_scope(name or f"{_op_name(self._name)}_import"):
      return _ops().tfra_hash_table_import(self.resource_handle, keys,
                                                  values)

  def save_to_file_system(self, dirpath, file_name=None,
                          dirpath_env="TFRA_SAVED_KV", append_to_file=False,
                          buffer_size=DEFAULT_BUFFER_SIZE, name=None):
    """Streams the table to `dirpath/<file_name>.tfrakv` atomically.

    Rows stream through a `buffer_size`-byte buffer; the file is written
    under a temporary name, synced and renamed, so an interrupted save leaves
    any previous file intact. Works on every filesystem TensorFlow supports.

    Args:
      dirpath: Directory (created if missing).
      file_name: File name without extension; defaults to the table's name.
      dirpath_env: Name of an environment variable that, when set, replaces
        `dirpath` (TFRA's rule; read at this call). None: `dirpath` only.
      append_to_file: Must be False (TFRA could append; files here are
        whole and atomic).
      buffer_size: Write buffer in bytes (values below 4096 use 4096).
      name: Optional op name.

    Raises:
      tf.errors.UnimplementedError: `append_to_file=True`.

    Example:
      >>> import tempfile, tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> t = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name="t")
      >>> t.insert([1], [[1.0]])
      >>> d = tempfile.mkdtemp()
      >>> t.save_to_file_system(d)
      >>> u = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name="t")
      >>> u.load_from_file_system(d)
      >>> u.lookup([1]).numpy().tolist()
      [[1.0]]
    """
    file_streams.check_not_append(append_to_file)
    dirpath = file_streams.resolve_dirpath(dirpath, dirpath_env)
    with tf.name_scope(name or f"{_op_name(self._name)}_save"):
      return _ops().tfra_hash_table_save_to_file_system(
          self.resource_handle, dirpath, _file_name(file_name, self._name),
          key_dtype=self._key_dtype, value_dtype=self._value_dtype,
          buffer_size=int(buffer_size))

  def load_from_file_system(self, dirpath, file_name=None,
                            dirpath_env="TFRA_SAVED_KV",
                            load_entire_dir=False,
                            buffer_size=DEFAULT_BUFFER_SIZE, name=None):
    """Inserts the rows saved by `save_to_file_system`.

    Every file is verified (format, dtypes, dim, length, checksum) before
    the first row is inserted; on any error the table is unchanged.

    Args:
      dirpath: Directory holding the file(s).
      file_name: File name without extension; defaults to the table's name.
      dirpath_env: Name of an environment variable that, when set, replaces
        `dirpath` (TFRA's rule; read at this call). None: `dirpath` only.
      load_entire_dir: Load every `*.tfrakv` file in `dirpath` (in name
        order; later files win on duplicate keys).
      buffer_size: Read buffer in bytes (values below 4096 use 4096).
      name: Optional op name.

    Raises:
      tf.errors.NotFoundError: missing file or directory.
      tf.errors.DataLossError: truncated, corrupt or foreign file.
      tf.errors.InvalidArgumentError: key dtype, value dtype or dim differ.

    Example:
      >>> import os, tempfile, tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> d = tempfile.mkdtemp()
      >>> for part in range(2):
      ...   t = de.CuckooHashTable(tf.int64, tf.float32, [0.0], name=f"part{part}")
      ...   t.insert([part], [[float(part)]])
      ...   t.save_to_file_system(d)
      >>> sorted(os.listdir(d))
      ['part0.tfrakv', 'part1.tfrakv']
      >>> merged = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
      >>> merged.load_from_file_system(d, load_entire_dir=True)
      >>> merged.lookup([0, 1]).numpy().tolist()
      [[0.0], [1.0]]
    """
    dirpath = file_streams.resolve_dirpath(dirpath, dirpath_env)
    with tf.name_scope(name or f"{_op_name(self._name)}_load"):
      return _ops().tfra_hash_table_load_from_file_system(
          self.resource_handle, dirpath, _file_name(file_name, self._name),
          key_dtype=self._key_dtype, value_dtype=self._value_dtype,
          load_entire_dir=bool(load_entire_dir), buffer_size=int(buffer_size))

  # Checkpointing protocol (tf.train.Checkpoint, SavedModel variables).
  def _serialize_to_tensors(self):
    if not (self._checkpoint or self.saved_model_rows):
      return {}
    if self._config.bounded:
      return self._meta_tensors()
    keys, values = self.export()
    return {"-keys": keys, "-values": values}

  def _restore_from_tensors(self, restored_tensors):
    if not (self._checkpoint or self.saved_model_rows):
      return tf.no_op()
    if self._config.bounded and "-versions" in restored_tensors:
      return self._restore_meta_tensors(restored_tensors)
    return _ops().tfra_hash_table_import(
        self.resource_handle, restored_tensors["-keys"],
        restored_tensors["-values"])


def _op_name(name):
  """A valid TF op name derived from a user-facing table name."""
  cleaned = "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
  return cleaned if cleaned and cleaned[0].isalnum() else "T" + cleaned


def _file_name(file_name, table_name):
  name = file_name if file_name is not None else table_name
  if isinstance(name, str):
    return name.replace("/", "_")
  return name
