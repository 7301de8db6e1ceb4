"""Dynamic-embedding tables in Keras weight files, for any Keras flavour.

Keras 3 saves a layer's or optimizer's state with
`save_own_variables(store)` and loads it with `load_own_variables(store)`;
`store` maps names to numpy arrays (an HDF5 group in `.keras` and
`.weights.h5` files, a dict for npz weights). The functions here write the
content of a `de.Variable` into such a store and read it back, so that the
layers and optimizers of either Keras can hold their tables there. Nothing
here imports a Keras.

One table is written under a name prefix P (a layer uses "table:", an
optimizer "<slot index>:"):

  P + "format"        uint8 bytes of a JSON record: format version, table
                      name, key and value dtype, dim and the column names
  P + c               each column c of the variable's checkpoint tensors:
                      "keys", "values" and, for bounded tables, the
                      bookkeeping ("versions", "freqs", "scores", "clock",
                      "sketch"); bfloat16 columns are stored as float32
  P + c + ".bytes"    a string column: every string's bytes, concatenated
  P + c + ".offsets"  (uint8), and the int64 offsets of the strings' starts
                      plus the total length, so keys with NUL bytes or
                      invalid UTF-8 survive

A table travels whole: one export on saving, one import per shard on
loading. `write_dense` / `read_dense` save the owner's Keras variables by
index, as Keras does, leaving out the row buffers and their slots (whose
content matters only within a training step).

Loading validates everything first (format, key dtype, dim, column
lengths) and raises naming the owner and the mismatch; only then does it
replace the table's content, routing the rows through the variable's
current partitioner (so any shard count loads any file).
"""

import json

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

FORMAT_VERSION = 1

# Columns that are not one entry per row (bounds.py's bookkeeping: the
# table clock and the admission sketch).
_WHOLE_TABLE_COLUMNS = ("clock", "sketch")
_BOOKKEEPING = ("versions", "freqs", "scores", "clock")


def encode_strings(strings):
  """A 1-D string tensor (or array of bytes) as `(bytes, offsets)`.

  Args:
    strings: `[n]` strings; any bytes, NUL and invalid UTF-8 included.

  Returns:
    `(data, offsets)`: uint8 `[total bytes]` with every string's bytes
    concatenated, and int64 `[n + 1]` where string i is
    `data[offsets[i]:offsets[i + 1]]`.

  Example:
    >>> data, offsets = encode_strings([b"ab", b"\\x00", b""])
    >>> data.tolist(), offsets.tolist()
    ([97, 98, 0], [0, 2, 3, 3])
  """
  strings = tf.reshape(tf.convert_to_tensor(strings, tf.string), [-1])
  lengths = tf.strings.length(strings, unit="BYTE").numpy()
  data = np.frombuffer(tf.strings.reduce_join(strings).numpy(), np.uint8)
  offsets = np.zeros(len(lengths) + 1, np.int64)
  np.cumsum(lengths, out=offsets[1:])
  return data, offsets


def decode_strings(data, offsets):
  """Inverse of `encode_strings`.

  Args:
    data: `[total bytes]` byte values (uint8).
    offsets: int64 `[n + 1]`, from 0 to `len(data)`, non-decreasing.

  Returns:
    A `[n]` string tensor.

  Raises:
    tf.errors.InvalidArgumentError: offsets that do not index `data`.

  Example:
    >>> decode_strings([97, 98, 0], [0, 2, 3, 3]).numpy().tolist()
    [b'ab', b'\\x00', b'']
  """
  data = np.asarray(data)
  offsets = np.asarray(offsets)
  if data.ndim != 1 or offsets.ndim != 1 or len(offsets) < 1 or \
      not np.issubdtype(data.dtype, np.integer) or \
      not np.issubdtype(offsets.dtype, np.integer) or \
      (data.size and (data.min() < 0 or data.max() > 255)):
    raise v.invalid("strings: expected 1-D bytes (0..255) and 1-D integer "
                    "offsets")
  data = data.astype(np.uint8, copy=False)
  offsets = offsets.astype(np.int64, copy=False)
  if offsets[0] != 0 or offsets[-1] != len(data) or \
      np.any(np.diff(offsets) < 0):
    raise v.invalid(f"strings: offsets must rise from 0 to {len(data)}")
  blob = tf.constant(data.tobytes())
  # A scalar input broadcasts without copying the blob per string.
  return tf.strings.substr(blob, offsets[:-1], np.diff(offsets))


