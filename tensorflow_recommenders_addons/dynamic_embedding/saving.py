"""Persistence of `de.Variable`: the checkpoint protocol and file saves.

Checkpoints (`VariableSaving`, mixed into `de.Variable`): the variable, not
its tables, is the saveable object. It saves all rows as one `keys`/`values`
pair under its own object path and on restore routes them through its
*current* partitioner, so a checkpoint restores into a variable with another
shard count or another `name`, and replaces the content (keys not in the
checkpoint are gone afterwards). Table children are hidden from checkpoints
(so the object graph does not depend on the shard count) but kept in
SavedModels, whose functions capture the tables' resources.

Files (`save` / `load`, behind `save_to_file_system` /
`load_from_file_system`): shard i (1-based) of n is written to
`<prefix>_mht_<i>of<n>[_rank<r>of<p>].tfrakv`, where `<prefix>` is the
variable name with '/' replaced by '_' (or, with `short_file_name=True`, an
8-hex-digit CRC32 of the name) and the rank suffix appears only when
`proc_size` > 1. Loading finds a variable's files by that prefix, so files
written with any shard count load into any variable: every file is first verified whole, and only when all passed are their rows
streamed, chunk by chunk, through the variable's partitioner
(file_streams.py): a corrupt file leaves the variable unchanged, and memory
beyond the variable is one chunk.
"""

import copy
import os
import re
import zlib

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import file_streams
from tensorflow_recommenders_addons.dynamic_embedding.file_system_saver import FileSystemSaver
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import DEFAULT_BUFFER_SIZE


def _prefix(var):
  if var.short_file_name:
    return "%08x" % (zlib.crc32(var.name.encode("utf-8")) & 0xFFFFFFFF)
  return var.name.replace("/", "_")


def shard_file_name(var, idx, proc_size=1, proc_rank=0):
  """File stem of shard `idx` (0-based)."""
  return (f"{_prefix(var)}_mht_{idx + 1}of{var.shard_num}"
          f"{file_streams.rank_suffix(proc_size, proc_rank)}")


def _check_procs(proc_size, proc_rank):
  # None: one process (the signature's defaults are 1 and 0).
  return file_streams.check_procs(1 if proc_size is None else proc_size,
                                  0 if proc_rank is None else proc_rank)


def save(var, dirpath, proc_size, proc_rank, buffer_size):
  """Writes each shard with the table's atomic streaming save."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  ops = var._on_each_shard(  # pylint: disable=protected-access
      lambda idx, table: table.save_to_file_system(
      dirpath, file_name=shard_file_name(var, idx, proc_size, proc_rank),
      buffer_size=buffer_size))
  ops = [op for op in ops if op is not None]
  return tf.group(*ops) if ops else None


def _files_of(var, dirpath, proc_size, proc_rank):
  """Stems of the files this variable (at this rank) saved in `dirpath`."""
  rank = file_streams.rank_suffix(proc_size, proc_rank)
  pattern = re.compile(re.escape(_prefix(var)) + r"_mht_\d+of\d+" +
                       re.escape(rank) + re.escape(file_streams.SUFFIX) + "$")
  names = tf.io.gfile.listdir(dirpath) if tf.io.gfile.isdir(dirpath) else []
  return sorted(n[:-len(file_streams.SUFFIX)] for n in names
                if pattern.match(n))


def load(var, dirpath, proc_size, proc_rank, buffer_size):
  """Loads this variable's files (see the module docstring)."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  dirpath = os.fspath(dirpath)
  stems = _files_of(var, dirpath, proc_size, proc_rank)
  if not stems:
    raise tf.errors.NotFoundError(
        None, None, f"dirpath: no files of variable {var.name!r} "
        f"('{_prefix(var)}_mht_*{file_streams.SUFFIX}') in {dirpath!r}")
  paths = [os.path.join(dirpath, stem + file_streams.SUFFIX)
           for stem in stems]
  written = file_streams.load(var, paths, buffer_size)
  return None if tf.executing_eagerly() else written.op


