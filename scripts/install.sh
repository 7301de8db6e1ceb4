#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian/Ubuntu machine and
# builds the package into ./.venv. Idempotent: re-running only rebuilds.
#
#   bash scripts/install.sh          # runtime: venv + TF 2.21 + this package
#   bash scripts/install.sh --dev    # also test tools: bazel-bootstrap, clang
#                                    # + libFuzzer,
#                                    # GoogleTest, ccache (apt), pytest, hypothesis
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PYTHON=${PYTHON:-python3}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== apt-get install ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# A C++ compiler is needed to build the op libraries; ccache speeds rebuilds.
command -v g++ >/dev/null || apt_install g++
if [ "$DEV" = 1 ]; then
  # clang + its runtime: the libFuzzer target over the table-file reader
  # (tests/core/test_kv_file_fuzz.py).
  apt_install bazel-bootstrap libgtest-dev ccache clang libclang-rt-14-dev
fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  if ! "$PYTHON" -m venv .venv; then
    # Debian's system Python ships venv/ensurepip separately.
    rm -rf .venv
    apt_install python3-venv
    "$PYTHON" -m venv .venv
  fi
fi
# The TensorFlow range is written once, in version.py (plain Python).
version_value() {
  .venv/bin/python -c "import sys; s = {}; exec(open('tensorflow_recommenders_addons/version.py').read(), s); print(*(s[sys.argv[1]] if isinstance(s[sys.argv[1]], tuple) else [s[sys.argv[1]]]), sep='\n')" "$1"
}
# Requirements go in with uv (a pip-compatible installer from PyPI) when it
# can be had: it links wheels from its cache and compiles their bytecode on
# every core, ~20 s for TensorFlow and the test tools where pip takes ~60 s
# (pip would compile serially). pip installs them when uv cannot be installed
# or fails, and always with TFRA_INSTALLER=pip.
have_uv() {
  [ "${TFRA_INSTALLER:-uv}" = uv ] || return 1
  [ -x .venv/bin/uv ] || .venv/bin/pip install -q --disable-pip-version-check uv \
    >/dev/null 2>&1
}
requirements_install() {
  if have_uv; then
    .venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode "$@" \
      && return 0
    echo "== uv pip install failed; installing with pip"
  fi
  .venv/bin/pip install -q --disable-pip-version-check "$@"
}
mapfile -t tf_reqs < <(version_value BUILD_TF_REQUIREMENTS)
echo "== installing Python requirements (${tf_reqs[0]%%;*}, test tools)"
requirements_install "${tf_reqs[@]}" -r requirements-dev.txt
echo "== installing tf_keras and TensorFlow Recommenders (Keras 2 path)"
requirements_install --no-deps "$(version_value TF_KERAS_REQUIREMENT)" \
  -r requirements-keras.txt
echo "== building and installing tensorflow_recommenders_addons"
start=$(date +%s)
.venv/bin/pip install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall .
# The same libraries in the source tree too (gitignored), so a checkout runs
# as is: `python -m tensorflow_recommenders_addons.demo` from the repository
# root, where the source tree shadows the installed package. They are the
# installed copies (what `setup.py build_ext --inplace` would build again).
installed_libs=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['platlib'])")/tensorflow_recommenders_addons/_libs
mkdir -p tensorflow_recommenders_addons/_libs
cp "$installed_libs"/*.so "$installed_libs"/build_info.json tensorflow_recommenders_addons/_libs/
echo "== built and installed in $(( $(date +%s) - start )) s"
