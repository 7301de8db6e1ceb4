"""Run every benchmark, then write one JSON report, plots and a summary.

Usage:
  python benchmarks/run_all.py [--quick] [--only NAME[,NAME...]] [--out DIR]
                               [--check-targets] [--quiet] [--list]
                               [--jobs N]  (N > 1 only with --quick)
                               [--python CMD]
Examples:
  python benchmarks/run_all.py                 # all, full size (minutes)
  python benchmarks/run_all.py --quick         # smoke run, about a minute
  python benchmarks/run_all.py --quick --jobs 2   # smoke run, 2 at a time
  python benchmarks/run_all.py --only lookup,train --out /tmp/bench

Each benchmark script in BENCHMARKS runs in its own subprocess (this
Python, `sys.executable`, or the --python command; working directory DIR)
with `--json DIR/<name>.json`, and with `--quick` plus the registry's
per-script quick flags when this script gets `--quick` (a smoke run whose
figures mean nothing). Its output is streamed, indented, as it runs
(--quiet: only one progress line per script) and kept in DIR/<name>.log
(stdout) and DIR/<name>.stderr.log. A script that fails is recorded and the
others still run.

Outputs in DIR (default benchmarks/results/, git-ignored):
  report.json      machine info; per benchmark the command, seconds, exit
                   status, its raw JSON report and its normalized ratio
                   rows {benchmark, case, metric, ours, baseline,
                   baseline_name, ratio, higher_is_better[, target,
                   target_of, target_met, target_applies]}; `ratio` is the
                   one the script prints (ours vs its in-process baseline)
  <name>.png       that benchmark's ratios as horizontal bars, the baseline
                   (1.0) and its targets marked
  summary.png      every target's margin (> 1 = met), when any has one
and a summary table on stdout.

Exit status: 0 when every benchmark ran; 1 if one failed (non-zero exit,
no or unreadable JSON report, no ratios), or, with --check-targets, if a
target that applies at the run's size is missed (by default timing never
fails a run); 2 for a usage error, or when a benchmarks/*.py file is
neither in BENCHMARKS nor in HELPERS (so a new benchmark cannot be skipped
silently: register it here, with a ratio extractor in _ratios.py).

Run it from anywhere; the scripts import the installed package.
"""

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

import _ratios
import _report

HERE = os.path.dirname(os.path.abspath(__file__))

# A benchmark: its script in the benchmarks directory, the function turning
# its JSON report into ratio rows, what it compares (plot titles), and the
# flags added to --quick under `run_all.py --quick` (CI-sized smoke runs),
# and whether it measures memory in probe processes of its own: such a script
# takes `--probe-python CMD`, and gets the --python command here, so its
# probes run with the interpreter the script runs with.
Benchmark = collections.namedtuple("Benchmark",
                                   "script extract what quick_args probes",
                                   defaults=(False,))
BENCHMARKS = {
    "hash_table": Benchmark(
        "hash_table.py", _ratios.hash_table,
        "de.CuckooHashTable vs TF's MutableHashTable and DenseHashTable",
        ("--repeats", "1"), probes=True),
    "lookup": Benchmark(
        "lookup.py", _ratios.lookup,
        "de.embedding_lookup_unique vs tf.nn.embedding_lookup", ()),
    "train": Benchmark(
        "train.py", _ratios.train,
        "dynamic Embedding vs static Keras Embedding (model.fit)", ()),
    "bounded": Benchmark(
        "bounded.py", _ratios.bounded,
        "eviction policies vs the unbounded de.CuckooHashTable", ()),
    "saving": Benchmark(
        "saving.py", _ratios.saving,
        "de.FileSystemSaver vs TF's tensor bundle (checkpoint)",
        ("--rows", "50000"), probes=True),
}
# Python files of the benchmarks directory that are not benchmarks.
HELPERS = {
    "run_all.py": "this script",
    "_ratios.py": "run_all's ratio extractors, one per benchmark",
    "_report.py": "run_all's machine info, summary table and plots",
    "saving_probe.py": "one save or restore phase, spawned by saving.py",
}


class RunAllError(Exception):
  """A usage or registry error: reported in one line, exit status 2."""


def check_registry(bench_dir):
  """Raises RunAllError unless every *.py in `bench_dir` is a registered
  benchmark or a helper, and every registered benchmark is there."""
  found = {f for f in os.listdir(bench_dir) if f.endswith(".py")}
  scripts = {b.script for b in BENCHMARKS.values()}
  unknown = sorted(found - scripts - set(HELPERS))
  missing = sorted(scripts - found)
  problems = []
  if unknown:
    problems.append(
        f"{', '.join(unknown)} in {bench_dir} is neither a registered "
        "benchmark nor a helper: add it to BENCHMARKS in run_all.py (with a "
        "ratio extractor in _ratios.py) or to HELPERS")
  if missing:
    problems.append(f"registered benchmark(s) {', '.join(missing)} not found "
                    f"in {bench_dir}")
  if problems:
    raise RunAllError("; ".join(problems))


