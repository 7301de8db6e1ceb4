"""Save marks: a load of `save_to_file_system` files sees one save or fails.

Each shard file is replaced atomically, but a save of n shards is n
renames, so a process loading a directory that another process is
re-saving could read some shards of the new save and some of the old one:
every file whole and valid, the set mixed. A save therefore brackets its
files with a small mark file per variable (and rank),
`<prefix>_mht[_rank<r>of<p>].tfraseq`, rewritten atomically (temporary
name, rename) as

    saving <token>     before the first shard file is touched,
    saved <token>      after the last one (and after stale shard sets of
                       another shard count are gone),

with a fresh random token each time: a seqlock over the directory. A load
reads the marks before it reads any file and again after it read the last
row. A mark that says `saving` (a save in flight, or one that was
interrupted and left files of two saves) or that changed in between (a save
ran during the load) makes the load fail with `tf.errors.AbortedError`,
after `file_streams.load` has put the variable back as it was. A directory
without marks (files from an earlier version, or copied by hand) loads
unchecked.

Marks cover writers that use this package; a tool that rewrites table
files without touching the marks is not detected.
"""

import os
import uuid

import tensorflow as tf

# Extension of mark files (not `file_streams.SUFFIX`, so that loading a
# whole directory never takes a mark for a table file).
SUFFIX = ".tfraseq"

SAVING, SAVED = "saving", "saved"


def write(path, state):
  """Atomically sets the mark at `path` to `state` with a fresh token."""
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  token = uuid.uuid4().hex
  tmp = f"{path}.tmp-{token}"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(f"{state} {token}\n")
  tf.io.gfile.rename(tmp, path, overwrite=True)


def read(paths):
  """The marks at `paths` as a tuple of strings (None where absent).

  Raises:
    tf.errors.AbortedError: a mark says a save is in flight or was
      interrupted (its files may belong to two saves).
  """
  marks = []
  for path in paths:
    try:
      with tf.io.gfile.GFile(path, "r") as f:
        mark = f.read().strip()
    except tf.errors.NotFoundError:
      mark = None
    if mark is not None and not mark.startswith(SAVED + " "):
      raise tf.errors.AbortedError(
          None, None, f"dirpath: a save into {os.path.dirname(path)!r} is in "
          f"progress, or was interrupted and may have left files of two "
          f"saves (mark {os.path.basename(path)!r} says {mark!r}); nothing "
          "was loaded: load again once the save has finished, or save "
          "again")
    marks.append(mark)
  return tuple(marks)


def check_unchanged(paths, before):
  """Raises AbortedError when a mark at `paths` differs from `before`
  (what `read` returned when the load began): a save ran meanwhile."""
  after = read(paths)
  for path, old, new in zip(paths, before, after):
    if old != new:
      raise tf.errors.AbortedError(
          None, None, f"dirpath: the files in {os.path.dirname(path)!r} were "
          f"saved again while this load read them (mark "
          f"{os.path.basename(path)!r} went from {old!r} to {new!r}); the "
          "load was undone, the variable holds what it held before: load "
          "again")


def paths_in(dirpath):
  """Every mark file in `dirpath` (for loads of a whole directory)."""
  if not tf.io.gfile.isdir(dirpath):
    return []
  return sorted(os.path.join(dirpath, n) for n in tf.io.gfile.listdir(dirpath)
                if n.endswith(SUFFIX))

