"""Build script: compiles the op libraries against the installed TensorFlow.

`pip install .` / `pip wheel .` compile every library in OP_LIBRARIES with
exactly `tf.sysconfig.get_compile_flags()` and link flags, in parallel (one
job per core, through ccache when it is installed), into
`tensorflow_recommenders_addons/_libs/`, and record the TensorFlow version in
`_libs/build_info.json` for the loader's version check.

With TFRA_SKIP_NATIVE_BUILD=1 nothing is compiled and the .so/.json files
already under `_libs/` are packaged (the Bazel build's build_pip_pkg uses
this).

CUDA (build_deps/cuda_build.py): with TFRA_CUDA=1, or unset when nvcc is
found and TensorFlow is a CUDA build, the GPU table backend (cc/core/gpu)
is compiled with nvcc into the same library, whose kernels then also
register on DEVICE_GPU; TFRA_CUDA=0 skips it. build_info.json records it.
"""

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
PKG = "tensorflow_recommenders_addons"
sys.path.insert(0, os.path.join(ROOT, "build_deps"))
import cuda_build  # pylint: disable=wrong-import-position
sys.path.pop(0)
SKIP_NATIVE = os.environ.get("TFRA_SKIP_NATIVE_BUILD") == "1"

# Op library -> its C++ sources (globs relative to the repo root). The Bazel
# BUILD files list the same folders.
OP_LIBRARIES = {
    "_cuckoo_hashtable_ops": ["cc/kernels/*.cc", "cc/ops/*.cc", "cc/core/*.cc"],
}


def _version_scope():
  scope = {}
  with open(os.path.join(ROOT, PKG, "version.py"), encoding="utf-8") as f:
    exec(f.read(), scope)  # pylint: disable=exec-used
  return scope


VERSION = _version_scope()


def _built_tf_distribution():
  """The distribution that provides the TensorFlow the op libraries are
  built against: `tensorflow-cpu`, `tensorflow` (CUDA wheels), or another
  build of it; None when none is installed (an sdist, no compiling)."""
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  for dist in ("tensorflow-cpu", "tensorflow", "tensorflow-intel",
               "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu"):
    try:
      metadata.version(dist)
      return dist
    except metadata.PackageNotFoundError:
      continue
  return None


def _requirements():
  """install_requires and extras: the wheel requires the TensorFlow
  distribution it was built against, in the supported range (version.py);
  the extra of that flavour (`[cpu]` for tensorflow-cpu, `[gpu]` for
  tensorflow with its CUDA libraries) names it explicitly."""
  rng = VERSION["TF_VERSION_RANGE"]
  dist = _built_tf_distribution() or "tensorflow"
  requires = ["numpy", dist + rng]
  if dist == "tensorflow-cpu":
    extras = {"cpu": ["tensorflow-cpu" + rng]}
  else:
    extras = {"gpu": ["tensorflow[and-cuda]" + rng]}
  return requires, extras


