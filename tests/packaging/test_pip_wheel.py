"""`pip wheel .` produces a wheel holding the compiled op libraries."""

import json
import os
import subprocess
import sys
import zipfile

import tensorflow as tf

from packaging.requirements import Requirement

from tensorflow_recommenders_addons import version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_pip_wheel_contains_op_libraries_and_build_info(tmp_path):
  subprocess.run(
      [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation",
       "--no-deps", "-w", str(tmp_path), ROOT],
      check=True, cwd=str(tmp_path))
  wheels = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
  assert len(wheels) == 1, wheels
  assert "-none-any" not in wheels[0], "wheel must be platform-specific"
  with zipfile.ZipFile(tmp_path / wheels[0]) as whl:
    names = set(whl.namelist())
    lib = "tensorflow_recommenders_addons/_libs/_cuckoo_hashtable_ops.so"
    info = "tensorflow_recommenders_addons/_libs/build_info.json"
    assert lib in names and info in names, sorted(names)
    assert whl.getinfo(lib).file_size > 100_000
    record = json.loads(whl.read(info))
    metadata = whl.read(next(n for n in names
                             if n.endswith(".dist-info/METADATA"))).decode()
  assert record["tf_version"] == tf.__version__
  # The wheel requires the TensorFlow distribution it was built against, in
  # the supported range, and names the flavour as an extra.
  requires = [l.split(":", 1)[1].strip() for l in metadata.splitlines()
              if l.startswith("Requires-Dist:")]
  wanted = {Requirement(d + version.TF_VERSION_RANGE)
            for d in ("tensorflow-cpu", "tensorflow")}
  assert wanted & {Requirement(r) for r in requires}, requires
  assert any(Requirement(r).marker is not None and "extra" in str(Requirement(r).marker)
             for r in requires), requires
  assert record["builder"] == "pip"
