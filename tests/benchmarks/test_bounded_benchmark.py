"""Smoke run of benchmarks/bounded.py: it runs and reports every case.

Timing targets are never asserted here (shared, noisy machines); this checks
that every policy is measured for insert and lookup, that the bounded cases
really evicted and stayed within their capacity, and that the target lines
are printed.

The script runs once per session, in conftest.py's `run_all.py --quick`
run (with run_all's quick flags); this reads its output and JSON.
"""

import pytest
CASES = ("off", "track", "lru", "lfu", "ttl", "custom", "admit")
BOUNDED = ("lru", "lfu", "ttl", "custom", "admit")


@pytest.mark.quick_run("bounded")
def test_quick_benchmark_reports_every_case(quick_benchmark):
  out, data = quick_benchmark("bounded")
  assert "Target" in out and "met" in out
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
