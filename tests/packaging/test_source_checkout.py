"""A source checkout behaves like the installed package.

From the repository root the source tree shadows the installed package
(`python -m tensorflow_recommenders_addons.demo` imports `./tensorflow_
recommenders_addons`), so the checkout must hold its own op libraries:
scripts/install.sh puts a copy of the libraries it built and installed
there, and `pip install -e .` builds them there. These tests run the
package from the checkout, and make an editable install of a copy of the checkout into a new
venv (with the native build skipped: the copy gets this checkout's in-place
libraries, so the test checks the editable mechanics, not the compiler).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import pyproc

REPO_ROOT = Path(__file__).resolve().parents[2]
PKG = "tensorflow_recommenders_addons"
INPLACE_LIBS = REPO_ROOT / PKG / "_libs"
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
ENV.pop("PYTHONPATH", None)

# Prints where the package came from and one lookup through its ops.
_CHECK = r"""
import json
import tensorflow_recommenders_addons as tfra
from tensorflow_recommenders_addons import dynamic_embedding as de
var = de.Variable(dim=2, initializer=1.5)
var.upsert([7], [[1.0, 2.0]])
print(json.dumps({"file": tfra.__file__,
                  "rows": var.lookup([7, 8]).numpy().tolist()}))
"""


def _run(args, cwd, env=ENV, timeout=600):
  run = subprocess.run(args, cwd=str(cwd), env=env, capture_output=True,
                       text=True, timeout=timeout, check=False)
  assert run.returncode == 0, (run.stdout[-2000:], run.stderr[-4000:])
  return run.stdout


def _report(stdout):
  return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def inplace_libs():
  libs = sorted(INPLACE_LIBS.glob("*.so"))
  assert libs and (INPLACE_LIBS / "build_info.json").exists(), (
      f"{INPLACE_LIBS} holds no in-place op libraries: scripts/install.sh "
      "puts them there (or `python setup.py build_ext --inplace`)")
  return libs


def test_checkout_imports_its_own_tree_and_loads_its_ops(inplace_libs):
  del inplace_libs
  report = _report(_run(pyproc.python("-c", _CHECK), cwd=REPO_ROOT))
  assert Path(report["file"]).resolve() == REPO_ROOT / PKG / "__init__.py"
  assert report["rows"] == [[1.0, 2.0], [1.5, 1.5]]


def test_demo_runs_from_the_repository_root(inplace_libs, tmp_path):
  del inplace_libs
  out = tmp_path / "out"
  _run(pyproc.python("-m", f"{PKG}.demo", "--users", "60", "--movies",
                     "80", "--ratings", "2000", "--retrieval-epochs", "1",
                     "--ranking-epochs", "1", "--batch-size", "256",
                     "--show-users", "1", "--quiet", "--out", str(out)), cwd=REPO_ROOT)
  metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
  assert metrics and (out / "retrieval").is_dir()


def _tracked_copy(dest):
  """The checkout's files that git does not ignore, copied to `dest`."""
  files = _run(["git", "ls-files", "-z", "--cached", "--others",
                "--exclude-standard"], cwd=REPO_ROOT).split("\0")
  for name in filter(None, files):
    src = REPO_ROOT / name
    if src.is_file():
      (dest / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(src, dest / name)


def test_editable_install_runs_the_source_tree(inplace_libs, tmp_path):
  if shutil.which("git") is None:
    pytest.skip("git is not installed")
  src = tmp_path / "src"
  _tracked_copy(src)
  (src / PKG / "_libs").mkdir(exist_ok=True)
  for lib in inplace_libs + [INPLACE_LIBS / "build_info.json"]:
    shutil.copy2(lib, src / PKG / "_libs" / lib.name)
  venv = tmp_path / "venv"
  _run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
       cwd=tmp_path)
  python = venv / "bin" / "python"
  purelib = _run([str(python), "-c", "import sysconfig; "
                  "print(sysconfig.get_paths()['purelib'])"],
                 cwd=tmp_path).strip()
  # This interpreter's packages (TensorFlow, ...) without the installed
  # package, which would otherwise win over the editable finder.
  parent = Path(sysconfig.get_paths()["purelib"])
  visible = tmp_path / "parent_site"
  visible.mkdir()
  for entry in parent.iterdir():
    if not entry.name.startswith(PKG):
      (visible / entry.name).symlink_to(entry)
  Path(purelib, "_tfra_test_parent_env.pth").write_text(f"{visible}\n")
  _run([sys.executable, "-m", "pip", "--python", str(python), "install",
        "-q", "--disable-pip-version-check", "--no-build-isolation",
        "--no-deps", "-e", str(src)], cwd=tmp_path,
       env=dict(ENV, TFRA_SKIP_NATIVE_BUILD="1"))
  report = _report(_run([str(python), "-c", _CHECK], cwd=tmp_path))
  assert Path(report["file"]).resolve() == src / PKG / "__init__.py"
  assert report["rows"] == [[1.0, 2.0], [1.5, 1.5]]
