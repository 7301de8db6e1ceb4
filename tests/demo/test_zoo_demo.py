"""`tfra-demo --model NAME`, as processes: a model zoo model on synthetic
data beats logistic regression, and its TFLite export agrees with it.

Small runs (a few thousand examples, one or two epochs); the margins are
below the ones seen (these runs: DeepFM AUC 0.81 vs 0.70; TwoTower 0.66
vs 0.50). Every model's AUC against the baseline: tests/models/test_auc.py."""

import json
import os
import subprocess

import pytest

import pyproc

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run(tmp_path, *args):
  out = tmp_path / "out"
  run = subprocess.run(
      pyproc.python("-m", "tensorflow_recommenders_addons.demo", *args,
                    "--quiet", "--out", str(out)),
      capture_output=True, text=True, env=ENV, cwd=str(tmp_path),
      check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  name = args[args.index("--model") + 1]
  with open(out / f"{name}.json", encoding="utf-8") as f:
    return run.stdout, json.load(f), out / f"{name}.tflite"


@pytest.mark.parametrize("args,outputs", [
    (("--model", "deepfm", "--examples", "20000", "--fields", "6",
      "--dense", "4", "--vocabulary", "200", "--epochs", "2"), ["click"]),
    (("--model", "twotower", "--examples", "6000", "--epochs", "3",
      "--learning-rate", "0.02"), ["next item"]),
])
def test_zoo_model_beats_the_baseline_and_exports(tmp_path, args, outputs):
  stdout, metrics, tflite = _run(tmp_path, *args)
  assert sorted(metrics["results"]) == sorted(outputs)
  for output in outputs:
    result = metrics["results"][output]
    assert result["auc"] > result["baseline_auc"] + 0.02, metrics
    assert f"held-out AUC ({output})" in stdout
  assert metrics["tflite_max_diff"] <= 1e-5
  assert metrics["tflite_same_items"]
  assert os.path.getsize(tflite) == metrics["tflite_bytes"] > 10_000
  assert f"exported {tflite}" in stdout
