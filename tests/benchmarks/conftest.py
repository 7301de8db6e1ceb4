"""Fixtures of the benchmark tests: one `run_all.py --quick` run per session.

Every benchmark runs once, through benchmarks/run_all.py (itself under
test), and each smoke test reads its script's JSON report and output from
that run instead of running the script again.

A test marks the benchmarks it reads with `@pytest.mark.quick_run("name")`
(no names: all of them). The session runs only the benchmarks its selected
tests need, so running one smoke test file runs one benchmark.

Fixtures:
  quick_run        the session's run: out dir, stdout, stderr, returncode,
                   report (report.json as a dict, None if not written)
  quick_benchmark  quick_benchmark(name) -> (the script's stdout, its JSON)
"""

import collections
import json
import os
import shlex
import subprocess
import sys

import pytest

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_ALL = os.path.join(ROOT, "benchmarks", "run_all.py")

QuickRun = collections.namedtuple("QuickRun",
                                  "out stdout stderr returncode report")


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "quick_run(*names): reads the session's run_all.py --quick "
      "run of these benchmarks (no names: all)")


def _needed(session):
  """Benchmark names the selected tests read; None for all of them."""
  names = set()
  for item in session.items:
    marker = item.get_closest_marker("quick_run")
    if marker is not None:
      if not marker.args:
        return None
      names.update(marker.args)
  return sorted(names) or None


@pytest.fixture(scope="session")
def quick_run(request, tmp_path_factory):
  out = tmp_path_factory.mktemp("run_all_quick")
  # Two scripts at a time: smoke sizes, no timing or memory figure is
  # asserted. The scripts and their memory probes (run_all passes --python
  # on as --probe-python) run through the fork server.
  cmd = [sys.executable, RUN_ALL, "--quick", "--jobs", "2", "--out", str(out),
         "--python", shlex.join(pyproc.python())]
  names = _needed(request.session)
  if names:
    cmd += ["--only", ",".join(names)]
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(out),
                        check=False)
  report = out / "report.json"
  return QuickRun(out, proc.stdout, proc.stderr, proc.returncode,
                  json.loads(report.read_text()) if report.exists() else None)


@pytest.fixture
def quick_benchmark(quick_run):
  """quick_benchmark(name): (stdout, JSON report) of that benchmark's script
  in the session's quick run; fails with its stderr if it failed."""

  def get(name):
    assert quick_run.report is not None, quick_run.stdout[-3000:] + \
        quick_run.stderr[-3000:]
    entry = quick_run.report["benchmarks"][name]
    with open(entry["stderr_log"], encoding="utf-8") as f:
      assert entry["exit_status"] == 0, f.read()[-3000:]
    with open(entry["log"], encoding="utf-8") as f:
      out = f.read()
    with open(entry["json"], encoding="utf-8") as f:
      return out, json.load(f)

  return get
