"""Smoke run of benchmarks/hash_table.py: it runs and reports sane figures.

Timing targets are never asserted here (shared, noisy machines); this checks
that the benchmark measures all three tables and writes its JSON report.

The script runs once per session, in conftest.py's `run_all.py --quick`
run (with run_all's quick flags: --repeats 1); this reads its output and JSON.
"""

import pytest


@pytest.mark.quick_run("hash_table")
def test_quick_benchmark_reports_every_table(quick_benchmark):
  out, data = quick_benchmark("hash_table")
  assert "lookup-hit" in out and "Targets" in out
  cells = {(r["table"], r["op"]) for r in data["throughput"] if r["keys_per_s"] > 0}
  assert cells == {(t, op) for t in ("ours", "mutable", "dense")
                   for op in ("insert", "lookup-hit", "lookup-miss")}
  kinds = {m["kind"] for m in data["memory"]}
  assert kinds == {"ours", "mutable", "dense"}
  for m in data["memory"]:
    # No table can hold its rows in less than the raw key + value bytes.
    assert m["bytes_per_entry"] >= m["kv_bytes"], m
