"""Streaming table files into a `de.Variable` with bounded memory.

Reading is two passes over the files, both through ops that need no table
(cc/kernels/kv_file_kernels.cc): first every file is verified whole
(header against the variable's key dtype, value dtype and dim, record
structure, count, CRC), so a corrupt or foreign file is reported before any
row is applied; then each file is read chunk by chunk (`chunk_rows`), and
the rows are written through the variable's own partitioner. Files saved
with any shard count or process count therefore load into any variable.

A load is all or nothing (`load`): eagerly, chunks stream into the table
and a read that fails part-way puts back a snapshot taken before the load;
in a graph or `tf.function` (restore functions of a SavedModel, TF1 Savers)
the chunks are staged in TensorArrays and written only once all were read.
"""

import json
import os

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import save_marks

from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.resource_loader import LIBRARIES

_LIB = LIBRARIES["_cuckoo_hashtable_ops.so"]

# Extension of table files (cc/kernels/tf_file_io.h: kTableFileSuffix).
SUFFIX = ".tfrakv"

# A chunk holds at least this many bytes of rows (or `buffer_size`, if
# larger), so a read op call moves enough rows to amortise its overhead.
MIN_CHUNK_BYTES = 4 * 1024 * 1024


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  b"0123456789._-")


def escape_name(name):
  """`name` as one file-name component, distinct names giving distinct
  components: bytes outside `[A-Za-z0-9._-]` (UTF-8) become `%XX`, so
  'user/emb' is 'user%2Femb' and 'user_emb' stays as it is. (No glob or
  path character survives, so the result is safe in `matching_files`.)"""
  return "".join(chr(b) if b in _SAFE else "%%%02X" % b
                 for b in name.encode("utf-8"))


def check_procs(proc_size, proc_rank):
  """`(proc_size, proc_rank)` as ints, `0 <= proc_rank < proc_size`."""
  proc_size = v.check_int("proc_size", proc_size, 1)
  return proc_size, v.check_int("proc_rank", proc_rank, 0, proc_size - 1)


def resolve_dirpath(dirpath, dirpath_env):
  """TFRA's rule for file saves: the environment variable named
  `dirpath_env`, when set and not empty, replaces `dirpath` (read when the
  save or load is called, i.e. when a graph op is built)."""
  if dirpath_env:
    override = os.environ.get(dirpath_env)
    if override:
      return override
  return dirpath


def check_not_append(append_to_file):
  """Refuses TFRA's `append_to_file=True`: files are whole and atomic."""
  if append_to_file:
    raise tf.errors.UnimplementedError(
        None, None, "append_to_file: table files are written whole (a "
        "checksummed file committed atomically) and cannot be appended to; "
        "save to another file name or directory and load the files together "
        "(load_from_file_system(..., load_entire_dir=True))")


def rank_suffix(proc_size, proc_rank):
  """The part of a file name naming the process: only with several."""
  return f"_rank{proc_rank}of{proc_size}" if proc_size > 1 else ""


