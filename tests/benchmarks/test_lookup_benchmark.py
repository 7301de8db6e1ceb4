"""Smoke run of benchmarks/lookup.py: both modes measured, JSON written.

No timing is asserted (shared, noisy machines); the ratio is a figure for the
README, reproduced by running the script itself.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "lookup.py")


def test_quick_lookup_benchmark_reports_both_modes(tmp_path):
  report = tmp_path / "lookup.json"
  out = subprocess.run(
      [sys.executable, SCRIPT, "--quick", "--json", str(report)],
      check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout
  assert "forward+backward" in out and "Targets" in out
  data = json.loads(report.read_text())
  assert [r["mode"] for r in data["results"]] == ["forward", "forward+backward"]
  for row in data["results"]:
    assert row["ours_examples_per_s"] > 0 and row["static_examples_per_s"] > 0
    assert row["time_ratio"] > 0
  assert 1 < data["distinct_ids_per_batch"] < 4096 * 8
  assert [o["op"] for o in data["batch_ops"]] == ["unique", "merge rows"]
  assert all(o["speedup"] > 0 for o in data["batch_ops"])
