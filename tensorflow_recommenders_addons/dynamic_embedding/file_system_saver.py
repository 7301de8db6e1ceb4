"""`de.FileSystemSaver`: checkpoints that keep table rows in side files.

A variable whose KV creator carries a `FileSystemSaver` does not put its
rows into the checkpoint's tensor bundle (which TensorFlow assembles in
memory, a full copy of the table). At every checkpoint save (also
`save_weights`, `model.save` to a SavedModel, `tf.saved_model.save`) it
streams each shard into a new *generation* directory, and the checkpoint
records only which generation it belongs to:

    <save_path>/<variable name, escaped>/gen-00000007/
        shard_1of4.tfrakv ... shard_4of4.tfrakv       (proc_size == 1)
        shard_1of4_rank0of2.tfrakv ...                (one set per rank)

Saves are atomic per checkpoint: each file is written under a temporary
name, synced and renamed, into a generation no committed checkpoint refers
to yet; a save killed part-way leaves an orphaned generation and the
previous checkpoint, with its own complete generation, loadable.
Generations are numbered in save order; with `max_to_keep` the oldest
beyond that number are deleted after each (eager) save, so keep it at least
the `max_to_keep` of the `tf.train.CheckpointManager` in use.

On restore the variable is cleared and the generation's files are verified
whole and then streamed in chunks through the variable's partitioner
(file_streams.py): any shard count and any process count load, and a
restore that fails part-way (a file vanished or torn after verification)
leaves the variable as it was before the restore. The generation directory is looked up
under the saver's current `save_path` first and then under the `save_path`
recorded at save time, so a moved checkpoint tree loads once `save_path`
points at its new place. A rank whose own files (same `proc_size`) exist
loads only those; otherwise every file of the generation is read and the
rank keeps the keys it owns (`de.default_partition_fn(key, proc_size) ==
proc_rank`).

Bounded tables keep their rows in side files but not their per-row
bookkeeping (recency, frequency, admission counts), which restarts.
"""

import os
import re
import threading
import weakref

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import file_streams
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.tf_internal import SaveSpec

_GEN = re.compile(r"^gen-(\d{8})$")
# One lock per generation root: eager saves into it run one at a time.
_ROOT_LOCKS = {}
_ROOT_LOCKS_GUARD = threading.Lock()


def _procs():
  """(size, rank) from Horovod when it is imported and initialized."""
  try:
    import horovod.tensorflow as hvd  # pylint: disable=import-outside-toplevel
  except ImportError:
    return 1, 0
  try:
    return int(hvd.size()), int(hvd.rank())
  except ValueError:  # Horovod is installed but hvd.init() was not called.
    return 1, 0


def _prefix(var):
  return file_streams.escape_name(var.name)