def write_table(store, prefix, var):
  """Writes the content of `var` into `store` under `prefix`.

  A variable created with `checkpoint=False` writes its format record only.

  Args:
    store: A Keras weights store (or a dict): `store[name] = array`.
    prefix: Name prefix of this table's entries.
    var: A `de.Variable`.
  """
  columns = _columns(var)
  record = {
      "format": FORMAT_VERSION,
      "name": var.name,
      "key_dtype": var.key_dtype.name,
      "value_dtype": var.value_dtype.name,
      "dim": var.dim,
      "columns": sorted(columns),
  }
  store[prefix + "format"] = np.frombuffer(
      json.dumps(record).encode("utf-8"), np.uint8)
  for name, tensor in columns.items():
    if tensor.dtype == tf.string:
      data, offsets = encode_strings(tensor)
      store[f"{prefix}{name}.bytes"] = data
      store[f"{prefix}{name}.offsets"] = offsets
    else:
      if tensor.dtype == tf.bfloat16:
        tensor = tf.cast(tensor, tf.float32)
      store[prefix + name] = tensor.numpy()


def _columns(var):
  """{column name: tensor} of the variable's rows (and bookkeeping), as its
  bundle checkpoints hold them; empty with `checkpoint=False`."""
  tensors = var._row_tensors()  # pylint: disable=protected-access
  return {name.lstrip("-"): tensor for name, tensor in tensors.items()}


def has_table(store, prefix):
  """Whether `store` holds a table under `prefix`."""
  return prefix + "format" in store


class TableContent:
  """A validated table read from a store, ready for `restore`.

  Attributes:
    var: The `de.Variable` it is for.
    columns: {column name: tensor}, keys in the variable's key dtype and
      values in its value dtype; empty when nothing is to be restored.
  """

  def __init__(self, var, columns):
    self.var = var
    self.columns = columns

  def restore(self):
    """Replaces the variable's content (keys not in the file are gone),
    routing rows through its partitioner; bounded variables get the saved
    bookkeeping when the file has it.

    Returns:
      The op (None when executing eagerly or with nothing to restore).
    """
    if not self.columns:
      return None
    # The checkpoint protocol's own restore of rows (and bookkeeping).
    return self.var._restore_rows(  # pylint: disable=protected-access
        {"-" + name: tensor for name, tensor in self.columns.items()})


def read_table(store, prefix, var, owner):
  """Reads and validates the table `write_table` wrote under `prefix`.

  Args:
    store: A Keras weights store (or a dict).
    prefix: Name prefix of the table's entries.
    var: The `de.Variable` the content is for.
    owner: Names the layer or optimizer in errors (e.g. "layer 'emb'").

  Returns:
    A `TableContent`; nothing is written until its `restore()`.

  Raises:
    tf.errors.InvalidArgumentError: no table under `prefix`, an unknown
      format, or a table whose key dtype, dim or columns do not fit `var`;
      the message names `owner` and the mismatch.
  """
  if not has_table(store, prefix):
    raise v.invalid(f"{owner}: the file holds no dynamic-embedding table "
                    f"for {var.name!r} (it was not saved by this layer or "
                    f"optimizer type)")
  record = _read_record(store, prefix, owner)
  saved = f"{owner}: the file's table {record.get('name')!r}"
  if record.get("key_dtype") != var.key_dtype.name:
    raise v.invalid(f"{saved} has {record.get('key_dtype')} keys, but "
                    f"table {var.name!r} has {var.key_dtype.name} keys")
  if record.get("dim") != var.dim:
    raise v.invalid(f"{saved} has rows of dim {record.get('dim')}, but "
                    f"table {var.name!r} has dim {var.dim}")
  names = record.get("columns") or []
  if not var.checkpoint:
    return TableContent(var, {})
  if not {"keys", "values"} <= set(names):
    raise v.invalid(f"{saved} holds no rows (saved with checkpoint=False), "
                    f"but table {var.name!r} has checkpoint=True")
  wanted = ["keys", "values"]
  if var.bounded and "versions" in names:
    wanted += list(_BOOKKEEPING)
    if _admits(var):
      if "sketch" not in names:
        raise v.invalid(f"{saved} has no admission sketch, but table "
                        f"{var.name!r} admits keys after {_admits(var)} "
                        f"sightings (admit_after)")
      wanted.append("sketch")
  columns = {name: _read_column(store, prefix + name, saved)
             for name in wanted}
  _check_lengths(columns, saved)
  if columns["keys"].dtype != var.key_dtype:
    raise v.invalid(f"{saved} has keys of dtype {columns['keys'].dtype.name},"
                    f" but table {var.name!r} has {var.key_dtype.name} keys")
  columns["values"] = tf.cast(columns["values"], var.value_dtype)
  values_shape = columns["values"].shape
  if values_shape.rank != 2 or values_shape[1] != var.dim:
    raise v.invalid(f"{saved} has values of shape {values_shape}, not "
                    f"[n, {var.dim}]")
  return TableContent(var, columns)


