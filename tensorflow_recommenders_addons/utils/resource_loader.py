"""Lazy, version-checked loading of the package's compiled op libraries.

Each op library (`_libs/*.so`) is opened on first use, not at import time, so
`import tensorflow_recommenders_addons` stays cheap. Before the first library
is opened the loader compares the TensorFlow version recorded at build time
(`_libs/build_info.json`, written by both the pip and the Bazel build) with
the running TensorFlow and refuses a mismatch with an error naming both. A
failure is raised once and then re-raised unchanged on every later use.
"""

import json
import os
import threading

import tensorflow as tf

from tensorflow_recommenders_addons import version

LIB_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_libs")
BUILD_INFO_PATH = os.path.join(LIB_DIR, "build_info.json")

REBUILD_HINT = (
    "Rebuild the op libraries against the installed TensorFlow: from the "
    "source tree run `pip install --no-build-isolation --force-reinstall "
    "--no-deps .` (or `python configure.py && bazel build //:build_pip_pkg`), "
    "or install the TensorFlow release the package was built for.")


class OpLibraryError(RuntimeError):
  """An op library is missing, was built for another TensorFlow, or failed to load."""


def _major_minor(v):
  return ".".join(str(v).split(".")[:2])


def read_build_info(path=None):
  """Returns the build record of the op libraries.

  Args:
    path: Path of `build_info.json`; defaults to the package's
      `_libs/build_info.json`.

  Returns:
    A dict with at least `tf_version`, `cxx11_abi`, `cuda` and `builder`.

  Raises:
    OpLibraryError: the record is missing or unreadable (the package was not
      built, e.g. imported from a source tree without compiling).

  Example:
    >>> from tensorflow_recommenders_addons.utils import resource_loader
    >>> sorted(resource_loader.read_build_info())[:2]
    ['builder', 'cuda']
  """
  path = BUILD_INFO_PATH if path is None else path
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise OpLibraryError(
        f"tensorflow_recommenders_addons op libraries are not built "
        f"({path} is missing or unreadable: {e}). Install the package with "
        f"`pip install .` so that they are compiled.") from e


def check_tf_version(build_info, running_version=None):
  """Refuses op libraries built for another TensorFlow minor release.

  Args:
    build_info: The dict returned by `read_build_info`.
    running_version: The TensorFlow version to check against; defaults to
      the running `tf.__version__`.

  Raises:
    OpLibraryError: the major.minor versions differ. The message names both
      versions and how to rebuild.

  Example:
    >>> from tensorflow_recommenders_addons.utils import resource_loader
    >>> resource_loader.check_tf_version({"tf_version": "2.21.0"}, "2.21.3")
  """
  running = running_version or tf.__version__
  built = str(build_info.get("tf_version", "unknown"))
  if _major_minor(built) != _major_minor(running):
    raise OpLibraryError(
        f"tensorflow_recommenders_addons op libraries were built against "
        f"TensorFlow {built}, but TensorFlow {running} is running "
        f"(this release supports TensorFlow "
        f"{version.SUPPORTED_TF_MAJOR_MINOR}.x). {REBUILD_HINT}")


def check_cxx11_abi(build_info, running_abi=None):
  """Refuses op libraries built with another C++ ABI than TensorFlow's.

  A library compiled with `-D_GLIBCXX_USE_CXX11_ABI=0` passes std::string
  objects TensorFlow (built with 1) reads with another layout: it loads, then
  crashes or corrupts memory. The flag recorded at build time must match
  `tf.sysconfig.CXX11_ABI_FLAG`.

  Args:
    build_info: The dict returned by `read_build_info`.
    running_abi: The running TensorFlow's flag; defaults to
      `tf.sysconfig.CXX11_ABI_FLAG`.

  Raises:
    OpLibraryError: the flags differ (a record without the flag passes).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.utils import resource_loader
    >>> resource_loader.check_cxx11_abi(
    ...     {"cxx11_abi": tf.sysconfig.CXX11_ABI_FLAG})
  """
  if "cxx11_abi" not in build_info:
    return
  running = tf.sysconfig.CXX11_ABI_FLAG if running_abi is None else running_abi
  built = int(build_info["cxx11_abi"])
  if built != int(running):
    raise OpLibraryError(
        f"tensorflow_recommenders_addons op libraries were built with "
        f"-D_GLIBCXX_USE_CXX11_ABI={built}, but the running TensorFlow uses "
        f"{int(running)}; loading them would corrupt strings passed between "
        f"the two. {REBUILD_HINT}")


class LazySO:
  """An op library opened on first access to `.ops`.

  Args:
    name: File name of the library inside `lib_dir`.
    lib_dir: Folder holding the library and the `build_info.json` it is
      checked against; defaults to the package's `_libs` folder.

  Example:
    >>> from tensorflow_recommenders_addons.utils.resource_loader import LazySO
    >>> lib = LazySO("_cuckoo_hashtable_ops.so")
    >>> hasattr(lib.ops, "tfra_hash_table_find")
    True
  """

  def __init__(self, name, lib_dir=None):
    lib_dir = LIB_DIR if lib_dir is None else lib_dir
    self.name = name
    self.path = os.path.join(lib_dir, name)
    self.build_info_path = os.path.join(lib_dir, "build_info.json")
    self._ops = None
    self._error = None
    self._lock = threading.Lock()

  @property
  def ops(self):
    """The loaded op module (raises `OpLibraryError` if it cannot load)."""
    if self._ops is None:
      with self._lock:
        if self._error is not None:
          raise self._error
        if self._ops is None:
          try:
            self._ops = self._load()
          except OpLibraryError as e:
            self._error = e
            raise
    return self._ops

  def _load(self):
    info = read_build_info(self.build_info_path)
    check_tf_version(info)
    check_cxx11_abi(info)
    if not os.path.exists(self.path):
      raise OpLibraryError(
          f"op library {self.path} is missing from the installed package. "
          f"{REBUILD_HINT}")
    try:
      return tf.load_op_library(self.path)
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError,
            OSError) as e:
      raise OpLibraryError(
          f"op library {self.path} failed to load into TensorFlow "
          f"{tf.__version__}: {e}. {REBUILD_HINT}") from e


# Every op library of the package, by file name. register_all() loads these.
LIBRARIES = {
    "_cuckoo_hashtable_ops.so": LazySO("_cuckoo_hashtable_ops.so"),
}
