"""Smoke run of benchmarks/bounded.py: it runs and reports every case.

Timing targets are never asserted here (shared, noisy machines); this checks
that every policy is measured for insert and lookup, that the bounded cases
really evicted and stayed within their capacity, and that the target lines
are printed.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "bounded.py")
CASES = ("off", "track", "lru", "lfu", "ttl", "custom", "admit")
BOUNDED = ("lru", "lfu", "ttl", "custom", "admit")


def test_quick_benchmark_reports_every_case(tmp_path):
  report = tmp_path / "bounded.json"
  out = subprocess.run(
      [sys.executable, SCRIPT, "--quick", "--json", str(report)],
      check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout
  assert "Target" in out and "met" in out
  data = json.loads(report.read_text())
  cells = {(r["case"], r["op"]) for r in data["results"] if r["keys_per_s"] > 0}
  assert cells == {(c, op) for c in CASES for op in ("insert", "lookup")}
  capacity = data["config"]["capacity"]
  assert data["distinct_keys"] > capacity
  for case in BOUNDED:
    table = data["tables"][case]
    assert 0 < table["size"] <= capacity, (case, table)
    assert table["dropped"] > 0, (case, table)
  for case in ("off", "track"):
    assert data["tables"][case] == {"size": data["distinct_keys"],
                                    "dropped": 0, "hit_rate": 1.0}
  assert {(t["case"], t["op"]) for t in data["targets"]} == {
      (c, op) for c in ("lru", "lfu") for op in ("insert", "lookup")}