def chunk_rows(var, buffer_size):
  """Rows per read chunk for `var`'s row size and a byte budget."""
  key_bytes = 16 if var.key_dtype == tf.string else var.key_dtype.size
  row_bytes = var.dim * var.value_dtype.size + key_bytes
  return max(1, max(int(buffer_size), MIN_CHUNK_BYTES) // row_bytes)


def _attrs(var, buffer_size):
  # Reads go through buffers of at least MIN_CHUNK_BYTES: a small write
  # buffer (FileSystemSaver's default is 4 KiB) would mean a read call per
  # few rows.
  return dict(key_dtype=var.key_dtype, value_dtype=var.value_dtype,
              dim=var.dim, buffer_size=max(int(buffer_size), MIN_CHUNK_BYTES))


def verify(var, paths, buffer_size, all_ranks=True):
  """Verifies whole files for `var`; returns their row counts (int64 [n]).

  Files named `<stem>_<i>of<n>[_rank<r>of<p>]` must form complete sets, one
  save each (cc/kernels/shard_sets.h): every shard of every rank present
  (with `all_ranks`, a Python or tensor bool, every rank 0..p-1), one `n`
  and one `p` per stem.

  Raises (when run):
    tf.errors.NotFoundError: a file, or a shard of a set, does not exist.
    tf.errors.DataLossError: a truncated, corrupt or foreign file; files of
      two saves with other shard or process counts.
    tf.errors.InvalidArgumentError: another key dtype, value dtype or dim.
  """
  attrs = _attrs(var, buffer_size)

  def run(every_rank):
    return _LIB.ops.tfra_kv_file_verify(paths, complete_sets=True,
                                        all_ranks=every_rank, **attrs)

  if isinstance(all_ranks, bool):
    return run(all_ranks)
  return tf.cond(all_ranks, lambda: run(True), lambda: run(False))


def read_rows(var, paths, buffer_size, proc_size=1, proc_rank=0,
              filter_keys=True):
  """Reads every row of verified files `paths`, without touching `var`.

  Files are read chunk by chunk (a read op per chunk, see `chunk_rows`) and
  the chunks staged in TensorArrays, so a read that fails part-way (a file
  that vanished or broke after `verify`) raises before any row reaches the
  table: the caller writes only once the whole input is in memory. Peak
  memory is the table plus the rows read.

  Args:
    var: The `de.Variable` the rows are for (dtypes and dim).
    paths: 1-D string tensor (or list) of file paths.
    buffer_size: Byte budget of one chunk (at least MIN_CHUNK_BYTES).
    proc_size: Number of processes sharing the variable's keys.
    proc_rank: This process's rank; with `proc_size` > 1 (and
      `filter_keys`) only keys with
      `de.default_partition_fn(key, proc_size) == proc_rank` are kept.
    filter_keys: Python or tensor bool: whether that filter applies.

  Returns:
    `(keys, values)`: 1-D keys and their [n, dim] rows, in file order.
  """
  paths = tf.convert_to_tensor(paths, tf.string)
  attrs = _attrs(var, buffer_size)
  attrs["max_rows"] = chunk_rows(var, buffer_size)

  def staged(dtype, shape):
    return tf.TensorArray(dtype, size=0, dynamic_size=True,
                          infer_shape=False, element_shape=shape)

  def read_file(path, chunk, key_ta, value_ta):
    def body(offset, _end, chunk, key_ta, value_ta):
      keys, values, nxt, end = _LIB.ops.tfra_kv_file_read_rows(
          path, offset, **attrs)
      if proc_size > 1:
        mine = tf.logical_or(
            tf.logical_not(filter_keys),
            tf.equal(default_partition_fn(keys, proc_size), proc_rank))
        keys = tf.boolean_mask(keys, mine)
        values = tf.boolean_mask(values, mine)
      return (nxt, end, chunk + 1, key_ta.write(chunk, keys),
              value_ta.write(chunk, values))

    # Offset 0 asks for the first record; the first read returns the end.
    _, _, chunk, key_ta, value_ta = tf.while_loop(
        lambda offset, end, *_: offset < end, body,
        [tf.constant(0, tf.int64), tf.constant(1, tf.int64), chunk, key_ta,
         value_ta])
    return chunk, key_ta, value_ta

  def file_loop(i, chunk, key_ta, value_ta):
    return (i + 1,) + read_file(paths[i], chunk, key_ta, value_ta)

  _, _, key_ta, value_ta = tf.while_loop(
      lambda i, *_: i < tf.size(paths), file_loop,
      [tf.constant(0), tf.constant(0),
       staged(var.key_dtype, tf.TensorShape([None])),
       staged(var.value_dtype, tf.TensorShape([None, var.dim]))])
  return key_ta.concat(), value_ta.concat()


def read_into(var, paths, buffer_size, proc_size=1, proc_rank=0,
              filter_keys=True):
  """Streams the rows of verified files `paths` into `var` (upserts), one
  chunk at a time (memory beyond the table: one chunk). Eager only: a read
  that fails part-way leaves the rows before it written, which `load` then
  rolls back.

  Args and key filter: as `read_rows`.

  Returns:
    The number of rows written (int64 scalar tensor).
  """
  paths = tf.convert_to_tensor(paths, tf.string)
  attrs = _attrs(var, buffer_size)
  attrs["max_rows"] = chunk_rows(var, buffer_size)
  total = tf.constant(0, tf.int64)
  for path in paths.numpy():
    offset, end = tf.constant(0, tf.int64), tf.constant(1, tf.int64)
    while offset < end:
      keys, values, offset, end = _LIB.ops.tfra_kv_file_read_rows(
          path, offset, **attrs)
      if proc_size > 1:
        mine = tf.logical_or(
            tf.logical_not(filter_keys),
            tf.equal(default_partition_fn(keys, proc_size), proc_rank))
        keys = tf.boolean_mask(keys, mine)
        values = tf.boolean_mask(values, mine)
      var.upsert(keys, values)
      total += tf.size(keys, out_type=tf.int64)
  return total


def _snapshot(var):
  """`var`'s rows with their bookkeeping (bounded variables), in the form
  `_restore_rows` takes; None for an empty variable (rolled back by a
  clear)."""
  if int(var.size()) == 0:
    return None
  if var.bounded:
    return var._meta_tensors()  # pylint: disable=protected-access
  keys, values = var.export()
  return {"-keys": keys, "-values": values}


def _roll_back(var, snapshot):
  var.clear()
  if snapshot is not None:
    var._restore_rows(snapshot)  # pylint: disable=protected-access


def _in_graph(fn, inputs=()):
  """Runs `fn(*inputs)` (eager tensors in, a str or None out) when the
  graph runs; an OpError it raises fails the graph with the same code
  (through TFRA>RaiseStatus: a py_function alone would make it Unknown).
  Returns fn's result as a string tensor."""
  def run(*args):
    try:
      return [fn(*args) or "", 0, ""]
    except tf.errors.OpError as error:
      return ["", error.error_code, error.message]

  result, code, message = tf.py_function(run, list(inputs),
                                         [tf.string, tf.int32, tf.string])
  raised = _LIB.ops.tfra_raise_status(code, message)
  with tf.control_dependencies([raised]):
    return tf.identity(result)


def _blame_resave(marks, before, error):
  """A load that failed while the files were being saved again (a shard
  vanished, a set turned mixed) fails with the save's AbortedError, the
  cause, rather than with the error it happened to hit."""
  if isinstance(error, tf.errors.AbortedError):
    return
  try:
    save_marks.check_unchanged(marks, before)
  except tf.errors.AbortedError as resaved:
    raise resaved from error


def load(var, paths, buffer_size, proc_size=1, proc_rank=0, replace=False,
         filter_keys=True, all_ranks=True, marks=(), marks_before=None):
  """Loads files `paths` into `var`, all or nothing.

  Every file is verified whole first (see `verify`): a missing, corrupt or
  foreign file raises before the table is touched. A read that still fails
  after that (a file that vanished or changed since, an I/O error) leaves
  `var` as it was too:
  - eagerly, rows stream into the table chunk by chunk (with `replace`,
    after a clear) and a failure puts back a snapshot taken before the
    load (the rows and, bounded, their bookkeeping; nothing for an empty
    table), so memory beyond the table is one chunk plus that snapshot;
  - in a graph or `tf.function`, where an error cannot be caught, all rows
    are read first (`read_rows`) and written in one upsert, so memory
    beyond the table is the rows read.

  Args:
    var, paths, buffer_size, proc_size, proc_rank, filter_keys: as
      `read_rows`; `all_ranks` as `verify`.
    replace: Clear `var` before writing the rows.
    marks: Paths of the save marks that guard `paths` (save_marks.py):
      read before the first file and checked after the last row was read;
      a save in flight or one that ran meanwhile fails the load
      (AbortedError) with `var` as it was.
    marks_before: What `save_marks.read(marks)` returned, when the caller
      read the marks itself before listing `paths` (eager only).

  Returns:
    The number of rows written (int64 scalar tensor).
  """
  marks = list(marks)
  if tf.executing_eagerly():
    before = marks_before if marks_before is not None else (
        save_marks.read(marks))
    try:
      verify(var, paths, buffer_size, all_ranks)
    except tf.errors.OpError as error:
      _blame_resave(marks, before, error)
      raise
    snapshot = _snapshot(var)
    try:
      if replace:
        var.clear()
      written = read_into(var, paths, buffer_size, proc_size, proc_rank,
                          filter_keys)
      save_marks.check_unchanged(marks, before)
      return written
    except (tf.errors.OpError, ValueError) as error:
      _roll_back(var, snapshot)
      _blame_resave(marks, before, error)
      raise
  deps = []
  if marks:
    before = _in_graph(lambda: json.dumps(save_marks.read(marks)))
    deps = [before]
  with tf.control_dependencies(deps):
    counts = verify(var, paths, buffer_size, all_ranks)
  with tf.control_dependencies([counts]):
    keys, values = read_rows(var, paths, buffer_size, proc_size, proc_rank,
                             filter_keys)
  checked = [keys, values]
  if marks:
    with tf.control_dependencies(checked):
      checked.append(_in_graph(
          lambda b: save_marks.check_unchanged(
              marks, tuple(json.loads(b.numpy().decode()))), [before]))
  with tf.control_dependencies(checked):
    cleared = var.clear() if replace else None
  with tf.control_dependencies(checked + (
      [cleared] if cleared is not None else [])):
    ops = [op for op in [var.upsert(keys, values)] if op is not None]
  with tf.control_dependencies(ops):
    return tf.size(keys, out_type=tf.int64)
