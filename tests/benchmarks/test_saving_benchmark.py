"""Smoke run of benchmarks/saving.py: it runs and reports every case.

Timing and memory targets are never asserted here (shared, noisy machines;
at the quick size a constant few MB dominate): this checks that both cases
are measured for save and restore, over the whole table, and that the
target lines are printed.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "saving.py")


def test_quick_benchmark_reports_every_case(tmp_path):
  report = tmp_path / "saving.json"
  out = subprocess.run(
      [sys.executable, SCRIPT, "--quick", "--rows", "50000", "--json",
       str(report)],
      check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout
  assert "Target (save)" in out and "Target (restore)" in out
  data = json.loads(report.read_text())
  cells = {(r["case"], r["phase"]) for r in data["results"]
           if r["seconds"] > 0 and r["rows"] == 50000}
  assert cells == {(c, p) for c in ("saver", "bundle")
                   for p in ("save", "restore")}
  assert {t["phase"] for t in data["targets"]} == {"save", "restore"}
