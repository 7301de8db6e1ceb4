"""Builds and runs the TensorFlow-free C++ table-core tests (GoogleTest).

Three builds of cc/core/tests/table_core_test.cc: plain (-O2), with
ThreadSanitizer and with AddressSanitizer + UndefinedBehaviorSanitizer. The
sanitizer builds run the same tests, including the concurrent stress test, at
TFRA_TEST_SCALE=1 (small sizes).
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "cc", "core", "tests", "table_core_test.cc")

BUILDS = {
    "plain": ["-O2"],
    "tsan": ["-O1", "-fsanitize=thread"],
    "asan": ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
}


def _have_gtest():
  return os.path.exists("/usr/include/gtest/gtest.h")


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_table_core(build, tmp_path):
  if shutil.which("g++") is None or not _have_gtest():
    pytest.fail("g++ and GoogleTest (apt: libgtest-dev) are required; "
                "run scripts/install.sh --dev")
  binary = str(tmp_path / f"table_core_test_{build}")
  cmd = (["g++", "-std=c++17", "-g", f"-I{ROOT}"] + BUILDS[build] +
         [SOURCE, "-o", binary, "-lgtest", "-lgtest_main", "-pthread"])
  subprocess.run(cmd, check=True)
  env = dict(os.environ, TFRA_TEST_SCALE="1",
             TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=1")
  result = subprocess.run([binary], env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
  assert "[  PASSED  ]" in result.stdout
