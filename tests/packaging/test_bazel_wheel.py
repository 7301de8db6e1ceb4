"""The Bazel build makes a wheel that installs into a new venv and loads.

Steps: copy the working tree (tracked and untracked files that git does not
ignore) to build/bazel-wheel-test/workspace, run `python configure.py` with
this interpreter (through the tests' fork server), `bazel build
//:build_pip_pkg` and `./bazel-bin/build_pip_pkg <tmp>/artifacts`, then
`pip install --no-deps` the wheel into a new venv that sees this
interpreter's TensorFlow and load the ops there. With a CUDA toolkit
installed, `python configure.py --cuda` and a Bazel build of the op library
follow in the same copy: it must record "cuda": true and register the GPU
kernels (nothing runs on a GPU). One Bazel server serves both builds.

The copy and Bazel's output root stay at fixed paths under the git-ignored
build/ (also in .bazelignore), so a repeat run reuses Bazel's output base and
rebuilds only what changed; compile and link outputs also go to a disk cache
shared by every checkout on the machine (~/.cache/tfra/bazel-disk-cache,
keyed by input contents), so a fresh clone of unchanged sources does not
recompile. Nothing is downloaded.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from packaging.requirements import Requirement

from tensorflow_recommenders_addons import version

import pyproc

REPO_ROOT = Path(__file__).resolve().parents[2]
WORK_DIR = REPO_ROOT / "build" / "bazel-wheel-test"
WORKSPACE_COPY = WORK_DIR / "workspace"
OUTPUT_USER_ROOT = WORK_DIR / "output_user_root"
DISK_CACHE = Path(os.environ.get("XDG_CACHE_HOME",
                                 Path.home() / ".cache")) / "tfra" / "bazel-disk-cache"
BAZEL = shutil.which("bazel")
OP_NAME = "TFRA>HashTableOfTensors"
LIB = "tensorflow_recommenders_addons/_libs/_cuckoo_hashtable_ops.so"
BUILD_INFO = "tensorflow_recommenders_addons/_libs/build_info.json"
BUILD_TIMEOUT_S = 3600

pytestmark = [
    pytest.mark.bazel,
    pytest.mark.skipif(
        BAZEL is None,
        reason="bazel is not on PATH (Debian: apt install bazel-bootstrap)"),
]

# Runs inside the new venv; its last stdout line is a JSON report.
_CHECK_SCRIPT = textwrap.dedent("""
    import json
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tensorflow_recommenders_addons as tfra

    registered = tfra.register_all()
    # Private module: namespaced ops ("TFRA>...") have no tf.raw_ops entry.
    from tensorflow.python.framework import op_def_registry

    with open("/proc/self/maps") as maps:
      loaded = sorted({line.split()[-1] for line in maps
                       if line.rstrip().endswith(".so") and "/_libs/" in line})
    print(json.dumps({
        "tfra_file": tfra.__file__,
        "registered": repr(registered),
        "loaded_libs": loaded,
        "op_registered": op_def_registry.get(%r) is not None,
    }))
    """) % OP_NAME


def _run(args, cwd, timeout=BUILD_TIMEOUT_S, env=None):
  """Runs a command; fails the test with its output if it exits non-zero."""
  args = [str(arg) for arg in args]
  result = subprocess.run(args, cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
  if result.returncode != 0:
    pytest.fail(f"{' '.join(args)} exited with {result.returncode}\n"
                f"--- stdout\n{result.stdout[-5000:]}\n"
                f"--- stderr\n{result.stderr[-5000:]}")
  return result.stdout


def _source_files():
  """Repo-relative paths of tracked and untracked, not ignored files."""
  listing = _run(["git", "ls-files", "-z", "--cached", "--others",
                  "--exclude-standard"], cwd=REPO_ROOT, timeout=120)
  return [Path(name) for name in listing.split("\0") if name]


def _copy_workspace():
  """Replaces WORKSPACE_COPY with the current sources (same path each run)."""
  if WORKSPACE_COPY.exists():
    shutil.rmtree(WORKSPACE_COPY)
  for relative in _source_files():
    source = REPO_ROOT / relative
    if not source.is_file():  # deleted but still tracked
      continue
    target = WORKSPACE_COPY / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _bazel(*args):
  return [BAZEL, f"--output_user_root={OUTPUT_USER_ROOT}", *args]


def _bazel_build(*targets):
  """Builds `targets` in the copy, compile outputs from the disk cache."""
  _run(_bazel("build", f"--disk_cache={DISK_CACHE}", *targets),
       cwd=WORKSPACE_COPY)


def _build_info_of(wheel):
  with zipfile.ZipFile(wheel) as archive:
    return json.loads(archive.read(BUILD_INFO))


def _configure(*args):
  """Runs configure.py in the copy with this interpreter (fork server)."""
  _run(pyproc.python("configure.py", *args), cwd=WORKSPACE_COPY)


@pytest.fixture(scope="module")
def workspace():
  """The copy of the working tree; its Bazel server, which the CPU and the
  CUDA build share, is shut down after the module's tests."""
  _copy_workspace()
  yield WORKSPACE_COPY
  subprocess.run(_bazel("shutdown"), cwd=str(WORKSPACE_COPY), timeout=120,
                 check=False)


