"""Describes the TensorFlow a native build targets (_libs/build_info.json).

Both builders write tensorflow_recommenders_addons/_libs/build_info.json:
setup.py imports `build_info` (with this directory on sys.path), Bazel runs
this file as a script:

  python build_deps/build_info.py --builder {pip,bazel} OUT.json \
      [--cuda --cuda-sources [A.cu ...]] \
      [--tf-version V --cxx11-abi N --cxx-standard S]

`cuda` is recorded true only when CUDA sources were compiled in: with
`--cuda-sources` given and empty (a --cuda build of a tree without .cu
files), false.

The TensorFlow settings come from this interpreter's TensorFlow, or, with
the three `--tf-*`/`--cxx*` options, from the values configure.py read from
it and wrote into .tf_configure.bazelrc (Bazel passes them: they are the
settings the shared objects were compiled with, and the genrule then needs no
TensorFlow import, which takes seconds).

Importing this module has no side effects; TensorFlow is imported only when
build_info() is called without `tf_settings`.
"""

import argparse
import json
import os
import re
import sys

BUILDERS = ("pip", "bazel")


def build_info(builder, cuda=False, tf_settings=None):
  """Returns the build description for this interpreter's TensorFlow.

  Args:
    builder: "pip" or "bazel", the build system that made the shared objects.
    cuda: whether the CUDA sources were compiled in.
    tf_settings: (tf_version, cxx11_abi, cxx_standard) as recorded by
      configure.py from the same TensorFlow; None reads them from
      TensorFlow (importing it).

  Returns:
    A dict with keys tf_version, cxx11_abi (int), cxx_standard (e.g.
    "c++17"), cuda (bool) and builder.

  Raises:
    ValueError: `builder` is unknown, `tf_settings` has an ABI value that is
      not a number, or TensorFlow's compile flags lack the ABI or -std flag.

  Example:
    >>> build_info("bazel", tf_settings=("2.21.0", "1", "c++17"))["cxx11_abi"]
    1
  """
  if builder not in BUILDERS:
    raise ValueError(f"builder must be one of {BUILDERS}, got {builder!r}")
  if tf_settings is None:
    tf_settings = tensorflow_settings()
  tf_version, abi, standard = tf_settings
  if not re.fullmatch(r"\d+", str(abi)):
    raise ValueError(f"cxx11_abi must be a number (0 or 1), got {abi!r}")
  return {
      "tf_version": tf_version,
      "cxx11_abi": int(abi),
      "cxx_standard": standard,
      "cuda": bool(cuda),
      "builder": builder,
  }


def tensorflow_settings():
  """Returns (tf_version, cxx11_abi, cxx_standard) of this interpreter's
  TensorFlow (imports it).

  Raises:
    ValueError: TensorFlow's compile flags lack the ABI or -std flag.
  """
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  flags = tf.sysconfig.get_compile_flags()
  return (tf.__version__,
          _flag_value(flags, r"-D_GLIBCXX_USE_CXX11_ABI=(\d+)"),
          _flag_value(flags, r"--?std=(\S+)"))


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
  parser.add_argument("--tf-version",
                      help="TensorFlow's version, as configure.py read it")
  parser.add_argument("--cxx11-abi",
                      help="TensorFlow's _GLIBCXX_USE_CXX11_ABI value")
  parser.add_argument("--cxx-standard", help="TensorFlow's -std value")
  parser.add_argument("output", help="JSON file to write")
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  cuda = args.cuda and (args.cuda_sources is None or bool(args.cuda_sources))
  given = (args.tf_version, args.cxx11_abi, args.cxx_standard)
  if any(v is not None for v in given) and not all(given):
    parser.error("--tf-version, --cxx11-abi and --cxx-standard go together")
  info = build_info(args.builder, cuda=cuda,
                    tf_settings=given if all(given) else None)
  with open(args.output, "w", encoding="utf-8") as out:
    json.dump(info, out, indent=2, sort_keys=True)
    out.write("\n")


if __name__ == "__main__":
  main()
