"""`de.Variable.save_to_file_system` / `load_from_file_system`.

File names: shard i (1-based) of n of a variable is written to
`<prefix>_mht_<i>of<n>[_rank<r>of<p>].tfrakv`, where `<prefix>` is the
variable name with '/' replaced by '_' (or, with `short_file_name=True`, an
8-hex-digit CRC32 of the name) and the rank suffix appears only when
`proc_size` > 1. Loading finds a variable's files by that prefix, so files
written with any shard count load into any variable: unless the layout is
exactly one file for one shard, every file is first loaded (and so verified)
into a temporary table, and only when all succeeded are the rows routed
through the variable's partitioner. A corrupt file leaves the variable
unchanged.
"""

import os
import re
import zlib

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import CuckooHashTable

_SUFFIX = ".tfrakv"


def _prefix(var):
  if var.short_file_name:
    return "%08x" % (zlib.crc32(var.name.encode("utf-8")) & 0xFFFFFFFF)
  return var.name.replace("/", "_")


def _rank_suffix(proc_size, proc_rank):
  return f"_rank{proc_rank}of{proc_size}" if proc_size > 1 else ""


def shard_file_name(var, idx, proc_size=1, proc_rank=0):
  """File stem of shard `idx` (0-based)."""
  return (f"{_prefix(var)}_mht_{idx + 1}of{var.shard_num}"
          f"{_rank_suffix(proc_size, proc_rank)}")


def _check_procs(proc_size, proc_rank):
  proc_size, proc_rank = int(proc_size or 1), int(proc_rank or 0)
  if proc_size < 1 or not 0 <= proc_rank < proc_size:
    raise tf.errors.InvalidArgumentError(
        None, None, f"proc_rank: must be in [0, proc_size={proc_size}), got "
        f"{proc_rank}")
  return proc_size, proc_rank


def save(var, dirpath, proc_size, proc_rank, buffer_size):
  """Writes each shard with the table's atomic streaming save."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  ops = []
  for idx, (table, device) in enumerate(zip(var.tables, var.devices)):
    with tf.device(device):
      ops.append(table.save_to_file_system(
          dirpath, file_name=shard_file_name(var, idx, proc_size, proc_rank),
          buffer_size=buffer_size))
  ops = [op for op in ops if op is not None]
  return tf.group(*ops) if ops else None


def _files_of(var, dirpath, proc_size, proc_rank):
  """Stems of the files this variable (at this rank) saved in `dirpath`."""
  pattern = re.compile(re.escape(_prefix(var)) + r"_mht_\d+of\d+" +
                       re.escape(_rank_suffix(proc_size, proc_rank)) +
                       re.escape(_SUFFIX) + "$")
  names = tf.io.gfile.listdir(dirpath) if tf.io.gfile.isdir(dirpath) else []
  return sorted(n[:-len(_SUFFIX)] for n in names if pattern.match(n))


def load(var, dirpath, proc_size, proc_rank, buffer_size):
  """Loads this variable's files (see the module docstring)."""
  proc_size, proc_rank = _check_procs(proc_size, proc_rank)
  dirpath = os.fspath(dirpath)
  stems = _files_of(var, dirpath, proc_size, proc_rank)
  if not stems:
    raise tf.errors.NotFoundError(
        None, None, f"dirpath: no files of variable {var.name!r} "
        f"('{_prefix(var)}_mht_*{_SUFFIX}') in {dirpath!r}")
  if var.shard_num == 1 and len(stems) == 1:
    with tf.device(var.devices[0]):
      return var.tables[0].load_from_file_system(
          dirpath, file_name=stems[0], buffer_size=buffer_size)
  parts = []
  with tf.device("/CPU:0"):
    for stem in stems:
      staging = CuckooHashTable(var.key_dtype, var.value_dtype,
                                tf.zeros([var.dim], var.value_dtype),
                                name=stem, checkpoint=False)
      with tf.control_dependencies(
          [op for op in [staging.load_from_file_system(
              dirpath, file_name=stem, buffer_size=buffer_size)]
           if op is not None]):
        parts.append(staging.export())
  keys = tf.concat([p[0] for p in parts], 0)
  values = tf.concat([p[1] for p in parts], 0)
  return var.upsert(keys, values)