class FileSystemSaver:
  """Saves a variable's tables to side files at every checkpoint save.

  Pass it as the `saver` of a KV creator; see the module docstring for the
  layout, atomicity and re-sharding rules.

  Args:
    proc_size: Number of processes saving the variable (None: Horovod's
      size when initialized, else 1).
    proc_rank: This process's rank (None: Horovod's rank, else 0).
    save_path: Directory of the side files (created on save). It must be
      set (here or later through the `save_path` attribute) before a save.
    buffer_size: Write buffer per file in bytes (values below 4096 use
      4096); reads go in chunks of at least 4 MiB.
    max_to_keep: Generations kept per variable (None: all; at least 2).

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it.
    tf.errors.FailedPreconditionError (at save): `save_path` is None.

  Example:
    >>> import tempfile, tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> d = tempfile.mkdtemp()
    >>> saver = de.FileSystemSaver(save_path=d + "/tables")
    >>> var = de.Variable(dim=1, name="user_emb",
    ...                   kv_creator=de.CuckooHashTableCreator(saver=saver))
    >>> var.upsert([1, 2], [[1.0], [2.0]])
    >>> path = tf.train.Checkpoint(emb=var).save(d + "/ckpt")
    >>> var.clear()
    >>> tf.train.Checkpoint(emb=var).restore(path)
    ... # doctest: +ELLIPSIS
    <...>
    >>> var.lookup([2]).numpy().tolist()
    [[2.0]]
  """

  def __init__(self, proc_size=None, proc_rank=None, save_path=None,
               buffer_size=4096, max_to_keep=None):
    self._args = {"proc_size": proc_size, "proc_rank": proc_rank}
    size, rank = _procs()
    proc_size = size if proc_size is None else proc_size
    proc_rank = rank if proc_rank is None else proc_rank
    proc_size, proc_rank = file_streams.check_procs(proc_size, proc_rank)
    buffer_size = v.check_int("buffer_size", buffer_size, 1)
    if max_to_keep is not None:
      # At least 2, so the previous checkpoint stays loadable.
      max_to_keep = v.check_int("max_to_keep", max_to_keep, 2)
    self.proc_size = proc_size
    self.proc_rank = proc_rank
    self.save_path = None if save_path is None else os.fspath(save_path)
    self.buffer_size = buffer_size
    self.max_to_keep = max_to_keep
    # Save directory -> the variable saving there: two variables of one
    # name would number, overwrite and prune each other's generations.
    self._savers_of = weakref.WeakValueDictionary()

  def get_config(self):
    """The constructor arguments (a dict). `proc_size` / `proc_rank` stay
    None when they were taken from Horovod, so a model loaded in another
    process takes that process's."""
    return dict(self._args, save_path=self.save_path,
                buffer_size=self.buffer_size, max_to_keep=self.max_to_keep)

  # Saving -----------------------------------------------------------------

  def _root(self, var):
    if not self.save_path:
      raise tf.errors.FailedPreconditionError(
          None, None, f"save_path: de.FileSystemSaver of variable "
          f"{var.name!r} has no save_path; set it (saver.save_path = dir) "
          f"before saving a checkpoint")
    return os.path.join(self.save_path, _prefix(var))

  def generations(self, var):
    """Generation numbers saved for `var` under `save_path`, ascending."""
    root = self._root(var)
    names = tf.io.gfile.listdir(root) if tf.io.gfile.isdir(root) else []
    return sorted(int(m.group(1)) for m in map(_GEN.match, names) if m)

  def _rank_suffix(self):
    return file_streams.rank_suffix(self.proc_size, self.proc_rank)

  def _next_generation(self, root):
    """The number after the last generation under `root` holding *this
    rank's* files, found at run time (no state, so a traced save function
    numbers each run anew). Ranks saving in step therefore write the same
    generation numbers even when one rank lists after another's save."""
    files = tf.io.matching_files(tf.strings.join(
        [root, "/gen-*/shard_*", self._rank_suffix(), file_streams.SUFFIX]))
    numbers = tf.strings.to_number(tf.strings.regex_replace(
        files, ".*/gen-([0-9]+)/[^/]*$", "\\1"), tf.int64)
    if not self._rank_suffix():  # other process counts' files don't count
      numbers = tf.where(tf.strings.regex_full_match(
          files, ".*_rank[0-9]+of[0-9]+[.]tfrakv"), tf.zeros_like(numbers),
                         numbers)
    return tf.reduce_max(tf.concat([numbers, [0]], 0)) + 1

  def serialize(self, var):
    """`var`'s checkpoint tensors: the generation is written only when a
    checkpoint asks for the tensor (not when a restore lists the names).

    Raises:
      tf.errors.FailedPreconditionError: when writing, another live
        variable of the same name saves through this saver (they would
        share a directory).
    """
    root = self._root(var)
    root_tensor = tf.constant(root)
    if not tf.executing_eagerly():
      # Traced (a SavedModel's save function): the ops run when it runs.
      return {"-fs_generation": self._write(var, root),
              "-fs_root": root_tensor}
    return {"-fs_generation": SaveSpec(lambda: self._write(var, root), "",
                                       "-fs_generation", dtype=tf.string,
                                       device=root_tensor.device),
            "-fs_root": root_tensor}

  def _write(self, var, root):
    """Streams every shard into a new generation; returns its name.

    Eager saves into one directory (two threads, two savers) hold one
    process-wide lock from numbering to the last file, so two saves in
    flight never share a generation directory."""
    if not tf.executing_eagerly():
      return self._write_generation(var, root)
    with _ROOT_LOCKS_GUARD:
      lock = _ROOT_LOCKS.setdefault(os.path.normpath(root), threading.Lock())
    with lock:
      return self._write_generation(var, root)

  def _write_generation(self, var, root):
    # Checked on eager saves (tf.train.Checkpoint, CheckpointManager); a
    # traced save (a SavedModel's) may see a copy of the variable instead.
    owner = self._savers_of.get(root) if tf.executing_eagerly() else None
    if owner is not None and owner is not var:
      raise tf.errors.FailedPreconditionError(
          None, None, f"var: two variables named {var.name!r} save through "
          f"one de.FileSystemSaver, into one directory ({root}), where they "
          "would overwrite and prune each other's files; give them distinct "
          "names or distinct savers")
    if tf.executing_eagerly():
      self._savers_of[root] = var
    gen = self._next_generation(root)
    name = tf.strings.join(["gen-", tf.strings.as_string(gen, width=8,
                                                         fill="0")])
    dirpath = tf.strings.join([root, "/", name])
    rank = self._rank_suffix()
    ops = var._on_each_shard(  # pylint: disable=protected-access
        lambda idx, table: table.save_to_file_system(
            dirpath, file_name=f"shard_{idx + 1}of{var.shard_num}{rank}",
            dirpath_env=None, buffer_size=self.buffer_size))
    with tf.control_dependencies([op for op in ops if op is not None]):
      generation = tf.identity(name)
    if self.max_to_keep:
      if tf.executing_eagerly():
        self._drop_old(var)
      else:  # a save traced into a function (e.g. several devices)
        with tf.control_dependencies([generation]):
          dropped = tf.py_function(lambda: self._drop_old(var) or 0, [],
                                   tf.int32)
        with tf.control_dependencies([dropped]):
          generation = tf.identity(generation)
    return generation

  def _drop_old(self, var):
    root = self._root(var)
    for gen in self.generations(var)[:-self.max_to_keep]:
      tf.io.gfile.rmtree(os.path.join(root, f"gen-{gen:08d}"))

  # Restoring --------------------------------------------------------------

  def restore(self, var, generation, recorded_root):
    """Replaces `var`'s rows with those of a saved generation."""
    roots = [recorded_root]
    if self.save_path:
      roots.insert(0, tf.constant(os.path.join(self.save_path, _prefix(var))))
    return _restore_generation(var, generation, roots, self.proc_size,
                               self.proc_rank, self.buffer_size)


