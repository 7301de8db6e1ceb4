"""`de.export_static`: a trained model's dynamic tables frozen into plain
TensorFlow lookups, for TFLite and for servers without this package.

Each `de.keras.layers` embedding layer of the model gets a frozen table:
the chosen rows as a dense matrix `[n + 1, dim]` (row n: the default row of
ids not kept) and an id -> row index map: for integer ids a sorted key
vector searched by an unrolled binary search (ceil(log2(n + 1)) gather /
compare / select steps, ops every TFLite runtime has); for string ids a
`tf.lookup.StaticHashTable` (TFLite's builtin string -> int64 hash table).
The model's function is traced once with every layer reading its frozen
table instead of its `de.Variable` (`active`), so the traced
graph holds no `TFRA>` op; `StaticModel` checks that it holds none.
"""

import contextlib
import threading

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

_ACTIVE = threading.local()


def frozen_table(layer):
  """`layer`'s FrozenTable while a model is being exported, else None."""
  tables = getattr(_ACTIVE, "tables", None)
  return tables.get(id(layer)) if tables else None


def frozen_rows(layer, ids):
  """The rows of `ids` from `layer`'s frozen table while a model is being
  exported, else None (the layer reads its `de.Variable`)."""
  frozen = frozen_table(layer)
  if frozen is None:
    return None
  if isinstance(ids, tf.RaggedTensor):
    return tf.ragged.map_flat_values(frozen.rows, ids)
  return frozen.rows(ids)


class FrozenTable(tf.Module):
  """One layer's rows as a static id -> row lookup (module docstring).

  Args:
    keys: numpy keys `[n]` (distinct).
    rows: numpy rows `[n, dim]`.
    default_row: numpy `[dim]`, the row of every other id.
    key_dtype: The layer's id dtype.
    name: Module name.
  """

  def __init__(self, keys, rows, default_row, key_dtype, name=None):
    super().__init__(name=name)
    self.key_dtype = key_dtype
    self.size = len(keys)
    if key_dtype == tf.string:
      order = np.arange(self.size)
      self._string_keys = np.asarray([bytes(k) for k in keys], object)
      # Hash tables, built on first use (a model reads its string ids
      # either as whole keys or, a FieldEmbedding's, by field): "" for the
      # whole keys, str(field) for one field's raw ids.
      self.hash_tables = {}
      self._by_field = None
    else:
      order = np.argsort(keys, kind="stable")
      self._keys = tf.constant(np.asarray(keys, np.int64)[order])
    matrix = np.concatenate([rows[order], default_row[None, :]], axis=0)
    self.matrix = tf.Variable(matrix, trainable=False, name="rows")

  def index(self, ids):
    """Row positions of `ids` (any shape); `size` for ids not kept."""
    n = self.size
    if n == 0:
      return tf.zeros(tf.shape(ids), tf.int64)
    if self.key_dtype == tf.string:
      return self._hash_table("", self._string_keys, range(n)).lookup(ids)
    ids = tf.cast(ids, tf.int64)
    # lo = how many keys are < id, by binary search on the sorted keys.
    lo = tf.zeros_like(ids)
    step = 1 << (n.bit_length() - 1)
    while step:
      probe = lo + step
      below = tf.gather(self._keys, tf.minimum(probe, n) - 1) < ids
      lo = tf.where(tf.logical_and(probe <= n, below), probe, lo)
      step >>= 1
    hit = tf.equal(tf.gather(self._keys, tf.minimum(lo, n - 1)), ids)
    return tf.where(hit, lo, tf.fill(tf.shape(lo), tf.constant(n, tf.int64)))

  def rows(self, ids):
    """Rows `ids.shape + [dim]`."""
    return tf.gather(self.matrix, self.index(ids))

  def _hash_table(self, name, keys, positions):
    """The StaticHashTable `name` of `keys` -> `positions` (made once, in
    the eager context even while a function is traced)."""
    if name not in self.hash_tables:
      with tf.init_scope():
        self.hash_tables[name] = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(keys), tf.string),
                tf.constant(list(positions), tf.int64)),
            default_value=self.size)
    return self.hash_tables[name]

  def index_in_field(self, raw_ids, field):
    """Row positions of string ids of one field of a FieldEmbedding, whose
    keys are `b"<field>:<id>"`: looked up by the raw id in a table of that
    field's keys, so the model needs no `StringJoin`, which TFLite lacks."""
    if self._by_field is None:
      # One pass over the keys: field -> (raw ids, positions), as numpy
      # arrays (a tf.Module would wrap lists for tracking).
      groups = {}
      for position, key in enumerate(self._string_keys):
        prefix, _, raw = key.partition(b":")
        groups.setdefault(prefix.decode(), []).append((raw, position))
      self._by_field = {
          f: (np.array([r for r, _ in g], object), np.array([p for _, p in g]))
          for f, g in groups.items()}
    if str(field) not in self._by_field:
      return tf.fill(tf.shape(raw_ids), tf.constant(self.size, tf.int64))
    return self._hash_table(str(field),
                            *self._by_field[str(field)]).lookup(raw_ids)


