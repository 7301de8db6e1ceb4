"""Describes the TensorFlow a native build targets (_libs/build_info.json).

Both builders write tensorflow_recommenders_addons/_libs/build_info.json:
setup.py imports `build_info` (with this directory on sys.path), Bazel runs
this file as a script:

  python build_deps/build_info.py --builder {pip,bazel} OUT.json \
      [--cuda --cuda-sources [A.cu ...]]

`cuda` is recorded true only when CUDA sources were compiled in: with
`--cuda-sources` given and empty (a --cuda build of a tree without .cu
files), false.

Importing this module has no side effects; TensorFlow is imported only when
build_info() is called.
"""

import argparse
import json
import os
import re
import sys

BUILDERS = ("pip", "bazel")


def build_info(builder, cuda=False):
  """Returns the build description for this interpreter's TensorFlow.

  Args:
    builder: "pip" or "bazel", the build system that made the shared objects.
    cuda: whether the CUDA sources were compiled in.

  Returns:
    A dict with keys tf_version, cxx11_abi (int), cxx_standard (e.g.
    "c++17"), cuda (bool) and builder.

  Raises:
    ValueError: `builder` is unknown, or TensorFlow's compile flags lack the
      ABI or -std flag.

  Example:
    >>> build_info("bazel")["builder"]
    'bazel'
  """
  if builder not in BUILDERS:
    raise ValueError(f"builder must be one of {BUILDERS}, got {builder!r}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  flags = tf.sysconfig.get_compile_flags()
  abi = _flag_value(flags, r"-D_GLIBCXX_USE_CXX11_ABI=(\d+)")
  standard = _flag_value(flags, r"--?std=(\S+)")
  return {
      "tf_version": tf.__version__,
      "cxx11_abi": int(abi),
      "cxx_standard": standard,
      "cuda": bool(cuda),
      "builder": builder,
  }


def _flag_value(flags, pattern):
  for flag in flags:
    match = re.fullmatch(pattern, flag)
    if match:
      return match.group(1)
  raise ValueError(f"no flag matching {pattern!r} in "
                   f"tf.sysconfig.get_compile_flags(): {flags}")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--builder", required=True, choices=BUILDERS)
  parser.add_argument("--cuda", action="store_true",
                      help="the build compiled CUDA sources")
  parser.add_argument("--cuda-sources", nargs="*", default=None,
                      help="the .cu files compiled (none: no CUDA code)")
  parser.add_argument("output", help="JSON file to write")
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  cuda = args.cuda and (args.cuda_sources is None or bool(args.cuda_sources))
  info = build_info(args.builder, cuda=cuda)
  with open(args.output, "w", encoding="utf-8") as out:
    json.dump(info, out, indent=2, sort_keys=True)
    out.write("\n")


if __name__ == "__main__":
  main()
