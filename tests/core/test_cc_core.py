"""Builds and runs the TensorFlow-free C++ table-core tests (GoogleTest).

Every cc/core/tests/*_test.cc (table_core_test.cc, the bounded-table tests
bounds_test.cc and bounds_roundtrip_test.cc, the table-file checks and fuzz
corpus replay kv_file_test.cc, ...) is linked into one binary,
built three ways: plain (-O2), with ThreadSanitizer and with
AddressSanitizer + UndefinedBehaviorSanitizer. The sanitizer builds run the
same tests, including the concurrent stress tests, at TFRA_TEST_SCALE=1
(small sizes). Sources compile in parallel, one compiler per source, through
ccache when it is installed (an unchanged source is not recompiled by the
next run on the machine). TFRA_QUICK=1 (scripts/test.sh --quick) runs the
plain build only.
"""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = (sorted(glob.glob(os.path.join(ROOT, "cc", "core", "tests", "*_test.cc"))) +
           # backend registrations (cpu_backend.cc, ...) for the conformance suite
           sorted(glob.glob(os.path.join(ROOT, "cc", "core", "*.cc"))))

BUILDS = {
    "plain": ["-O2"],
    "tsan": ["-O1", "-fsanitize=thread"],
    "asan": ["-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
}


def _have_gtest():
  return os.path.exists("/usr/include/gtest/gtest.h")


def _build(build, tmp_path):
  """Compiles every source (in parallel) and links them; returns the binary."""
  # -g1: line tables, enough for sanitizer stack traces, at half the compile
  # time of -g.
  flags = ["-std=c++17", "-g1", f"-I{ROOT}"] + BUILDS[build]
  compiler = (["ccache"] if shutil.which("ccache") else []) + ["g++"]
  # Paths relative to the checkout in ccache's keys (compiling from ROOT), so
  # a fresh clone of the same sources hits the cache too.
  env = dict(os.environ, CCACHE_BASEDIR=ROOT, CCACHE_NOHASHDIR="1")
  objects, procs = [], []
  for source in SOURCES:
    obj = str(tmp_path / (os.path.basename(source) + ".o"))
    objects.append(obj)
    procs.append((source, subprocess.Popen(
        compiler + flags + ["-c", os.path.relpath(source, ROOT), "-o", obj],
        cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
  for source, proc in procs:
    out, _ = proc.communicate()
    assert proc.returncode == 0, f"compiling {source} failed:\n{out[-4000:]}"
  binary = str(tmp_path / f"table_core_test_{build}")
  subprocess.run(["g++"] + flags + objects +
                 ["-o", binary, "-lgtest", "-lgtest_main", "-pthread"],
                 check=True)
  return binary


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_table_core(build, tmp_path):
  if build != "plain" and os.environ.get("TFRA_QUICK") == "1":
    pytest.skip("TFRA_QUICK=1: sanitizer builds run in the full suite")
  if shutil.which("g++") is None or not _have_gtest():
    pytest.fail("g++ and GoogleTest (apt: libgtest-dev) are required; "
                "run scripts/install.sh --dev")
  assert len(SOURCES) >= 3, SOURCES
  binary = _build(build, tmp_path)
  env = dict(os.environ, TFRA_TEST_SCALE="1",
             TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=1",
             TFRA_KV_FUZZ_CORPUS=os.path.join(ROOT, "cc", "core", "tests",
                                              "kv_file_fuzz_corpus"))
  result = subprocess.run([binary], env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
  assert "[  PASSED  ]" in result.stdout