@pytest.fixture(scope="module")
def wheel(workspace, tmp_path_factory):  # pylint: disable=redefined-outer-name
  """Builds the wheel with Bazel from a copy of the working tree."""
  _configure()
  _bazel_build("//:build_pip_pkg")
  artifacts = tmp_path_factory.mktemp("bazel_wheel") / "artifacts"
  stdout = _run(["./bazel-bin/build_pip_pkg", artifacts], cwd=workspace)
  path = Path(stdout.strip().splitlines()[-1])
  assert path.is_file() and path.parent == artifacts, stdout
  return path


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory):
  """A new venv with the wheel installed that sees this TensorFlow."""
  venv_dir = tmp_path_factory.mktemp("bazel_wheel_venv") / "venv"
  # No pip of its own (ensurepip takes seconds): this interpreter's pip
  # installs into it (`pip --python`).
  _run([sys.executable, "-m", "venv", "--system-site-packages",
        "--without-pip", venv_dir], cwd=venv_dir.parent, timeout=600)
  python = venv_dir / "bin" / "python"
  # --force-reinstall: the same version in the system site-packages must not
  # make pip skip the install (pip leaves packages outside the venv alone).
  _run([sys.executable, "-m", "pip", "--python", python, "install",
        "--no-deps", "--no-index", "--force-reinstall", wheel], cwd=venv_dir,
       timeout=600)
  if sys.prefix != sys.base_prefix:
    # This interpreter is a venv itself, and --system-site-packages reaches
    # only its base interpreter's packages: append this venv's site-packages
    # to the new venv's path (after its own; written after the install so
    # that pip does not see a copy of the package installed here).
    purelib = _run([python, "-c", "import sysconfig; "
                    "print(sysconfig.get_paths()['purelib'])"], cwd=venv_dir)
    paths = sysconfig.get_paths()
    parent_paths = sorted({paths["purelib"], paths["platlib"]})
    Path(purelib.strip(), "_tfra_test_parent_env.pth").write_text(
        "\n".join(parent_paths) + "\n")
  return python


def test_wheel_holds_the_op_library_and_build_info(wheel):
  with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
  assert LIB in names
  assert BUILD_INFO in names


def test_build_info_describes_the_building_tensorflow(wheel, tmp_path):
  expected = tmp_path / "expected.json"
  _run(pyproc.python(REPO_ROOT / "build_deps" / "build_info.py",
                    "--builder", "bazel", expected), cwd=tmp_path)
  assert _build_info_of(wheel) == json.loads(expected.read_text())