def select(only):
  """Benchmark names to run, in registry order: all, or those of `only`
  ("a,b", with or without .py). Raises RunAllError for an unknown name."""
  if not only:
    return list(BENCHMARKS)
  wanted = {n.strip().removesuffix(".py") for n in only.split(",") if n.strip()}
  unknown = sorted(wanted - set(BENCHMARKS))
  if unknown or not wanted:
    raise RunAllError(f"unknown benchmark {', '.join(unknown) or repr(only)} "
                      f"in --only (known: {', '.join(BENCHMARKS)})")
  return [n for n in BENCHMARKS if n in wanted]


def _remove(path):
  if os.path.exists(path):
    os.remove(path)


def _tail(path, lines=15):
  with open(path, encoding="utf-8", errors="replace") as f:
    return "".join(f.readlines()[-lines:])


def run_benchmark(name, args, progress):
  """Runs one benchmark script, streaming its stdout; reads its ratios.

  Args:
    name: a key of BENCHMARKS.
    args: run_all's parsed arguments.
    progress: "[i/n]", for the progress lines.

  Returns:
    Its report entry: command, seconds, exit_status, ok, error, paths of
    its logs and JSON, raw (its JSON report) and ratios (rows).
  """
  bench = BENCHMARKS[name]
  script = os.path.join(args.benchmarks_dir, bench.script)
  path = lambda suffix: os.path.join(args.out, name + suffix)
  for stale in (path(".json"), path(".png")):
    _remove(stale)  # a failed run must not leave last run's figures behind
  cmd = [*args.python, script, "--json", path(".json")]
  if bench.probes:
    cmd += ["--probe-python", shlex.join(args.python)]
  if args.quick:
    cmd += ["--quick", *bench.quick_args]
  entry = {"name": name, "script": script, "command": shlex.join(cmd),
           "cwd": args.out, "seconds": None, "exit_status": None, "ok": False,
           "error": None, "log": path(".log"), "stderr_log": path(".stderr.log"),
           "json": path(".json"), "raw": None, "ratios": [], "plot": None}
  print(f"{progress} {bench.script}: running: {entry['command']}", flush=True)
  start = time.perf_counter()
  with open(entry["log"], "w", encoding="utf-8") as log, \
       open(entry["stderr_log"], "w", encoding="utf-8") as err:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                            encoding="utf-8", errors="replace", cwd=args.out,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    stream = not args.quiet and args.jobs == 1
    lines = []
    try:
      for line in proc.stdout:
        log.write(line)
        if stream:
          print("    " + line, end="", flush=True)
        else:
          lines.append("    " + line)
      entry["exit_status"] = proc.wait()
      if not args.quiet and not stream:  # --jobs: one block per script
        print("".join(lines), end="", flush=True)
    finally:
      if proc.poll() is None:  # interrupted: do not leave the script running
        proc.kill()
        proc.wait()
  entry["seconds"] = round(time.perf_counter() - start, 2)
  entry["error"] = _read_ratios(entry, bench)
  entry["ok"] = entry["error"] is None
  if entry["ok"]:
    print(f"{progress} {bench.script}: ok, {entry['seconds']:.0f} s, "
          f"{len(entry['ratios'])} ratios", flush=True)
  else:
    print(f"{progress} {bench.script}: FAILED after {entry['seconds']:.0f} s: "
          f"{entry['error']}\n    last stderr lines ({entry['stderr_log']}):\n"
          + _tail(entry["stderr_log"]), flush=True)
  return entry


def _read_ratios(entry, bench):
  """Fills entry's raw and ratios; returns an error message or None."""
  if entry["exit_status"] != 0:
    return f"exit status {entry['exit_status']}"
  try:
    with open(entry["json"], encoding="utf-8") as f:
      entry["raw"] = json.load(f)
  except (OSError, ValueError) as e:
    return f"no readable JSON report ({e})"
  try:
    entry["ratios"] = bench.extract(entry["raw"])
  except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as e:
    return (f"its JSON report does not have the expected fields "
            f"({type(e).__name__}: {e}); update _ratios.{bench.extract.__name__}")
  if not entry["ratios"]:
    return "its JSON report has no ratios"
  return None


def exit_status(entries, check_targets):
  """1 if a benchmark failed, or (with check_targets) a target that applies
  was missed; else 0."""
  if any(not e["ok"] for e in entries):
    return 1
  if check_targets and any(_report.verdict(r) == "missed"
                           for e in entries for r in e["ratios"]):
    return 1
  return 0


