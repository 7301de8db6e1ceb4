"""Smoke run of benchmarks/lookup.py: both modes measured, JSON written.

No timing is asserted (shared, noisy machines); the ratio is a figure for the
README, reproduced by running the script itself.

The script runs once per session, in conftest.py's `run_all.py --quick`
run (with run_all's quick flags); this reads its output and JSON.
"""

import pytest


@pytest.mark.quick_run("lookup")
def test_quick_lookup_benchmark_reports_both_modes(quick_benchmark):
  out, data = quick_benchmark("lookup")
  assert "forward+backward" in out and "Targets" in out
  assert [r["mode"] for r in data["results"]] == ["forward", "forward+backward"]
  for row in data["results"]:
    assert row["ours_examples_per_s"] > 0 and row["static_examples_per_s"] > 0
    assert row["time_ratio"] > 0
  assert 1 < data["distinct_ids_per_batch"] < 4096 * 8
  assert [o["op"] for o in data["batch_ops"]] == ["unique", "merge rows"]
  assert all(o["speedup"] > 0 for o in data["batch_ops"])
