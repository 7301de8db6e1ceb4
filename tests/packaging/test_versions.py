"""The TensorFlow range is written once (version.py) and read everywhere."""

import os
import re
import subprocess
import sys

from tensorflow_recommenders_addons import version

import pyproc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A version range like ">=2.21" or "<2.22" next to a TF package name.
_PINNED = re.compile(r"(tensorflow(-cpu)?|tf_keras)\s*[<>=~!]=?\s*\d+\.\d+")


def _tracked_files(suffixes):
  out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True,
                       text=True, check=True).stdout.split()
  return [f for f in out if not f.startswith("tests/") and f.endswith(suffixes)
          and f != "tensorflow_recommenders_addons/version.py"]


def _pins(suffixes):
  pinned = []
  for path in _tracked_files(suffixes):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
      for n, line in enumerate(f, 1):
        if _PINNED.search(line):
          pinned.append(f"{path}:{n}: {line.strip()}")
  return pinned


def test_no_build_or_code_file_but_version_py_pins_tensorflow():
  pinned = _pins((".py", ".sh", ".txt", ".toml", ".cfg", ".in", "BUILD"))
  assert not pinned, "pin TensorFlow in version.py only:\n" + "\n".join(pinned)


def test_the_docs_name_the_supported_release():
  stale = [p for p in _pins((".md",))
           if version.SUPPORTED_TF_MAJOR_MINOR not in p.split(": ", 1)[1]]
  assert not stale, "docs pin another TensorFlow:\n" + "\n".join(stale)


def test_the_supported_minor_is_the_range_lower_bound():
  low = re.match(r">=(\d+\.\d+)", version.TF_VERSION_RANGE).group(1)
  assert low == version.SUPPORTED_TF_MAJOR_MINOR
  assert version.TF_REQUIREMENT.endswith(version.TF_VERSION_RANGE)


def test_the_build_backend_requires_tensorflow_from_version_py():
  code = ("import sys; sys.path.insert(0, 'build_deps'); import build_backend; "
          "print('\\n'.join(build_backend.get_requires_for_build_wheel()))")
  out = subprocess.run(pyproc.python("-c", code), cwd=ROOT,
                       capture_output=True, text=True, check=True).stdout
  for requirement in version.BUILD_TF_REQUIREMENTS:
    assert requirement in out.splitlines(), out