def write_report(args, entries, machine, started, extra=None):
  """Writes DIR/report.json; returns its path."""
  report = {"command": shlex.join([sys.executable] + sys.argv),
            "started": started, "quick": args.quick, "machine": machine,
            "seconds": round(sum(e["seconds"] for e in entries), 2),
            "benchmarks": {e["name"]: e for e in entries},
            "ratios": [r for e in entries for r in e["ratios"]]}
  report.update(extra or {})
  path = os.path.join(args.out, "report.json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(report, f, indent=1)
  return path


def parse_args(argv):
  """run_all's command line."""
  p = argparse.ArgumentParser(
      description=__doc__.split("\n", 1)[0],
      epilog="Benchmarks: " + "; ".join(
          f"{n} ({b.what})" for n, b in BENCHMARKS.items()))
  p.add_argument("--quick", action="store_true",
                 help="pass --quick (and the registry's quick flags, e.g. "
                      "hash_table --repeats 1, saving --rows 50000) to every "
                      "script: a smoke run whose figures mean nothing")
  p.add_argument("--only", metavar="NAME[,NAME]",
                 help="run only these benchmarks (see --list); the report "
                      "then holds only them")
  p.add_argument("--out", metavar="DIR", default=os.path.join(HERE, "results"),
                 help="output directory for report.json, <name>.json, "
                      "<name>.png, summary.png and the logs (default: "
                      "benchmarks/results/ in the repository; created if "
                      "needed, files of this run's benchmarks overwritten)")
  p.add_argument("--check-targets", action="store_true",
                 help="also exit 1 when a target is missed (default: targets "
                      "are reported only, timing never fails the run)")
  p.add_argument("--jobs", type=int, default=1, metavar="N",
                 help="run up to N scripts at once (default 1). Only for "
                      "--quick smoke runs, whose figures mean nothing: "
                      "concurrent scripts share the CPUs, so their timings "
                      "are not comparable. Each script's output is printed "
                      "when it ends instead of streamed")
  p.add_argument("--quiet", action="store_true",
                 help="do not stream the scripts' output, print one progress "
                      "line per script (the output is in DIR/<name>.log)")
  p.add_argument("--python", metavar="CMD", type=shlex.split,
                 default=[sys.executable],
                 help="the interpreter command each script (and its "
                      "memory probes) runs with, split like a shell would "
                      "(default: this Python, sys.executable); e.g. another "
                      "venv's python")
  p.add_argument("--list", action="store_true",
                 help="list the registered benchmarks and helpers, and exit")
  p.add_argument("--benchmarks-dir", metavar="DIR", default=HERE,
                 help="directory holding the benchmark scripts (default: "
                      "this script's; for tests of the registry check)")
  args = p.parse_args(argv)
  if args.jobs < 1:
    p.error("--jobs must be >= 1")
  if args.jobs > 1 and not args.quick:
    p.error("--jobs > 1 needs --quick: concurrent scripts share the CPUs, "
            "so their figures would not mean what they say")
  args.out = os.path.abspath(args.out)
  args.benchmarks_dir = os.path.abspath(args.benchmarks_dir)
  return args


def list_registry():
  """Prints the registry (--list)."""
  for name, b in BENCHMARKS.items():
    quick = " ".join(("--quick",) + b.quick_args)
    print(f"{name:<12}{b.script:<16}{b.what}  [quick: {quick}]")
  for script, why in HELPERS.items():
    print(f"{'(helper)':<12}{script:<16}{why}")


def main(argv=None):
  """Runs the selected benchmarks; returns the exit status."""
  args = parse_args(sys.argv[1:] if argv is None else argv)
  if args.list:
    list_registry()
    return 0
  try:
    check_registry(args.benchmarks_dir)
    names = select(args.only)
  except RunAllError as e:
    print(f"run_all.py: error: {e}", file=sys.stderr)
    return 2
  os.makedirs(args.out, exist_ok=True)
  started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
  machine = _report.machine(os.path.dirname(HERE))
  print(f"# run_all: {len(names)} benchmark(s){' (--quick)' if args.quick else ''}"
        f" on {machine['usable_cpus']} CPUs ({machine['cpu']}), TF "
        f"{machine['tf']}, git {machine['git']}; output in {args.out}",
        flush=True)
  with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
    entries = list(pool.map(
        lambda item: run_benchmark(item[1], args, f"[{item[0]}/{len(names)}]"),
        enumerate(names, 1)))
  # The report is written before plotting, so a plotting error loses nothing.
  path = write_report(args, entries, machine, started)
  plots = []
  for e in entries:
    if e["ok"]:
      e["plot"] = os.path.join(args.out, f"{e['name']}.png")
      _report.plot_benchmark(e["name"], e["ratios"], e["plot"],
                             BENCHMARKS[e["name"]].what)
      plots.append(e["plot"])
  summary = os.path.join(args.out, "summary.png")
  _remove(summary)
  if _report.plot_summary([r for e in entries for r in e["ratios"]], summary):
    plots.append(summary)
  path = write_report(args, entries, machine, started, {"plots": plots})
  print("\nSummary (ratio as each script reports it: ours vs its in-process "
        "baseline" + ("; --quick: smoke sizes, the figures mean nothing"
                      if args.quick else "") + ")\n"
        + _report.summary_table(entries))
  print(f"\nreport: {path}\nplots:  " + "\n        ".join(plots or ["(none)"]))
  status = exit_status(entries, args.check_targets)
  failed = [e["name"] for e in entries if not e["ok"]]
  if failed:
    print(f"FAILED: {', '.join(failed)} (see their logs in {args.out})")
  elif status:
    print("targets missed (--check-targets)")
  return status


if __name__ == "__main__":
  sys.exit(main())
