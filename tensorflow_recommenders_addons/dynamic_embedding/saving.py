"""Persistence of `de.Variable`: the checkpoint protocol and file saves.

Checkpoints (`VariableSaving`, mixed into `de.Variable`): the variable, not
its tables, is the saveable object. It saves all rows as one `keys`/`values`
pair under its own object path and on restore routes them through its
*current* partitioner, so a checkpoint restores into a variable with another
shard count or another `name`, and replaces the content (keys not in the
checkpoint are gone afterwards). Table children are hidden from checkpoints
(so the object graph does not depend on the shard count) but kept in
SavedModels, whose functions capture the tables' resources.

TF1 graphs (`GraphSaveable`): a variable built in a `tf.Graph` with
`checkpoint=True` adds one saveable to the graph's `SAVEABLE_OBJECTS`
collection, so `tf.compat.v1.train.Saver()` with its default `var_list` (as
`MonitoredTrainingSession`'s Scaffold builds it) saves and restores the rows
under `<variable name>-keys` / `-values` (plus the bookkeeping columns of a
bounded variable). Slot tables are `de.Variable`s and register themselves.

Files (`save` / `load`, behind `save_to_file_system` /
`load_from_file_system`): shard i (1-based) of n is written to
`<prefix>_mht_<i>of<n>[_rank<r>of<p>].tfrakv`, where `<prefix>` is the
variable name escaped (`file_streams.escape_name`: '/' is '%2F', so
'user/emb' and 'user_emb' never share files; or, with `short_file_name=True`, an
8-hex-digit CRC32 of the name) and the rank suffix appears only when
`proc_size` > 1, next to a save mark `<prefix>_mht[_rank<r>of<p>].tfraseq`
that brackets the save (save_marks.py: a load overlapping a save fails with
AbortedError and changes nothing). Loading finds a variable's files by that prefix, so files
written with any shard count load into any variable: every file is first verified whole, and only when all passed are their rows
streamed, chunk by chunk, through the variable's partitioner
(file_streams.py). A load is all or nothing: a corrupt file leaves the
variable unchanged, and so does a read that fails later (a file vanished or
torn after it was verified): eagerly the rows are put back from a snapshot
taken before the load, in a graph nothing is written until every row has
been read.
"""

import copy
import os
import re
import zlib

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import file_streams
from tensorflow_recommenders_addons.dynamic_embedding import save_marks
from tensorflow_recommenders_addons.dynamic_embedding.file_system_saver import FileSystemSaver
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import DEFAULT_BUFFER_SIZE
from tensorflow_recommenders_addons.utils.autograph import run_as_is
from tensorflow_recommenders_addons.utils.tf_internal import SaveableObject
from tensorflow_recommenders_addons.utils.tf_internal import SaveSpec


def _prefix(var):
  if var.short_file_name:
    return "%08x" % (zlib.crc32(var.name.encode("utf-8")) & 0xFFFFFFFF)
  return file_streams.escape_name(var.name)


def shard_file_name(var, idx, proc_size=1, proc_rank=0):
  """File stem of shard `idx` (0-based)."""
  return (f"{_prefix(var)}_mht_{idx + 1}of{var.shard_num}"
          f"{file_streams.rank_suffix(proc_size, proc_rank)}")


def _check_procs(proc_size, proc_rank):
  # None: one process (the signature's defaults are 1 and 0).
  return file_streams.check_procs(1 if proc_size is None else proc_size,
                                  0 if proc_rank is None else proc_rank)


def _check_file_names(var, file_name_list):
  """TFRA's `file_name_list`: one file stem per shard, or None."""
  if file_name_list is None:
    return None
  names = list(file_name_list)
  if len(names) != var.shard_num or not all(
      isinstance(n, str) and n for n in names):
    raise v.invalid(f"file_name_list: must hold {var.shard_num} (shard_num) "
                    f"non-empty file names, got {file_name_list!r}")
  return names