class VariableSaving:
  """Checkpoint and SavedModel protocol and file saves of `de.Variable`
  (see module doc)."""

  # Files ------------------------------------------------------------------

  def file_name(self, idx):
    """File name (no extension) of shard `idx` in `save_to_file_system`."""
    return shard_file_name(self, idx)

  def save_to_file_system(self, dirpath, proc_size=1, proc_rank=0,
                          buffer_size=DEFAULT_BUFFER_SIZE):
    """Streams every shard to `dirpath`, one atomically written file each.

    Args:
      dirpath: Directory (created if missing).
      proc_size: Number of processes saving the same variable.
      proc_rank: This process's rank; part of the file names when
        `proc_size` > 1 so processes do not overwrite each other.
      buffer_size: Write buffer in bytes.

    Example:
      >>> import tempfile
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> d = tempfile.mkdtemp()
      >>> var = de.Variable(dim=1, name="emb")
      >>> var.upsert([1], [[1.0]])
      >>> var.save_to_file_system(d)
      >>> fresh = de.Variable(dim=1, name="emb")
      >>> fresh.load_from_file_system(d)
      >>> fresh.lookup([1]).numpy().tolist()
      [[1.0]]
    """
    return save(self, dirpath, proc_size, proc_rank, buffer_size)

  def load_from_file_system(self, dirpath, proc_size=1, proc_rank=0,
                            buffer_size=DEFAULT_BUFFER_SIZE):
    """Inserts the rows that `save_to_file_system` wrote for this variable.

    Files written with another shard or process count are re-routed
    through this variable's partitioner.

    Args:
      dirpath: Directory holding the files.
      proc_size: Number of processes that load the variable.
      proc_rank: This process's rank; with `proc_size` > 1 only the keys
        this rank owns (shard `k mod proc_size == proc_rank` of the saved
        files) are loaded.
      buffer_size: Read buffer in bytes.

    Raises:
      tf.errors.NotFoundError: no file of this variable in `dirpath`.
      tf.errors.DataLossError: a corrupt file (nothing is loaded).
    """
    return load(self, dirpath, proc_size, proc_rank, buffer_size)

  def _trackable_children(self, save_type="checkpoint", **kwargs):
    """Checkpoints see no table children: the variable saves every shard's
    rows itself, so a checkpoint's object graph does not depend on the shard
    count. SavedModels keep the tables and the lookup wrappers, whose
    resources exported functions capture."""
    children = super()._trackable_children(save_type, **kwargs)
    if save_type == "checkpoint":
      children.pop("_tables", None)
    else:
      # Wrappers and their ids as direct children: a revived variable keeps
      # no children of its own.
      for name, wrapper in sorted(self._store.trainables.items()):
        children[f"trainable_wrapper/{name}"] = wrapper
        children[f"trainable_wrapper/{name}/ids"] = wrapper.ids
    return children

  def _deserialization_dependencies(self, children):
    """Tables are exported (and revived) before the variable that reads them."""
    deps = dict(super()._deserialization_dependencies(children))
    deps.update({f"_tables/{i}": t for i, t in enumerate(self._tables)})
    return deps

  def _export_to_saved_model_graph(self, object_map, tensor_map, options,
                                   **kwargs):
    """SavedModel export: saving runs in the export graph, on copies of the
    tables there (`object_map`); the variable's stand-in reads those."""
    resources = super()._export_to_saved_model_graph(
        object_map, tensor_map, options, **kwargs)
    proxy = copy.copy(self)
    # object.__setattr__: a plain attribute, not a tracked dependency.
    object.__setattr__(proxy, "_tables",
                       [object_map.get(t, t) for t in self._tables])
    object_map[self] = proxy
    return resources

  @property
  def file_system_saver(self):
    """The `de.FileSystemSaver` of this variable's KV creator, or None."""
    saver = getattr(self.kv_creator, "saver", None)
    return saver if isinstance(saver, FileSystemSaver) else None

  def _row_tensors(self):
    """The rows (and, bounded, their bookkeeping) as named tensors: what a
    checkpoint without a saver holds, and what Keras weights files store
    (keras/layers/_weights_store.py); {} with `checkpoint=False`."""
    if not self.checkpoint:
      return {}
    if self.bounded:
      return self._meta_tensors()
    keys, values = self.export()
    return {"-keys": keys, "-values": values}

  def _restore_rows(self, tensors):
    """Replaces the content with `_row_tensors` output (rows routed through
    the current partitioner); bounded variables take the bookkeeping when
    `tensors` holds it.

    Raises:
      tf.errors.InvalidArgumentError: rows of another dim.
    """
    keys, values = tensors["-keys"], tensors["-values"]
    if values.shape.rank is not None and values.shape[-1] is not None and \
        values.shape[-1] != self.dim:
      raise v.invalid(f"checkpoint: variable {self.name!r} has dim "
                      f"{self.dim} but the checkpoint holds rows of "
                      f"{values.shape[-1]}")
    if self.bounded and "-versions" in tensors:
      return self._restore_meta(tensors)
    return self._write("import_", keys, values)

  def _serialize_to_tensors(self):
    if self.checkpoint and self.file_system_saver is not None:
      return self.file_system_saver.serialize(self)
    return self._row_tensors()

  def _restore_from_tensors(self, restored_tensors):
    if not self.checkpoint:
      return tf.no_op()
    if "-fs_generation" in restored_tensors:
      # Only a variable with a saver asks for these names (TF restores the
      # names the object's _serialize_to_tensors gives).
      written = self.file_system_saver.restore(
          self, restored_tensors["-fs_generation"],
          restored_tensors["-fs_root"])
      return written.op if hasattr(written, "op") else tf.no_op()
    return self._restore_rows(restored_tensors)
