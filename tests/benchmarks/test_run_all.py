"""benchmarks/run_all.py: runs every benchmark, writes the report and plots,
and fails loudly on failed, unknown or unregistered benchmarks.

The full quick run is the session's (conftest.py `quick_run`), shared with
the per-benchmark smoke tests. No timing figure or target verdict is
asserted (shared, noisy machines).
"""

import importlib.util
import json
import math
import os
import shlex
import shutil
import subprocess
import sys

import pytest

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "benchmarks")
RUN_ALL = os.path.join(BENCH, "run_all.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROW_FIELDS = {"benchmark", "case", "metric", "ours", "baseline",
              "baseline_name", "ratio", "higher_is_better"}


@pytest.fixture
def run_all(monkeypatch):
  """benchmarks/run_all.py as a module (its helpers importable)."""
  monkeypatch.syspath_prepend(BENCH)
  spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _copy_benchmarks(tmp_path):
  bench = tmp_path / "benchmarks"
  shutil.copytree(BENCH, bench,
                  ignore=shutil.ignore_patterns("results", "__pycache__"))
  return bench


def _run(*args, cwd):
  return subprocess.run([sys.executable, RUN_ALL, *args], capture_output=True,
                        text=True, cwd=str(cwd), check=False)


@pytest.mark.quick_run()
def test_report_lists_every_benchmark_with_ratios(quick_run, run_all):
  assert quick_run.returncode == 0, quick_run.stdout[-3000:]
  benchmarks = quick_run.report["benchmarks"]
  assert list(benchmarks) == list(run_all.BENCHMARKS)
  for name, entry in benchmarks.items():
    assert entry["exit_status"] == 0 and entry["ok"], (name, entry["error"])
    assert "--quick" in entry["command"] and entry["raw"], name
    assert entry["ratios"], name
    for r in entry["ratios"]:
      assert ROW_FIELDS <= r.keys() and r["benchmark"] == name, r
      assert all(math.isfinite(r[k]) for k in ("ours", "baseline", "ratio")), r
      if "target" in r:
        assert isinstance(r["target_met"], bool), r
  assert quick_run.report["machine"]["nproc"] >= 1
  assert quick_run.report["machine"]["tf"]


@pytest.mark.quick_run()
def test_every_benchmark_has_a_valid_png(quick_run):
  import matplotlib.image  # pylint: disable=import-outside-toplevel
  names = list(quick_run.report["benchmarks"])
  plots = quick_run.report["plots"]
  assert [str(quick_run.out / f"{n}.png") for n in names] == plots[:len(names)]
  for path in plots:
    with open(path, "rb") as f:
      assert f.read(8) == PNG_SIGNATURE, path
    assert os.path.getsize(path) > 0
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 0 and width > 0, path


@pytest.mark.quick_run()
def test_progress_and_summary_table_are_printed(quick_run):
  out = quick_run.stdout
  names = list(quick_run.report["benchmarks"])
  for i, name in enumerate(names, 1):
    assert f"[{i}/{len(names)}] {name}.py: ok" in out
  assert "\n    Targets: ours within" in out  # lookup.py's output, streamed
  table = out[out.index("\nSummary"):]
  lines = table.splitlines()
  assert lines[2].split() == ["benchmark", "case", "ratio", "better",
                              "vs", "baseline", "target", "result"]
  assert {line.split()[0] for line in lines[4:] if line[:1].isalpha()} >= \
      set(names) | {"report:", "plots:"}
  assert f"report: {quick_run.out / 'report.json'}" in table


@pytest.fixture(scope="module")
def subset_run(tmp_path_factory):
  """--only lookup,bounded on a copy of benchmarks/ whose lookup.py fails."""
  tmp = tmp_path_factory.mktemp("subset")
  bench = _copy_benchmarks(tmp)
  (bench / "lookup.py").write_text(
      'import sys\nprint("stub starts")\nsys.exit("stub: deliberate failure")\n')
  out = tmp / "out"
  proc = _run("--quick", "--only", "lookup,bounded.py", "--out", str(out),
              "--benchmarks-dir", str(bench),
              "--python", shlex.join(pyproc.python()), cwd=tmp)
  return out, proc


def test_only_runs_the_named_benchmarks(subset_run):
  out, proc = subset_run
  report = json.loads((out / "report.json").read_text())
  assert list(report["benchmarks"]) == ["lookup", "bounded"]
  assert not (out / "hash_table.json").exists()
  assert "[1/2] lookup.py" in proc.stdout and "[2/2] bounded.py" in proc.stdout


def test_a_failed_benchmark_is_recorded_and_the_others_still_run(subset_run):
  out, proc = subset_run
  report = json.loads((out / "report.json").read_text())
  failed, other = report["benchmarks"]["lookup"], report["benchmarks"]["bounded"]
  assert proc.returncode == 1, proc.stdout[-3000:]
  assert failed["exit_status"] == 1 and not failed["ok"]
  assert failed["ratios"] == [] and failed["plot"] is None
  assert "deliberate failure" in proc.stdout  # its stderr tail is shown
  assert "FAILED: lookup" in proc.stdout
  assert other["ok"] and other["ratios"] and os.path.exists(other["plot"])


def test_unknown_only_name_is_a_one_line_error(tmp_path):
  proc = _run("--only", "lookup,nosuch", "--out", str(tmp_path / "out"),
              cwd=tmp_path)
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1
  assert "nosuch" in proc.stderr and "hash_table" in proc.stderr
  assert not (tmp_path / "out").exists()


def test_an_unregistered_script_fails_the_run(tmp_path):
  bench = _copy_benchmarks(tmp_path)
  (bench / "new_benchmark.py").write_text("print('not registered')\n")
  proc = _run("--quick", "--out", str(tmp_path / "out"), "--benchmarks-dir",
              str(bench), cwd=tmp_path)
  assert proc.returncode == 2
  assert len(proc.stderr.strip().splitlines()) == 1
  assert "new_benchmark.py" in proc.stderr and "BENCHMARKS" in proc.stderr
  assert not (tmp_path / "out").exists()


def test_a_missing_registered_script_fails_the_registry_check(run_all,
                                                              tmp_path):
  bench = _copy_benchmarks(tmp_path)
  (bench / "train.py").unlink()
  with pytest.raises(run_all.RunAllError, match="train.py"):
    run_all.check_registry(str(bench))


def test_the_repository_benchmarks_are_all_registered(run_all):
  run_all.check_registry(BENCH)


def _entry(ok=True, met=True, applies=True):
  row = {"target": 1.0, "target_met": met, "target_applies": applies}
  return {"ok": ok, "ratios": [row] if ok else []}


@pytest.mark.parametrize("entry,check_targets,status", [
    (_entry(), False, 0),
    (_entry(), True, 0),
    (_entry(met=False), False, 0),
    (_entry(met=False), True, 1),
    (_entry(met=False, applies=False), True, 0),
    (_entry(ok=False), False, 1),
])
def test_exit_status(run_all, entry, check_targets, status):
  assert run_all.exit_status([_entry(), entry], check_targets) == status


def test_default_output_dir_is_git_ignored(run_all):
  assert run_all.parse_args([]).out == os.path.join(BENCH, "results")
  with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as f:
    assert "benchmarks/results/" in f.read().split()