def save(var, dirpath, proc_size, proc_rank, buffer_size,
         file_name_list=None):
  """Writes each shard with the table's atomic streaming save."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  names = _check_file_names(var, file_name_list)
  # The files are bracketed by the save mark (save_marks.py): `saving`
  # before the first shard is touched, `saved` after the last one and
  # after the files of an earlier save with another shard count are gone
  # (left there, they would be a second set that loads refuse as mixed).
  def mark(d, state):
    save_marks.write(_mark_path(var, d, proc_size, proc_rank), state)

  def finish(d):
    _drop_stale(var, d, proc_size, proc_rank)
    mark(d, save_marks.SAVED)

  def write_shards():
    ops = var._on_each_shard(  # pylint: disable=protected-access
        lambda idx, table: table.save_to_file_system(
            dirpath, file_name=names[idx] if names else shard_file_name(
                var, idx, proc_size, proc_rank),
            dirpath_env=None, buffer_size=buffer_size))
    return [op for op in ops if op is not None]

  if tf.executing_eagerly():
    mark(os.fspath(dirpath), save_marks.SAVING)
    write_shards()
    finish(os.fspath(dirpath))
    return None
  dir_tensor = tf.convert_to_tensor(dirpath, tf.string)
  begun = tf.py_function(
      lambda d: mark(d.numpy().decode(), save_marks.SAVING) or 0,
      [dir_tensor], tf.int32)
  with tf.control_dependencies([begun]):
    ops = write_shards()
  with tf.control_dependencies(ops):
    done = tf.py_function(lambda d: finish(d.numpy().decode()) or 0,
                          [dir_tensor], tf.int32)
  return tf.group(*ops, done)


def _mark_path(var, dirpath, proc_size, proc_rank):
  """The save mark of this variable's (and rank's) files in `dirpath`."""
  return os.path.join(dirpath, _prefix(var) + "_mht" + file_streams.rank_suffix(
      proc_size, proc_rank) + save_marks.SUFFIX)


def _files_of(var, dirpath, proc_size, proc_rank, shards=r"\d+"):
  """Stems of the files this variable (at this rank) saved in `dirpath`
  (with `shards`, a regex, as the shard count)."""
  rank = file_streams.rank_suffix(proc_size, proc_rank)
  pattern = re.compile(re.escape(_prefix(var)) + r"_mht_\d+of" + shards +
                       re.escape(rank) + re.escape(file_streams.SUFFIX) + "$")
  names = tf.io.gfile.listdir(dirpath) if tf.io.gfile.isdir(dirpath) else []
  return sorted(n[:-len(file_streams.SUFFIX)] for n in names
                if pattern.match(n))


def _drop_stale(var, dirpath, proc_size, proc_rank):
  """Deletes this variable's (and rank's) files whose shard count is not
  the variable's: those of an earlier save with another device count."""
  other = r"(?!%d%s)\d+" % (var.shard_num, re.escape(
      file_streams.rank_suffix(proc_size, proc_rank) + file_streams.SUFFIX))
  for stem in _files_of(var, dirpath, proc_size, proc_rank, other):
    tf.io.gfile.remove(os.path.join(dirpath, stem + file_streams.SUFFIX))