def test_installed_wheel_registers_the_ops_from_its_own_libs(venv_python,
                                                             tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  # An empty cwd: the repository's sources cannot shadow the installed copy.
  stdout = _run([venv_python, "-c", _CHECK_SCRIPT], cwd=tmp_path, env=env,
                timeout=600)
  report = json.loads(stdout.strip().splitlines()[-1])
  print(report)
  venv_prefix = str(venv_python.parent.parent) + os.sep
  assert report["tfra_file"].startswith(venv_prefix)
  assert report["loaded_libs"], "no _libs/*.so is mapped into the process"
  assert all(lib.startswith(venv_prefix) for lib in report["loaded_libs"])
  assert report["op_registered"], f"{OP_NAME} is not registered"


def test_wheel_has_a_manylinux_tag(wheel):
  """auditwheel repair checked every versioned symbol the .so uses."""
  assert re.search(r"-manylinux_2_\d+_x86_64\.whl$", wheel.name), wheel.name


def test_wheel_requires_the_tensorflow_it_was_built_for(wheel, venv_python,
                                                        tmp_path):
  with zipfile.ZipFile(wheel) as archive:
    metadata = archive.read(next(
        n for n in archive.namelist()
        if n.endswith(".dist-info/METADATA"))).decode()
  requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
              if line.startswith("Requires-Dist:")]
  built = _run([sys.executable, "-c", "from importlib import metadata as m\n"
                "for d in ('tensorflow-cpu', 'tensorflow'):\n"
                "  try:\n    m.version(d); print(d); break\n"
                "  except m.PackageNotFoundError: pass"], cwd=tmp_path).strip()
  assert Requirement(built + version.TF_VERSION_RANGE) in {
      Requirement(r) for r in requires}, requires
  # The installed wheel's requirements are met by this TensorFlow: pip
  # check reports nothing about our package (other packages of the parent
  # environment may have their own complaints).
  check = subprocess.run([sys.executable, "-m", "pip", "--python",
                          venv_python, "check"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
  ours = [line for line in check.stdout.splitlines()
          if line.lower().startswith("tensorflow-recommenders-addons")]
  assert not ours, check.stdout


# ---- the CUDA build (python configure.py --cuda) ----

sys.path.insert(0, str(REPO_ROOT / "build_deps"))
import cuda_build  # pylint: disable=wrong-import-position,import-error
sys.path.pop(0)


@pytest.fixture(scope="module")
def cuda_outputs(wheel):  # pylint: disable=unused-argument,redefined-outer-name
  """bazel-bin after `configure.py --cuda` and a build of the op library and
  build_info in the same workspace copy (after the CPU wheel: the objects
  that do not change with CUDA come from the shared disk cache)."""
  if cuda_build.find_toolkit() is None:
    pytest.skip("no CUDA toolkit (nvcc, libcudart_static.a) here")
  _configure("--cuda")
  _bazel_build("//cc:_cuckoo_hashtable_ops.so", "//:build_info")
  return WORKSPACE_COPY / "bazel-bin"


def test_the_bazel_cuda_build_records_cuda(cuda_outputs):  # pylint: disable=redefined-outer-name
  info = json.loads((cuda_outputs / "build_info.json").read_text())
  assert info["cuda"] is True, info
  assert info["builder"] == "bazel", info


def test_the_bazel_cuda_build_registers_the_gpu_kernels(cuda_outputs,  # pylint: disable=redefined-outer-name
                                                        tmp_path):
  lib = cuda_outputs / "cc" / "_cuckoo_hashtable_ops.so"
  stdout = _run(pyproc.python(REPO_ROOT / "tests" / "packaging" /
                              "kernel_devices.py", lib), cwd=tmp_path,
                timeout=300,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  devices = json.loads(stdout.strip().splitlines()[-1])
  for op, types in devices.items():
    assert types == ["CPU", "GPU"], (op, types)