def _restore_generation(var, generation, roots, proc_size, proc_rank,
                        buffer_size):
  """Clears `var` and streams in generation `generation` found under the
  first of `roots` that holds it (see the module docstring)."""
  candidates = [tf.strings.join([r, "/", generation]) for r in roots]
  found = tf.constant("", tf.string)
  for dirpath in reversed(candidates):
    found = tf.where(tf.size(tf.io.matching_files(
        tf.strings.join([dirpath, "/*", file_streams.SUFFIX]))) > 0, dirpath,
                     found)
  check = tf.debugging.assert_greater(
      tf.strings.length(found), 0, message=(
          f"de.FileSystemSaver: the table files of variable {var.name!r} "
          f"for this checkpoint are missing (generation directory not found "
          f"under the saver's save_path or the one recorded at save time)"))
  with tf.control_dependencies([check]):
    own = tf.io.matching_files(tf.strings.join(
        [found, "/shard_*", file_streams.rank_suffix(proc_size, proc_rank),
         file_streams.SUFFIX]))
    every = tf.io.matching_files(tf.strings.join(
        [found, "/*", file_streams.SUFFIX]))
  if proc_size > 1:
    # A rank that saved under the same process count loads its own files
    # as they are; otherwise it reads every file and keeps the keys it owns.
    use_own = tf.size(own) > 0
    paths = tf.cond(use_own, lambda: own, lambda: every)
    filter_keys = tf.logical_not(use_own)
    all_ranks = filter_keys  # every rank's files, unless reading its own
  else:
    paths, filter_keys, all_ranks = every, False, True
  written = file_streams.load(var, paths, buffer_size, proc_size, proc_rank,
                              replace=True, filter_keys=filter_keys,
                              all_ranks=all_ranks)
  return written
