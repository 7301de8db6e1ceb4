"""Builds the TF-free CUDA table core (cc/core/gpu) and runs its tests.

Every .cu file under cc/core/gpu compiles for sm_80 and sm_90 with nvcc
(the CUDA runtime linked statically, as cc/core/gpu/CMakeLists.txt does), so
a build break shows up on machines without a GPU. The host-reference test
binary and a small benchmark run then; without a usable GPU they exit 77
and the tests skip with the CUDA error as the reason. Compiles go through
ccache when it is installed. The pybind11 module over the same core
(cc/core/gpu/python) is built too: it must import and report the missing
GPU cleanly here, and passes its host-reference tests where a GPU (and
CuPy or PyTorch) exists.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPU_DIR = os.path.join(ROOT, "cc", "core", "gpu")
CORE = [os.path.join(GPU_DIR, "gpu_hash_table.cu"),
        os.path.join(GPU_DIR, "gpu_batch.cu")]
MAINS = {
    "test": os.path.join(GPU_DIR, "tests", "gpu_table_test.cu"),
    "batch_test": os.path.join(GPU_DIR, "tests", "gpu_batch_test.cu"),
    "bench": os.path.join(GPU_DIR, "bench", "gpu_table_bench.cu"),
}
ARCHS = ["-gencode", "arch=compute_80,code=sm_80",
         "-gencode", "arch=compute_90,code=sm_90"]
NVCC = shutil.which("nvcc") or (
    "/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc")
    else None)

pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")


def _compile(source, obj):
  compiler = (["ccache"] if shutil.which("ccache") else []) + [NVCC]
  env = dict(os.environ, CCACHE_BASEDIR=ROOT, CCACHE_NOHASHDIR="1")
  return subprocess.Popen(
      compiler + ["-std=c++17", "-O3", f"-I{ROOT}", *ARCHS,
                  "-Xcompiler", "-fPIC", "-c",
                  os.path.relpath(source, ROOT), "-o", obj],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      text=True)


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
  """{name: path} for MAINS: every .cu compiled, then linked."""
  out = tmp_path_factory.mktemp("gpu_core")
  sources = sorted(glob.glob(os.path.join(GPU_DIR, "**", "*.cu"),
                             recursive=True))
  assert set(MAINS.values()) | set(CORE) <= set(sources), sources
  objects = {s: str(out / (os.path.basename(s) + ".o")) for s in sources}
  procs = [(s, _compile(s, objects[s])) for s in sources]
  for source, proc in procs:
    log, _ = proc.communicate()
    assert proc.returncode == 0, f"nvcc {source} failed:\n{log[-4000:]}"
  built = {}
  for name, main in MAINS.items():
    binary = str(out / f"gpu_table_{name}")
    subprocess.run([NVCC, *ARCHS, "-cudart", "static",
                    *[objects[c] for c in CORE], objects[main], "-o", binary],
                   check=True, cwd=ROOT)
    built[name] = binary
  built["objects"] = [objects[c] for c in CORE]
  return built


MODULE_SRC = os.path.join(GPU_DIR, "python", "gpu_table_module.cc")
MODULE_TEST = os.path.join(GPU_DIR, "python", "test_gpu_table_module.py")


@pytest.fixture(scope="module")
def module_dir(binaries, tmp_path_factory):
  """A directory holding the tfra_gpu pybind11 module, linked from the same
  core objects with the static CUDA runtime."""
  pybind11 = pytest.importorskip("pybind11")
  out = tmp_path_factory.mktemp("gpu_module")
  obj = str(out / "gpu_table_module.o")
  compiler = (["ccache"] if shutil.which("ccache") else []) + ["g++"]
  env = dict(os.environ, CCACHE_BASEDIR=ROOT, CCACHE_NOHASHDIR="1")
  subprocess.run(compiler + [
      "-std=c++17", "-O2", "-fPIC", f"-I{ROOT}",
      f"-I{sysconfig.get_paths()['include']}", f"-I{pybind11.get_include()}",
      "-c", os.path.relpath(MODULE_SRC, ROOT), "-o", obj],
      check=True, cwd=ROOT, env=env)
  module = str(out / ("tfra_gpu" + sysconfig.get_config_var("EXT_SUFFIX")))
  subprocess.run([NVCC, *ARCHS, "-shared", "-cudart", "static", obj,
                  *binaries["objects"], "-o", module], check=True, cwd=ROOT)
  return str(out)


def test_the_python_module_imports_and_reports_a_missing_gpu(module_dir):
  """Without a GPU the module still imports, says why, and a table raises
  RuntimeError (not a crash)."""
  probe = ("import json, tfra_gpu\n"
           "ok, why = tfra_gpu.gpu_available()\n"
           "err = ''\n"
           "if not ok:\n"
           "  try:\n"
           "    tfra_gpu.Table(dim=4)\n"
           "  except RuntimeError as e:\n"
           "    err = str(e)\n"
           "print(json.dumps([ok, why, err]))\n")
  proc = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                        text=True, timeout=120, cwd=module_dir, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  ok, why, err = json.loads(proc.stdout.strip().splitlines()[-1])
  if ok:
    assert why == "" and err == ""
  else:
    assert why and err.startswith("gpu table"), (why, err)


@pytest.mark.needs_gpu
def test_the_python_module_matches_the_host_reference(module_dir):
  env = dict(os.environ, PYTHONPATH=module_dir)
  proc = subprocess.run([sys.executable, MODULE_TEST], capture_output=True,
                        text=True, timeout=600, env=env, check=False)
  if proc.returncode == 77:
    pytest.skip(f"needs_gpu: {proc.stdout.strip()}")
  print(proc.stdout)
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
  assert "PASSED" in proc.stdout


def _run_or_skip(args):
  proc = subprocess.run(args, capture_output=True, text=True, timeout=600,
                        check=False)
  if proc.returncode == 77:
    pytest.skip(f"needs_gpu: {proc.stdout.strip()}")
  return proc


def test_every_cu_file_compiles_for_sm80_and_sm90(binaries):
  """The fixture compiled every .cu for both targets; where cuobjdump is
  installed, the binaries are also checked to hold both."""
  cuobjdump = shutil.which("cuobjdump") or next(
      (p for p in ["/usr/local/cuda/bin/cuobjdump"] if os.path.exists(p)), None)
  for binary in (binaries[name] for name in MAINS):
    assert os.path.getsize(binary) > 0
    if cuobjdump is not None:
      listing = subprocess.run([cuobjdump, "--list-elf", binary],
                               capture_output=True, text=True, check=True)
      assert "sm_80" in listing.stdout and "sm_90" in listing.stdout, \
          listing.stdout


@pytest.mark.needs_gpu
def test_gpu_table_matches_the_host_reference(binaries):
  proc = _run_or_skip([binaries["test"]])
  print(proc.stdout)
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
  assert "PASSED" in proc.stdout


@pytest.mark.needs_gpu
def test_gpu_batch_ops_match_the_host_reference(binaries):
  """UniqueKeys and SegmentSumRows (the device side of TFRA>Unique and
  TFRA>SegmentSumRows) against host references."""
  proc = _run_or_skip([binaries["batch_test"]])
  print(proc.stdout)
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
  assert "PASSED" in proc.stdout


@pytest.mark.needs_gpu
def test_gpu_benchmark_runs_at_small_size(binaries):
  proc = _run_or_skip([binaries["bench"], "--capacity", str(1 << 20),
                       "--batch", str(1 << 16), "--dims", "8,64",
                       "--repeats", "2"])
  assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
  rows = [line.split() for line in proc.stdout.splitlines()
          if line.strip() and line.split()[0].isdigit()]
  assert len(rows) == 4, proc.stdout  # 2 dims x 2 load factors
  assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows), proc.stdout