def _embedding_layers(model):
  """Every de.keras.layers embedding layer in `model`, once each, found
  through the object graph that checkpoints save (both Kerases track their
  sublayers in it)."""
  # pylint: disable=import-outside-toplevel
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _base
  return [obj for obj in tf.train.TrackableView(model).descendants()
          if isinstance(obj, _base.EmbeddingBase)]


def _chosen(layer, top_n, since):
  """`(keys, rows)` numpy arrays of the rows of `layer` to keep."""
  var = layer.params
  if top_n is None and since is None:
    keys, rows = var.export()
    return keys.numpy(), rows.numpy()
  if not var.bounded:
    raise tf.errors.FailedPreconditionError(
        None, None,
        f"{'top_n' if top_n is not None else 'since'}: layer "
        f"{layer.name!r} keeps no write counts or clocks; create it with "
        f"kv_creator=de.CuckooHashTableCreator(de.CuckooHashTableConfig("
        f"track_changes=True)) (or any bound), or export all rows")
  keys, rows, versions, freqs, _, _ = (t.numpy() for t in
                                       var.export_with_meta())
  if since is not None:
    keep = versions > since
  else:
    # The most often written rows; ties go to the most recently written.
    order = np.lexsort((-versions, -freqs))[:top_n]
    keep = np.zeros(len(keys), bool)
    keep[order] = True
  return keys[keep], rows[keep]


def _default_row(layer, rows, default_row):
  dim = layer.embedding_size
  if isinstance(default_row, str):
    if default_row == "zeros":
      return np.zeros(dim, rows.dtype)
    if default_row == "mean":
      return (rows.mean(0) if len(rows) else np.zeros(dim)).astype(rows.dtype)
    raise v.invalid(f"default_row: must be 'zeros', 'mean' or "
                    f"{dim} numbers, got {default_row!r}")
  row = np.asarray(default_row, rows.dtype)
  if row.shape != (dim,):
    raise v.invalid(f"default_row: layer {layer.name!r} has rows of "
                    f"{dim}, got shape {row.shape}")
  return row


def freeze(model, top_n=None, since=None, default_row="zeros"):
  """A `FrozenTable` per embedding layer of `model`, by layer."""
  if top_n is not None and since is not None:
    raise v.invalid("top_n, since: give at most one")
  if top_n is not None:
    top_n = v.check_int("top_n", top_n, 1)
  if since is not None:
    since = v.check_int("since", since, 0)
  layers = _embedding_layers(model)
  if not layers:
    raise v.invalid(f"model: {getattr(model, 'name', model)!r} holds no "
                    f"de.keras.layers embedding layer")
  frozen = []
  for layer in layers:
    keys, rows = _chosen(layer, top_n, since)
    if layer.max_norm is not None:
      norms = np.linalg.norm(rows.astype(np.float64), axis=1, keepdims=True)
      rows = (rows * np.minimum(1.0, layer.max_norm /
                                np.maximum(norms, 1e-30))).astype(rows.dtype)
    frozen.append((layer, FrozenTable(
        keys, rows, _default_row(layer, rows, default_row), layer.key_dtype,
        name=f"{layer.name}_frozen")))
  return frozen


@contextlib.contextmanager
def active(frozen):
  """Layers of `frozen` read their frozen tables inside the block."""
  previous = getattr(_ACTIVE, "tables", None)
  _ACTIVE.tables = {id(layer): table for layer, table in frozen}
  try:
    yield
  finally:
    _ACTIVE.tables = previous
