#!/usr/bin/env bash
# Rebuilds the op libraries in place (tensorflow_recommenders_addons/_libs/
# of this checkout) after a C++ change, for the edit loop:
#
#   bash scripts/dev_build.sh && PYTHONPATH=$PWD .venv/bin/pytest tests/...
#
# With PYTHONPATH pointing at the checkout, Python edits need no rebuild at
# all. Builds are serialised with a lock so parallel callers never see a
# half-written library. scripts/install.sh makes the same in-place build.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>.venv/.dev_build.lock
flock 9
.venv/bin/python setup.py -q build_ext --inplace >/tmp/tfra_dev_build.log 2>&1 || {
  grep -E "error|Error" /tmp/tfra_dev_build.log | head -40 >&2
  echo "dev_build: failed, full log in /tmp/tfra_dev_build.log" >&2
  exit 1
}
echo "dev_build: libraries in tensorflow_recommenders_addons/_libs/"