class OpLibraryBuild(build_ext):
  """Builds each op library as a plain shared object with TF's flags."""

  def get_ext_filename(self, fullname):
    return os.path.join(*fullname.split(".")) + ".so"

  def build_extension(self, ext):
    out = self.get_ext_fullpath(ext.name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if SKIP_NATIVE:
      prebuilt = os.path.join(ROOT, PKG, "_libs", os.path.basename(out))
      if not os.path.exists(prebuilt):
        raise RuntimeError(f"TFRA_SKIP_NATIVE_BUILD=1 but {prebuilt} is missing")
      if os.path.abspath(prebuilt) != os.path.abspath(out):
        shutil.copyfile(prebuilt, out)
      self._copy_build_info(os.path.dirname(out))
      return
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    cflags = tf.sysconfig.get_compile_flags()
    lflags = tf.sysconfig.get_link_flags()
    toolkit = cuda_build.find_toolkit()
    cuda = cuda_build.wanted(os.environ.get("TFRA_CUDA", "auto"),
                             tf.test.is_built_with_cuda(), toolkit)
    sources = list(ext.sources)
    cuda_sources = []
    if cuda:
      sources += cuda_build.CUDA_CC_SOURCES
      cuda_sources = list(cuda_build.CUDA_SOURCES)
      lflags = lflags + cuda_build.link_flags(toolkit)
    cxx = os.environ.get("CXX", "g++").split()
    if shutil.which("ccache") and "ccache" not in cxx[0]:
      cxx = ["ccache"] + cxx
    objdir = os.path.join(self.build_temp, ext.name)
    os.makedirs(objdir, exist_ok=True)
    common = ["-fPIC", "-O2", "-DNDEBUG", "-Wno-deprecated-declarations",
              f"-I{ROOT}"] + cflags

    # ccache keyed on paths relative to the checkout (TF's headers sit in
    # its .venv), so a fresh clone of the same sources hits the cache.
    env = dict(os.environ)
    env.setdefault("CCACHE_BASEDIR", ROOT)
    env.setdefault("CCACHE_NOHASHDIR", "1")

    def compile_one(src):
      obj = os.path.abspath(os.path.join(objdir, os.path.basename(src) + ".o"))
      if src.endswith(".cu"):
        cmd = cuda_build.nvcc_command(toolkit, ROOT, cflags, src, obj)
        if cxx[0] == "ccache":
          cmd = ["ccache"] + cmd
      else:
        # Only the kernels (and the GPU adapter) change with CUDA, so the
        # other objects keep the CPU build's flags and ccache entries.
        flags = common + (["-DTFRA_WITH_CUDA=1"] if cuda and src.startswith(
            ("cc/kernels/", "cc/core/gpu/")) else [])
        cmd = cxx + flags + ["-c", src, "-o", obj]
      subprocess.run(cmd, check=True, cwd=ROOT, env=env)
      return obj

    jobs = max(1, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
      # The nvcc compiles first: they take longest.
      objects = list(pool.map(compile_one, cuda_sources + sources))
    subprocess.run(cxx[-1:] + ["-shared"] + objects + ["-o", out] + lflags +
                   ["-Wl,-O1"], check=True)
    self._write_build_info(os.path.dirname(out), cuda=bool(cuda_sources))

  def copy_extensions_to_source(self):
    # In-place builds (`pip install -e .`, `setup.py build_ext --inplace`,
    # scripts/install.sh) put the libraries and their build record into the
    # source tree, so code run from a checkout loads them.
    libdir = os.path.join(ROOT, PKG, "_libs")
    os.makedirs(libdir, exist_ok=True)
    super().copy_extensions_to_source()
    built = os.path.join(self.build_lib, PKG, "_libs", "build_info.json")
    if os.path.exists(built) and os.path.abspath(built) != os.path.abspath(
        os.path.join(libdir, "build_info.json")):
      shutil.copyfile(built, os.path.join(libdir, "build_info.json"))

  def _copy_build_info(self, libdir):
    src = os.path.join(ROOT, PKG, "_libs", "build_info.json")
    if not os.path.exists(src):
      raise RuntimeError(f"TFRA_SKIP_NATIVE_BUILD=1 but {src} is missing")
    if os.path.abspath(src) != os.path.abspath(os.path.join(libdir, "build_info.json")):
      shutil.copyfile(src, os.path.join(libdir, "build_info.json"))

  def _write_build_info(self, libdir, cuda=False):
    sys.path.insert(0, os.path.join(ROOT, "build_deps"))
    try:
      from build_info import build_info  # pylint: disable=import-outside-toplevel
    finally:
      sys.path.pop(0)
    with open(os.path.join(libdir, "build_info.json"), "w", encoding="utf-8") as f:
      json.dump(build_info("pip", cuda=cuda), f, indent=2, sort_keys=True)


REQUIRES, EXTRAS = _requirements()


def _extensions():
  exts = []
  for lib, patterns in OP_LIBRARIES.items():
    sources = sorted(s for p in patterns for s in glob.glob(os.path.join(ROOT, p)))
    exts.append(Extension(f"{PKG}._libs.{lib}",
                          [os.path.relpath(s, ROOT) for s in sources]))
  return exts


setup(
    name="tensorflow-recommenders-addons",
    version=VERSION["__version__"],
    description="Dynamic embeddings (hash-table backed) for TensorFlow recommenders",
    long_description=open(os.path.join(ROOT, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.9",
    packages=find_packages(include=[PKG, PKG + ".*"]),
    package_data={PKG: ["_libs/build_info.json"]},
    ext_modules=_extensions(),
    cmdclass={"build_ext": OpLibraryBuild},
    install_requires=REQUIRES,
    extras_require=EXTRAS,
    # The demo (tensorflow_recommenders_addons/demo); it also needs tf_keras
    # and tensorflow-recommenders (requirements-keras.txt).
    entry_points={"console_scripts": [
        f"tfra-demo = {PKG}.demo.cli:main",
    ]},
    zip_safe=False,
)
