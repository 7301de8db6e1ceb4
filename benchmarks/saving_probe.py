"""Time and peak extra memory of a checkpoint save or restore of a big
table; JSON out.

Run by benchmarks/saving.py and tests/dynamic_embedding/saving/
test_save_memory.py, one fresh process per phase, so resident memory
(/proc/self/status) is the phase's alone:

  python saving_probe.py save    --rows N --dim D --dir DIR [--bundle]
  python saving_probe.py restore --rows N --dim D --dir DIR [--bundle]

save: fills a 4-shard int64 de.Variable with N rows (in chunks, so no
  full-size array is ever held), then saves a tf.train.Checkpoint.
restore: restores that checkpoint into a fresh variable.
With --bundle the variable has no de.FileSystemSaver (rows go into the
checkpoint's tensor bundle: the baseline to compare with).

The peak is VmHWM after resetting it (`5 > /proc/self/clear_refs`) just
before the phase. The save phase also records the table's own resident
size (RSS growth while filling it) in DIR/table.json. Extra memory is the
peak minus resident memory right before the phase, minus (for a restore)
the table's own resident size: whatever the phase needed beyond holding the
table. `table_bytes` is the payload: N * (8 + 4 * D).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

CHUNK = 100_000


def _status(field):
  with open("/proc/self/status", encoding="ascii") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024
  raise KeyError(field)


def _reset_peak():
  with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
    f.write("5")


def _variable(args):
  creator = None
  if not args.bundle:
    creator = de.CuckooHashTableCreator(saver=de.FileSystemSaver(
        save_path=os.path.join(args.dir, "tables")))
  return de.Variable(tf.int64, dim=args.dim, name="big", kv_creator=creator,
                     devices=["/CPU:0"] * 4)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("phase", choices=["save", "restore"])
  parser.add_argument("--rows", type=int, required=True)
  parser.add_argument("--dim", type=int, default=16)
  parser.add_argument("--dir", required=True)
  parser.add_argument("--bundle", action="store_true")
  args = parser.parse_args()

  var = _variable(args)
  ckpt = tf.train.Checkpoint(emb=var)
  prefix = os.path.join(args.dir, "ckpt")
  info = os.path.join(args.dir, "table.json")
  if args.phase == "save":
    empty = _status("VmRSS")
    rng = np.random.default_rng(0)
    for start in range(0, args.rows, CHUNK):
      n = min(CHUNK, args.rows - start)
      keys = np.arange(start, start + n, dtype=np.int64) * 2654435761
      var.upsert(keys, rng.standard_normal((n, args.dim), np.float32))
    assert int(var.size()) == args.rows
    del keys
    with open(info, "w", encoding="ascii") as f:
      json.dump({"table_resident": _status("VmRSS") - empty}, f)
    # Warm the checkpoint machinery (tracing, thread pools) on a tiny object.
    tf.train.Checkpoint(x=tf.Variable(1.0)).write(os.path.join(args.dir, "w"))
  else:
    tf.train.Checkpoint(x=tf.Variable(1.0)).write(os.path.join(args.dir, "w"))
  before = _status("VmRSS")
  _reset_peak()
  start = time.perf_counter()
  if args.phase == "save":
    ckpt.write(prefix)
  else:
    ckpt.read(prefix).assert_consumed()
  seconds = time.perf_counter() - start
  peak = _status("VmHWM")
  assert int(var.size()) == args.rows, int(var.size())
  after = _status("VmRSS")
  with open(info, encoding="ascii") as f:
    table_resident = json.load(f)["table_resident"]
  extra = peak - before - (table_resident if args.phase == "restore" else 0)
  json.dump({"phase": args.phase, "bundle": args.bundle, "rows": args.rows,
             "table_bytes": args.rows * (8 + 4 * args.dim),
             "table_resident": table_resident, "before": before,
             "after": after, "peak": peak, "extra": extra,
             "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
  main()
