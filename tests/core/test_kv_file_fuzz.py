"""Runs the libFuzzer target over the table-file reader for a bounded time.

cc/core/tests/kv_file_fuzz.cc feeds arbitrary bytes to the reader as every
key type (Open, Verify, ReadAll, chunked ReadRange) under AddressSanitizer
and UndefinedBehaviorSanitizer; it aborts when the reader crashes, reads out
of bounds, loops without advancing, or hands out rows that disagree with
its header. The run starts from the seed files in
cc/core/tests/kv_file_fuzz_corpus/ (valid files of each key kind, kept in
the repository) and writes what it discovers to a temporary folder, so the
repository's corpus stays as committed. A finding is printed with its bytes
in base64: add them to the corpus once fixed.
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.path.join(ROOT, "cc", "core", "tests", "kv_file_fuzz.cc")
CORPUS = os.path.join(ROOT, "cc", "core", "tests", "kv_file_fuzz_corpus")
SECONDS = 20


def test_kv_file_reader_survives_fuzzing(tmp_path):
  if shutil.which("clang++") is None:
    pytest.fail("clang++ with libFuzzer (apt: clang libclang-rt-14-dev) is "
                "required; run scripts/install.sh --dev")
  binary = str(tmp_path / "kv_file_fuzz")
  sanitize = ["-fsanitize=fuzzer,address,undefined",
              "-fno-sanitize-recover=all"]
  # Compiled apart from the link, through ccache when it is there (ccache
  # caches compiles only), keyed on paths relative to the checkout.
  ccache = ["ccache"] if shutil.which("ccache") else []
  subprocess.run(
      ccache + ["clang++", "-std=c++17", "-O1", "-g1", f"-I{ROOT}", *sanitize,
                "-c", TARGET, "-o", binary + ".o"],
      check=True, env=dict(os.environ, CCACHE_BASEDIR=ROOT,
                           CCACHE_NOHASHDIR="1"))
  subprocess.run(["clang++", *sanitize, binary + ".o", "-o", binary],
                 check=True)
  found = tmp_path / "corpus"
  found.mkdir()
  result = subprocess.run(
      [binary, f"-max_total_time={SECONDS}", "-rss_limit_mb=2048",
       "-timeout=10", f"-artifact_prefix={tmp_path}/", str(found), CORPUS],
      cwd=tmp_path, capture_output=True, text=True,
      env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
  assert result.returncode == 0, result.stderr[-6000:]
  assert "Done" in result.stderr, result.stderr[-2000:]
  assert len(os.listdir(CORPUS)) >= 5
