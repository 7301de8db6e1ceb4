"""The README's main job, examples/quickstart.py, runs and reports success."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_runs(tmp_path):
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, "examples", "quickstart.py")],
      check=True, capture_output=True, text=True, cwd=str(tmp_path)).stdout
  assert "lookups never insert" in out
  assert "restores (2 shards, files) match: True" in out
  assert "keras fit: loss" in out and "500 user rows in the table" in out
