"""Smoke run of benchmarks/saving.py: it runs and reports every case.

Timing and memory targets are never asserted here (shared, noisy machines;
at the quick size a constant few MB dominate): this checks that both cases
are measured for save and restore, over the whole table, and that the
target lines are printed.

The script runs once per session, in conftest.py's `run_all.py --quick`
run (with run_all's quick flags: --rows 50000); this reads its output and JSON.
"""

import pytest


@pytest.mark.quick_run("saving")
def test_quick_benchmark_reports_every_case(quick_benchmark):
  out, data = quick_benchmark("saving")
  assert "Target (save)" in out and "Target (restore)" in out
  cells = {(r["case"], r["phase"]) for r in data["results"]
           if r["seconds"] > 0 and r["rows"] == 50000}
  assert cells == {(c, p) for c in ("saver", "bundle")
                   for p in ("save", "restore")}
  assert {t["phase"] for t in data["targets"]} == {"save", "restore"}
