"""`tfra-demo`'s command line: help text, one-line errors, the entry points.

Parsing errors are checked in-process (they happen before TensorFlow is
used); the console script and `python -m` are run as processes once each.
"""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons.demo import cli

import pyproc

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def option_strings():
  return sorted(s for action in cli.parser()._actions  # pylint: disable=protected-access
                for s in action.option_strings if s.startswith("--"))


def test_help_explains_every_option(capsys):
  with pytest.raises(SystemExit) as stop:
    cli.main(["--help"])
  assert stop.value.code == 0
  text = capsys.readouterr().out
  for option in option_strings():
    assert option in text
  for action in cli.parser()._actions:  # pylint: disable=protected-access
    assert action.help, f"{action.option_strings} has no help text"
  assert "MovieLens" in text and "recall@10" in text


@pytest.mark.parametrize("argv,message", [
    (["--users", "0"], "argument --users: 0 must be at least 2"),
    (["--movies", "x"], "argument --movies: 'x' is not an integer"),
    (["--test-fraction", "1.5"], "1.5 must be between 0 and 1"),
    (["--learning-rate", "-1"], "-1.0 must be greater than 0"),
    (["--epoch-count", "3"], "unrecognized arguments: --epoch-count 3"),
    (["--model", "gbdt"], "argument --model: invalid choice: 'gbdt'"),
    (["--model", "esmm", "--examples", "5"], "5 must be at least 100"),
    (["extra"], "unrecognized arguments: extra"),
])
def test_bad_option_is_one_line(capsys, tmp_path, argv, message):
  with pytest.raises(SystemExit) as stop:
    cli.main(argv + ["--out", str(tmp_path / "out")])
  assert stop.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1, err
  assert err.startswith("tfra-demo: error: ") and message in err


def test_missing_data_directory_is_one_line(capsys, tmp_path):
  with pytest.raises(SystemExit) as stop:
    cli.main(["--data", str(tmp_path / "ml-100k"), "--out", str(tmp_path)])
  assert stop.value.code == 2
  err = capsys.readouterr().err
  assert err == (f"tfra-demo: error: --data {tmp_path / 'ml-100k'}: no such "
                 f"directory (see tfra-demo --help)\n")


def test_data_directory_without_movielens_is_one_line(capsys, tmp_path):
  (tmp_path / "data").mkdir()
  status = cli.main(["--data", str(tmp_path / "data"),
                     "--out", str(tmp_path / "out")])
  assert status == 1
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "found neither u.data" in err


def test_out_that_is_a_file_is_one_line(capsys, tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(SystemExit) as stop:
    cli.main(["--out", str(tmp_path / "file")])
  assert stop.value.code == 2
  assert "exists and is not a directory" in capsys.readouterr().err


def test_keras3_process_is_told_to_run_the_demo_on_its_own(capsys, tmp_path):
  # This test process uses Keras 3 as tf.keras, which TFRS 0.7 cannot use:
  # the demo says so instead of failing inside TFRS, and leaves the
  # process's environment as it was.
  assert not tf.keras.layers.Layer.__module__.startswith("tf_keras")
  before = os.environ.get("TF_USE_LEGACY_KERAS")
  status = cli.main(["--users", "20", "--movies", "30", "--ratings", "200",
                     "--out", str(tmp_path)])
  assert status == 1
  assert "run tfra-demo as its own process" in capsys.readouterr().err
  assert os.environ.get("TF_USE_LEGACY_KERAS") == before


def test_console_script_is_installed_and_errors_without_traceback(tmp_path):
  script = os.path.join(os.path.dirname(sys.executable), "tfra-demo")
  assert os.path.exists(script), "pip install . installs tfra-demo"
  run = subprocess.run([script, "--data", str(tmp_path / "missing")],
                       capture_output=True, text=True, env=ENV,
                       cwd=str(tmp_path), check=False)
  assert run.returncode == 2
  assert "Traceback" not in run.stderr
  assert run.stderr.strip().splitlines()[-1].startswith(
      "tfra-demo: error: --data")


def test_python_m_help(tmp_path):
  run = subprocess.run(
      pyproc.python("-m", "tensorflow_recommenders_addons.demo", "--help"),
      capture_output=True, text=True, env=ENV, cwd=str(tmp_path), check=True)
  assert run.stdout.startswith("usage: tfra-demo")
