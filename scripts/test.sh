#!/usr/bin/env bash
# Installs everything (scripts/install.sh --dev) and runs the whole test suite:
# C++ core tests (plain, ThreadSanitizer, AddressSanitizer), the Python suite,
# the Bazel build + wheel install test, and a quick benchmark smoke run.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export TF_CPP_MIN_LOG_LEVEL=2
# Run from the repo root with the venv's pytest (not `python -m pytest`), so
# the installed package with its compiled libraries is the one imported.
.venv/bin/pytest -p no:cacheprovider -q "$@"
