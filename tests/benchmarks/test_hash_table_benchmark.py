"""Smoke run of benchmarks/hash_table.py: it runs and reports sane figures.

Timing targets are never asserted here (shared, noisy machines); this checks
that the benchmark measures all three tables and writes its JSON report.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "hash_table.py")


def test_quick_benchmark_reports_every_table(tmp_path):
  report = tmp_path / "hash_table.json"
  out = subprocess.run(
      [sys.executable, SCRIPT, "--quick", "--repeats", "1", "--json", str(report)],
      check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout
  assert "lookup-hit" in out and "Targets" in out
  data = json.loads(report.read_text())
  cells = {(r["table"], r["op"]) for r in data["throughput"] if r["keys_per_s"] > 0}
  assert cells == {(t, op) for t in ("ours", "mutable", "dense")
                   for op in ("insert", "lookup-hit", "lookup-miss")}
  kinds = {m["kind"] for m in data["memory"]}
  assert kinds == {"ours", "mutable", "dense"}
  for m in data["memory"]:
    # No table can hold its rows in less than the raw key + value bytes.
    assert m["bytes_per_entry"] >= m["kv_bytes"], m
