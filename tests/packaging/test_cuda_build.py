"""The pip build's CUDA switch (build_deps/cuda_build.py, setup.py).

TFRA_CUDA=1 compiles the GPU table backend with nvcc into the op library
(against this TensorFlow's headers, which the CPU and CUDA wheels share)
and registers the table kernels on DEVICE_GPU as well; the library still
loads where no GPU exists and records "cuda": true. The switch's decision
table is checked without building.
"""

import json
import os
import subprocess
import sys

import pytest

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build_deps"))
import cuda_build  # pylint: disable=wrong-import-position,import-error
sys.path.pop(0)

LIB = "tensorflow_recommenders_addons/_libs/_cuckoo_hashtable_ops.so"
INFO = "tensorflow_recommenders_addons/_libs/build_info.json"

KERNEL_DEVICES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "kernel_devices.py")


@pytest.mark.parametrize("mode,tf_cuda,toolkit,want", [
    ("0", True, "tk", False),
    ("1", False, "tk", True),
    ("", True, "tk", True),
    ("auto", False, "tk", False),
    ("auto", True, None, False),
])
def test_the_switch_decides_as_documented(mode, tf_cuda, toolkit, want):
  tk = cuda_build.Toolkit("nvcc", "libcudart_static.a") if toolkit else None
  assert cuda_build.wanted(mode, tf_cuda, tk) is want


def test_a_required_cuda_build_without_toolkit_names_what_is_missing():
  with pytest.raises(RuntimeError, match="TFRA_CUDA=1 but no CUDA toolkit"):
    cuda_build.wanted("1", True, None)
  with pytest.raises(RuntimeError, match="TFRA_CUDA must be 0, 1 or auto"):
    cuda_build.wanted("yes", True, None)


@pytest.fixture(scope="module")
def cuda_lib(tmp_path_factory):
  """The op library built with TFRA_CUDA=1 into a temporary build dir."""
  if cuda_build.find_toolkit() is None:
    pytest.skip("no CUDA toolkit (nvcc, libcudart_static.a) here")
  out = tmp_path_factory.mktemp("cuda_build")
  env = dict(os.environ, TFRA_CUDA="1", CCACHE_BASEDIR=ROOT,
             CCACHE_NOHASHDIR="1")
  proc = subprocess.run(
      [sys.executable, "setup.py", "-q", "build_ext", "-b", str(out / "lib"),
       "-t", str(out / "temp")],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
      check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
  return out / "lib"


def test_the_cuda_build_records_cuda(cuda_lib):
  info = json.loads((cuda_lib / INFO).read_text())
  assert info["cuda"] is True, info


def test_the_cuda_build_registers_the_table_and_batch_kernels_on_gpu_too(cuda_lib):
  proc = subprocess.run(pyproc.python(KERNEL_DEVICES, str(cuda_lib / LIB)),
                        capture_output=True, text=True, timeout=300,
                        check=False,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-4000:]
  devices = json.loads(proc.stdout.strip().splitlines()[-1])
  for op, types in devices.items():
    assert types == ["CPU", "GPU"], (op, types)