def _admits(var):
  """The admission threshold of a bounded variable (0: none)."""
  config = var._table_config  # pylint: disable=protected-access
  after = getattr(config, "admit_after", 0) or 0
  return after if after > 1 else 0


def _read_record(store, prefix, owner):
  try:
    raw = np.asarray(store[prefix + "format"], np.uint8).tobytes()
    record = json.loads(raw.decode("utf-8"))
  except (ValueError, TypeError, UnicodeDecodeError) as e:
    raise v.invalid(f"{owner}: unreadable table record "
                    f"{prefix + 'format'!r}: {e}") from e
  if not isinstance(record, dict) or record.get("format") != FORMAT_VERSION:
    raise v.invalid(f"{owner}: unknown table format in {prefix + 'format'!r}"
                    f" (this version reads format {FORMAT_VERSION})")
  return record


def _read_column(store, name, saved):
  if name in store:
    return tf.convert_to_tensor(np.asarray(store[name]))
  if name + ".bytes" in store and name + ".offsets" in store:
    return decode_strings(store[name + ".bytes"], store[name + ".offsets"])
  raise v.invalid(f"{saved} lacks its column {name!r}")


def _check_lengths(columns, saved):
  """Every per-row column has one entry per key."""
  count = columns["keys"].shape[0] if columns["keys"].shape.rank == 1 else -1
  for name, tensor in columns.items():
    if name in _WHOLE_TABLE_COLUMNS:
      continue
    if tensor.shape.rank is None or tensor.shape.rank < 1 or \
        tensor.shape[0] != count:
      raise v.invalid(f"{saved}: column {name!r} of shape {tensor.shape} "
                      f"does not have one entry per key (keys: "
                      f"{columns['keys'].shape})")


def dense_names(variables, skip):
  """The store names of Keras variables saved the Keras way (`str(index)`),
  leaving out those `skip(variable)` names (row buffers and their slots,
  whose contents only matter within a step)."""
  return {str(i): var for i, var in enumerate(variables) if not skip(var)}


def write_dense(store, variables, skip):
  """Writes `variables` (but the skipped ones) by index, as Keras does.

  Args:
    store: A Keras weights store.
    variables: The layer's or optimizer's Keras variables, in Keras order.
    skip: `fn(variable) -> bool`: variables not to write.
  """
  for name, var in dense_names(variables, skip).items():
    store[name] = np.asarray(var.numpy())


def read_dense(store, variables, skip, owner):
  """Reads and checks what `write_dense` wrote.

  Returns:
    [(variable, array)] to assign.

  Raises:
    tf.errors.InvalidArgumentError: a missing entry or a shape mismatch,
      naming `owner`.
  """
  pairs = []
  for name, var in dense_names(variables, skip).items():
    if name not in store:
      raise v.invalid(f"{owner}: the file lacks variable {name} "
                      f"({getattr(var, 'path', var.name)})")
    value = np.asarray(store[name])
    if tuple(value.shape) != tuple(var.shape):
      raise v.invalid(f"{owner}: variable {name} has shape {value.shape} in "
                      f"the file, {tuple(var.shape)} in the model")
    pairs.append((var, value))
  return pairs


def save_state(store, variables, skip, tables):
  """Writes an owner's state: its Keras variables by index (but the
  skipped ones, `write_dense`) and each table under its prefix.

  Args:
    store: The layer's or optimizer's Keras weights store.
    variables, skip: As for `write_dense`.
    tables: {name prefix: `de.Variable`}.
  """
  write_dense(store, variables, skip)
  for prefix, var in tables.items():
    write_table(store, prefix, var)


def load_state(store, variables, skip, tables, owner):
  """Restores what `save_state` wrote: everything is read and checked
  before any variable or table is written.

  Args:
    store, variables, skip, tables: As for `save_state`.
    owner: Names the layer or optimizer in errors.

  Raises:
    tf.errors.InvalidArgumentError: as for `read_dense` and `read_table`;
      nothing is changed.
  """
  dense = read_dense(store, variables, skip, owner)
  contents = [read_table(store, prefix, var, owner)
              for prefix, var in tables.items()]
  for variable, value in dense:
    variable.assign(value)
  for content in contents:
    content.restore()

