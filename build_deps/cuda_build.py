"""The CUDA part of the pip build (setup.py): whether to build the GPU table
backend, where nvcc and the static CUDA runtime are, and the nvcc command.

TFRA_CUDA=1 requires the CUDA build (an error if nvcc is missing), TFRA_CUDA=0
skips it, and unset it is built when nvcc is found and the installed
TensorFlow is a CUDA build (`tensorflow`, not `tensorflow-cpu`). The CUDA
sources include no TensorFlow header; the op library's C++ sources see
-DTFRA_WITH_CUDA=1 and register their kernels on DEVICE_GPU too. The CUDA
runtime is linked statically (libcudart_static.a), so the library needs only
a driver new enough for the toolkit, whatever CUDA runtime TensorFlow's own
wheel ships (TF 2.21's GPU wheels use CUDA 12).
"""

import os
import shutil

# Relative to the repository root.
CUDA_SOURCES = ["cc/core/gpu/gpu_hash_table.cu", "cc/core/gpu/gpu_batch.cu"]
CUDA_CC_SOURCES = ["cc/core/gpu/gpu_backend.cc"]
# A100 and H100/H200 machine code, plus PTX for newer GPUs to JIT.
ARCH_FLAGS = ["-gencode", "arch=compute_80,code=sm_80",
              "-gencode", "arch=compute_90,code=[sm_90,compute_90]"]


class Toolkit:
  """nvcc and the static CUDA runtime of one CUDA installation."""

  def __init__(self, nvcc, cudart_static):
    self.nvcc = nvcc
    self.cudart_static = cudart_static

  def __repr__(self):
    return f"Toolkit(nvcc={self.nvcc!r}, cudart_static={self.cudart_static!r})"


def find_toolkit(environ=None):
  """The CUDA toolkit ($CUDA_HOME, $CUDA_PATH, nvcc on PATH, or
  /usr/local/cuda), or None when nvcc or libcudart_static.a is missing."""
  environ = os.environ if environ is None else environ
  roots = [environ.get("CUDA_HOME"), environ.get("CUDA_PATH"),
           "/usr/local/cuda"]
  nvcc = None
  for root in roots:
    if root and os.path.exists(os.path.join(root, "bin", "nvcc")):
      nvcc = os.path.join(root, "bin", "nvcc")
      break
  nvcc = nvcc or shutil.which("nvcc", path=environ.get("PATH"))
  if nvcc is None:
    return None
  for root in [r for r in roots if r] + [
      os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))]:
    for lib in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib")):
      static = os.path.join(root, lib, "libcudart_static.a")
      if os.path.exists(static):
        return Toolkit(nvcc, static)
  return None


def wanted(mode, tf_built_with_cuda, toolkit):
  """Whether to build the CUDA sources.

  Args:
    mode: TFRA_CUDA's value: "1", "0", or "" / "auto".
    tf_built_with_cuda: `tf.test.is_built_with_cuda()`.
    toolkit: `find_toolkit()`'s result.

  Returns:
    True or False.

  Raises:
    RuntimeError: mode "1" without a toolkit, or an unknown mode.
  """
  if mode == "0":
    return False
  if mode == "1":
    if toolkit is None:
      raise RuntimeError(
          "TFRA_CUDA=1 but no CUDA toolkit was found (nvcc and "
          "libcudart_static.a under $CUDA_HOME, $CUDA_PATH or /usr/local/cuda)")
    return True
  if mode in ("", "auto"):
    return toolkit is not None and tf_built_with_cuda
  raise RuntimeError(f"TFRA_CUDA must be 0, 1 or auto, got {mode!r}")


def nvcc_command(toolkit, root, tf_cflags, source, obj):
  """The nvcc command compiling `source` (relative to root) to `obj`: C++17,
  position-independent, TF's -D flags (the C++ ABI must match the C++
  sources'), sm_80 and sm_90."""
  defines = [f for f in tf_cflags if f.startswith("-D")]
  return [toolkit.nvcc, "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
          f"-I{root}", *defines, *ARCH_FLAGS, "-c", source, "-o", obj]


def link_flags(toolkit):
  """What the op library links for its CUDA objects."""
  return [toolkit.cudart_static, "-ldl", "-lrt", "-lpthread"]
