#!/usr/bin/env bash
# Installs everything (scripts/install.sh --dev) and runs the whole test suite:
# C++ core tests (plain, ThreadSanitizer, AddressSanitizer), the Python suite,
# the Bazel build + wheel install test, and a quick benchmark smoke run. The
# 15 slowest tests are listed at the end. Extra arguments go to pytest.
# Tests run in one pytest-xdist worker per core (at most 4; TFRA_TEST_WORKERS
# overrides, 0 runs them in this process); each test file stays on one
# worker, the longest start first (tests/conftest.py: xdist_scope).
#
#   bash scripts/test.sh             # everything (what CI runs)
#   bash scripts/test.sh --quick     # edit loop: rebuilds the op library in
#                                    # place if needed, skips the Bazel build
#                                    # and the sanitizer builds
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
workers=${TFRA_TEST_WORKERS:-$(n=$(nproc); echo $(( n < 4 ? n : 4 )))}
parallel=(-n "$workers" --dist loadscope --no-loadscope-reorder)
if [ "${1:-}" = "--quick" ]; then
  shift
  [ -x .venv/bin/pytest ] || bash scripts/install.sh --dev
  bash scripts/dev_build.sh
  export TFRA_QUICK=1
  PYTHONPATH=$PWD exec .venv/bin/pytest -p no:cacheprovider -q -m "not bazel" \
    "${parallel[@]}" --durations=15 "$@"
fi
bash scripts/install.sh --dev
# Run from the repo root with the venv's pytest (not `python -m pytest`), so
# the installed package with its compiled libraries is the one imported.
.venv/bin/pytest -p no:cacheprovider -q "${parallel[@]}" --durations=15 "$@"
