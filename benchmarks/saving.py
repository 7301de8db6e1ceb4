"""Checkpoint benchmark: de.FileSystemSaver against TensorFlow's tensor bundle.

Saves and restores a 4-shard int64 de.Variable of --rows rows of width
--dim with `tf.train.Checkpoint`, two ways:

  saver   the variable's creator has a de.FileSystemSaver: rows stream to
          per-shard side files and back (file_streams.py)
  bundle  no saver: rows go into the checkpoint's tensor bundle, which
          TensorFlow assembles in memory (the baseline)

Each phase runs benchmarks/saving_probe.py in a fresh process, so resident
memory is the phase's alone; it reports the phase's wall time and its peak
memory beyond the table (VmHWM after a reset, minus resident memory before
the phase and, for a restore, the table's own resident size). Payload is
rows x (8 + 4 x dim) bytes. Printed: seconds, rows/s, peak extra MB and %
of payload per case and phase, the saver/bundle ratios, and the target of
the persistence issue: the saver's peak extra memory under 25% of the
payload for save and restore.

Usage:  python benchmarks/saving.py [--quick] [--rows N] [--json out.json]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

from hash_table import machine  # pylint: disable=wrong-import-order

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "saving_probe.py")
CASES = ("saver", "bundle")
PHASES = ("save", "restore")
TARGET = 0.25  # saver peak extra memory < 25% of the payload


def run_phase(case, phase, rows, dim, directory, python):
  cmd = [*python, PROBE, phase, "--rows", str(rows), "--dim",
         str(dim), "--dir", directory] + (["--bundle"] if case == "bundle"
                                          else [])
  out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")).stdout
  return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rows", type=int,
                      help="table rows (default 2000000; --quick 200000)")
  parser.add_argument("--dim", type=int, default=16)
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--json", help="write the results here")
  parser.add_argument("--probe-python", metavar="CMD", type=shlex.split,
                      default=[sys.executable],
                      help="interpreter command of the probe processes, split "
                           "like a shell would (default: this Python)")
  args = parser.parse_args(argv)
  rows = args.rows or (200_000 if args.quick else 2_000_000)

  results = []
  for case in CASES:
    with tempfile.TemporaryDirectory() as directory:
      for phase in PHASES:
        r = run_phase(case, phase, rows, args.dim, directory,
                      args.probe_python)
        r.update(case=case)
        results.append(r)

  print(f"machine: {machine()}")
  print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
  payload = results[0]["table_bytes"]
  print(f"table: {rows:,} rows x dim {args.dim}, payload "
        f"{payload / 1e6:.1f} MB, 4 shards")
  print(f"{'case':<8}{'phase':<9}{'seconds':>9}{'rows/s':>13}"
        f"{'peak extra MB':>15}{'% payload':>11}")
  by = {(r["case"], r["phase"]): r for r in results}
  for r in results:
    print(f"{r['case']:<8}{r['phase']:<9}{r['seconds']:>9.2f}"
          f"{rows / r['seconds']:>13,.0f}{r['extra'] / 1e6:>15.1f}"
          f"{100 * r['extra'] / payload:>10.1f}%")
  ratios = []
  for phase in PHASES:
    saver, bundle = by[("saver", phase)], by[("bundle", phase)]
    time_ratio = bundle["seconds"] / saver["seconds"]
    ratios.append({"phase": phase, "speedup": time_ratio,
                   "extra_mb_saved": (bundle["extra"] - saver["extra"]) / 1e6})
    print(f"{phase}: saver {time_ratio:.2f}x the bundle's speed, "
          f"{(bundle['extra'] - saver['extra']) / 1e6:.1f} MB less peak "
          f"memory")
  targets = []
  for phase in PHASES:
    share = by[("saver", phase)]["extra"] / payload
    met = share < TARGET
    targets.append({"phase": phase, "share": share, "target": TARGET,
                    "met": met})
    print(f"Target ({phase}): saver peak extra < {TARGET:.0%} of payload: "
          f"{share:.1%} -> {'met' if met else 'NOT met'}")
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump({"machine": machine(), "rows": rows, "dim": args.dim,
                 "results": results, "ratios": ratios, "targets": targets},
                f, indent=1)


if __name__ == "__main__":
  main()