def load(var, dirpath, proc_size, proc_rank, buffer_size,
         file_name_list=None, load_entire_dir=False):
  """Loads this variable's files (see the module docstring); or the files
  named by `file_name_list`, or every table file in `dirpath`."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  names = _check_file_names(var, file_name_list)
  dirpath = os.fspath(dirpath)
  # The marks are read before the files are listed (see save_marks.py).
  marks = [_mark_path(var, dirpath, proc_size, proc_rank)]
  if names or load_entire_dir:
    marks = save_marks.paths_in(dirpath)
  before = save_marks.read(marks) if tf.executing_eagerly() else None
  if names:
    stems = names
  elif load_entire_dir:
    stems = sorted(
        n[:-len(file_streams.SUFFIX)] for n in tf.io.gfile.listdir(dirpath)
        if n.endswith(file_streams.SUFFIX)) if tf.io.gfile.isdir(
            dirpath) else []
  else:
    stems = _files_of(var, dirpath, proc_size, proc_rank)
  if not stems:
    raise tf.errors.NotFoundError(
        None, None, f"dirpath: no files of variable {var.name!r} "
        f"('{_prefix(var)}_mht_*{file_streams.SUFFIX}') in {dirpath!r}")
  paths = [os.path.join(dirpath, stem + file_streams.SUFFIX)
           for stem in stems]
  # Only this rank's files are listed: each must be a complete set.
  written = file_streams.load(var, paths, buffer_size, all_ranks=False,
                              marks=marks, marks_before=before)
  return None if tf.executing_eagerly() else written.op


@run_as_is
class VariableSaving:
  """Checkpoint and SavedModel protocol and file saves of `de.Variable`
  (see module doc)."""

  # Files ------------------------------------------------------------------

  def file_name(self, idx):
    """File name (no extension) of shard `idx` in `save_to_file_system`."""
    return shard_file_name(self, idx)

  def save_to_file_system(self, dirpath, proc_size=1, proc_rank=0,
                          file_name_list=None, dirpath_env="TFRA_SAVED_KV",
                          append_to_file=False,
                          buffer_size=DEFAULT_BUFFER_SIZE, name=None):
    """Streams every shard to `dirpath`, one atomically written file each.

    Args:
      dirpath: Directory (created if missing).
      proc_size: Number of processes saving the same variable.
      proc_rank: This process's rank; part of the file names when
        `proc_size` > 1 so processes do not overwrite each other.
      file_name_list: One file name (no extension) per shard instead of
        the default names.
      dirpath_env: Name of an environment variable that, when set, replaces
        `dirpath` (TFRA's rule; read at this call). None: `dirpath` only.
      append_to_file: Must be False (files are whole and atomic).
      buffer_size: Write buffer in bytes.
      name: Optional name scope.

    Returns:
      The save op (None when executing eagerly).

    Raises:
      tf.errors.InvalidArgumentError: bad process arguments or
        `file_name_list`.
      tf.errors.UnimplementedError: `append_to_file=True`.

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
    file_streams.check_not_append(append_to_file)
    dirpath = file_streams.resolve_dirpath(dirpath, dirpath_env)
    with tf.name_scope(name or "save_to_file_system"):
      return save(self, dirpath, proc_size, proc_rank, buffer_size,
                  file_name_list)

  def load_from_file_system(self, dirpath, proc_size=1, proc_rank=0,
                            file_name_list=None, dirpath_env="TFRA_SAVED_KV",
                            load_entire_dir=False,
                            buffer_size=DEFAULT_BUFFER_SIZE, name=None):
    """Inserts the rows that `save_to_file_system` wrote for this variable.

    Files written with another shard or process count are re-routed
    through this variable's partitioner.

    Args:
      dirpath: Directory holding the files.
      proc_size: Number of processes that load the variable.
      proc_rank: This process's rank; with `proc_size` > 1 only the keys
        this rank owns (shard `k mod proc_size == proc_rank` of the saved
        files) are loaded.
      file_name_list: File names (no extension, one per shard) to load
        instead of this variable's default names.
      dirpath_env: Name of an environment variable that, when set, replaces
        `dirpath` (TFRA's rule; read at this call). None: `dirpath` only.
      load_entire_dir: Load every table file in `dirpath`, whoever saved
        it (rows re-routed; later files win on duplicate keys).
      buffer_size: Read buffer in bytes.
      name: Optional name scope.

    Returns:
      The load op (None when executing eagerly).

    Raises:
      tf.errors.NotFoundError: no file of this variable in `dirpath`.
      tf.errors.DataLossError: a corrupt file (nothing is loaded).
    """
    dirpath = file_streams.resolve_dirpath(dirpath, dirpath_env)
    with tf.name_scope(name or "load_from_file_system"):
      return load(self, dirpath, proc_size, proc_rank, buffer_size,
                  file_name_list, load_entire_dir)

  def load_from_file_system_with_restore_function(
      self, dirpath, proc_size=1, proc_rank=0,
      buffer_size=DEFAULT_BUFFER_SIZE):
    """TFRA's name for a load that tolerates another shard count:
    `load_from_file_system` already re-routes every row.

    Args:
      dirpath, proc_size, proc_rank, buffer_size: As for
        `load_from_file_system`.

    Returns:
      The load op (None when executing eagerly).

    Raises:
      tf.errors.NotFoundError: no file of this variable in `dirpath`.

    Example:
      >>> import tempfile
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> d = tempfile.mkdtemp()
      >>> one_shard = de.Variable(dim=1, name="v")
      >>> one_shard.upsert([1, 2], [[1.0], [2.0]])
      >>> one_shard.save_to_file_system(d)
      >>> var = de.Variable(dim=1, name="v", devices=["/cpu:0"] * 2)
      >>> var.load_from_file_system_with_restore_function(d)
      >>> var.lookup([1, 2]).numpy().tolist()
      [[1.0], [2.0]]
    """
    return self.load_from_file_system(dirpath, proc_size, proc_rank,
                                      buffer_size=buffer_size,
                                      dirpath_env=None)

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
    self._note_restored()
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
      # Slots restored before this variable wait until its rows are all
      # back (the restore's own writes must not prune them).
      pending, self._store.prune_pending = self._store.prune_pending, {}
      try:
        written = self.file_system_saver.restore(
            self, restored_tensors["-fs_generation"],
            restored_tensors["-fs_root"])
      finally:
        self._store.prune_pending.update(pending)
      self._note_restored()
      return written.op if hasattr(written, "op") else tf.no_op()
    return self._restore_rows(restored_tensors)


class GraphSaveable(SaveableObject):
  """What a TF1 graph Saver saves of one `de.Variable`.

  The tensors to save are built when a Saver first asks for them (in the
  Saver's graph and device scope), from the variable's checkpoint protocol
  (`_serialize_to_tensors`), so keys and values come from one export.
  """

  def __init__(self, var, name):  # pylint: disable=super-init-not-called
    self.op = var
    self.name = name
    self._specs = None
    self._local_names = None

  @property
  def specs(self):
    """The `SaveSpec`s, one per checkpoint tensor of the variable."""
    if self._specs is None:
      specs, names = [], []
      for local_name, tensor in self.op._serialize_to_tensors().items():  # pylint: disable=protected-access
        names.append(local_name)
        if isinstance(tensor, SaveSpec):
          tensor.name = self.name + local_name
          specs.append(tensor)
        else:
          specs.append(SaveSpec(tensor, "", self.name + local_name))
      self._specs, self._local_names = specs, names
    return self._specs

  def restore(self, restored_tensors, restored_shapes):
    """Replaces the variable's content with the restored tensors."""
    del restored_shapes
    names = self._local_names if self._local_names is not None else [
        spec.name[len(self.name):] for spec in self.specs]
    written = self.op._restore_from_tensors(  # pylint: disable=protected-access
        dict(zip(names, restored_tensors)))
    return written if written is not None else tf.no_op()


def register_graph_saveable(var):
  """Adds `var`'s `GraphSaveable` to its graph's `SAVEABLE_OBJECTS` (TF1
  graphs only; a no-op when executing eagerly or inside a tf.function).

  The saveable is named after the variable; a second variable of the same
  name in one graph gets `<name>_1`, `<name>_2`, ... in creation order, as
  TF1 variables do, so the names are the same in every process that builds
  the same graph.
  """
  with tf.init_scope():
    if tf.executing_eagerly() or not var.checkpoint:
      return None
    graph = tf.compat.v1.get_default_graph()
    key = tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS
    taken = {getattr(s, "name", None) for s in graph.get_collection(key)}
    name, n = var.name, 0
    while name in taken:
      n += 1
      name = f"{var.name}_{n}"
    saveable = GraphSaveable(var, name)
    graph.add_to_collection(key, saveable)
    return saveable
