"""Smoke run of benchmarks/train.py: every case of both Kerases trains and
is reported.

No timing is asserted (shared, noisy machines); the figures for the README
come from running the script itself at full size.

The quick run of every case is the session's `run_all.py --quick` run
(conftest.py); the one-Keras run is this file's own.
"""

import json
import os
import subprocess

import pytest

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "train.py")


@pytest.mark.quick_run("train")
def test_quick_train_benchmark_reports_every_case(quick_benchmark):
  out, data = quick_benchmark("train")
  for keras_name in ("tf_keras", "keras3"):
    assert f"{keras_name} adagrad: dynamic/static" in out
    assert f"{keras_name} adam: dynamic" in out
  cases = [(r["keras"], r["optimizer"], r["model"]) for r in data["results"]]
  assert cases == [(k, opt, model) for k in ("tf_keras", "keras3")
                   for opt in ("adam", "adagrad")
                   for model in ("dynamic", "static")]
  for row in data["results"]:
    assert row["examples_per_s"] > 0 and 0 < row["loss"] < 5
  # The dynamic table holds every distinct id trained on (more than the
  # static model's hashed rows could tell apart at full size).
  assert all(r["table_rows"] > 100 for r in data["results"]
             if r["model"] == "dynamic")
  assert data["summary"].keys() == {"tf_keras", "keras3"}
  assert all(s.keys() == {"adam", "adagrad"}
             for s in data["summary"].values())


def test_train_benchmark_runs_one_keras(tmp_path):
  report = tmp_path / "train.json"
  subprocess.run(
      pyproc.python(SCRIPT, "--quick", "--kerases", "keras3",
                    "--optimizers", "adagrad", "--json", str(report)),
      check=True, capture_output=True, text=True, cwd=str(tmp_path))
  data = json.loads(report.read_text())
  assert [(r["keras"], r["model"]) for r in data["results"]] == [
      ("keras3", "dynamic"), ("keras3", "static")]
