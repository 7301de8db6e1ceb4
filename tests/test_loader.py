"""The lazy, version-checked op-library loader."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf

import tensorflow_recommenders_addons as tfra
from tensorflow_recommenders_addons.utils import resource_loader
from tensorflow_recommenders_addons.utils.resource_loader import LazySO
from tensorflow_recommenders_addons.utils.resource_loader import OpLibraryError

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LIB = "_cuckoo_hashtable_ops.so"


def write_build_info(lib_dir, tf_version):
  info = {"builder": "pip", "cuda": False, "cxx11_abi": 1,
          "tf_version": tf_version}
  (lib_dir / "build_info.json").write_text(json.dumps(info))


def test_register_all_returns_the_library_paths():
  paths = tfra.register_all()
  assert paths == [lib.path for lib in resource_loader.LIBRARIES.values()]
  assert [os.path.basename(p) for p in paths] == [LIB]
  assert all(os.path.isfile(p) for p in paths)


def test_installed_build_info_matches_running_tensorflow():
  info = resource_loader.read_build_info()
  resource_loader.check_tf_version(info)
  assert info["tf_version"].split(".")[:2] == tf.__version__.split(".")[:2]


def test_check_tf_version_refuses_another_minor_release():
  with pytest.raises(OpLibraryError) as info:
    resource_loader.check_tf_version({"tf_version": "2.15.0"}, "2.21.0")
  message = str(info.value)
  assert "2.15.0" in message and "2.21.0" in message and "Rebuild" in message


@pytest.mark.parametrize("built,running", [("2.21.0", "2.21.3"),
                                           ("2.21.1", "2.21.0rc1")])
def test_check_tf_version_accepts_the_same_minor_release(built, running):
  resource_loader.check_tf_version({"tf_version": built}, running)


def test_check_tf_version_defaults_to_the_running_tensorflow():
  with pytest.raises(OpLibraryError, match=tf.__version__.replace(".", r"\.")):
    resource_loader.check_tf_version({"tf_version": "1.15.0"})


def test_check_tf_version_refuses_a_record_without_version():
  with pytest.raises(OpLibraryError, match="unknown"):
    resource_loader.check_tf_version({}, "2.21.0")


def test_lazy_so_built_for_another_tensorflow_fails_on_ops(tmp_path):
  write_build_info(tmp_path, "2.15.0")
  lib = LazySO(LIB, lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError) as info:
    lib.ops  # pylint: disable=pointless-statement
  assert "2.15.0" in str(info.value) and tf.__version__ in str(info.value)
  assert "Rebuild" in str(info.value)


def test_lazy_so_error_is_raised_again_on_second_access(tmp_path):
  write_build_info(tmp_path, "2.15.0")
  lib = LazySO(LIB, lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError) as first:
    lib.ops  # pylint: disable=pointless-statement
  # Even once the cause is gone, the first failure is what callers see.
  write_build_info(tmp_path, tf.__version__)
  with pytest.raises(OpLibraryError) as second:
    lib.ops  # pylint: disable=pointless-statement
  assert second.value is first.value


def test_missing_build_info_names_its_path(tmp_path):
  lib = LazySO(LIB, lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError) as info:
    lib.ops  # pylint: disable=pointless-statement
  assert str(tmp_path / "build_info.json") in str(info.value)


def test_unreadable_build_info_names_its_path(tmp_path):
  (tmp_path / "build_info.json").write_text("{not json")
  with pytest.raises(OpLibraryError) as info:
    resource_loader.read_build_info(str(tmp_path / "build_info.json"))
  assert str(tmp_path / "build_info.json") in str(info.value)


def test_missing_library_names_its_path(tmp_path):
  write_build_info(tmp_path, tf.__version__)
  lib = LazySO(LIB, lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError) as info:
    lib.ops  # pylint: disable=pointless-statement
  assert str(tmp_path / LIB) in str(info.value)


def test_corrupt_library_fails_to_load_with_its_path(tmp_path):
  write_build_info(tmp_path, tf.__version__)
  (tmp_path / LIB).write_bytes(b"\x7fELF not really a shared object")
  lib = LazySO(LIB, lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError) as info:
    lib.ops  # pylint: disable=pointless-statement
  assert str(tmp_path / LIB) in str(info.value)
  assert "failed to load" in str(info.value)


def test_default_lazy_so_loads_the_installed_library():
  lib = LazySO(LIB)
  assert lib.path == resource_loader.LIBRARIES[LIB].path
  assert hasattr(lib.ops, "tfra_hash_table_find")


_SERVING_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    import tensorflow_recommenders_addons  # registers the ops
    model = tf.saved_model.load(sys.argv[1])
    print(model.lookup(tf.constant([1, 2], tf.int64)).numpy().tolist())
""")


def test_importing_the_package_lets_a_fresh_process_load_a_saved_model(tmp_path):
  from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=import-outside-toplevel
  table = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
  table.insert([1], [[5.0]])
  module = tf.Module()
  module.table = table
  module.lookup = tf.function(
      table.lookup, input_signature=[tf.TensorSpec([None], tf.int64)])
  tf.saved_model.save(module, str(tmp_path / "model"))
  out = subprocess.run(
      pyproc.python("-c", _SERVING_SCRIPT, str(tmp_path / "model")),
      capture_output=True, text=True, timeout=120, check=False,
      cwd=str(tmp_path))
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip().splitlines()[-1] == "[[5.0], [0.0]]"


def test_check_cxx11_abi_refuses_another_abi():
  other = 1 - int(tf.sysconfig.CXX11_ABI_FLAG)
  with pytest.raises(OpLibraryError, match=f"_GLIBCXX_USE_CXX11_ABI={other}"):
    resource_loader.check_cxx11_abi({"cxx11_abi": other})


def test_lazy_so_built_with_another_abi_fails_on_ops(tmp_path):
  info = dict(resource_loader.read_build_info(),
              cxx11_abi=1 - int(tf.sysconfig.CXX11_ABI_FLAG))
  (tmp_path / "build_info.json").write_text(json.dumps(info))
  lib = LazySO("_cuckoo_hashtable_ops.so", lib_dir=str(tmp_path))
  with pytest.raises(OpLibraryError, match="USE_CXX11_ABI"):
    lib.ops  # pylint: disable=pointless-statement


@pytest.mark.parametrize("sources,recorded", [([], False), (["a.cu"], True)])
def test_a_cuda_build_records_cuda_only_with_cuda_sources(tmp_path, sources,
                                                           recorded):
  out = tmp_path / "info.json"
  subprocess.run(pyproc.python(os.path.join(ROOT, "build_deps", "build_info.py"),
                               "--builder", "bazel", str(out), "--cuda",
                               "--cuda-sources", *sources), check=True)
  assert json.loads(out.read_text())["cuda"] is recorded
