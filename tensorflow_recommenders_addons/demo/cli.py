"""`tfra-demo`: train TFRS retrieval and ranking models on dynamic embeddings.

Also runs as `python -m tensorflow_recommenders_addons.demo`. See
`tfra-demo --help`; the README's main command runs it.
"""

import argparse
import os
import sys

from tensorflow_recommenders_addons.demo import data

PROG = "tfra-demo"

DESCRIPTION = """\
Trains a TensorFlow Recommenders retrieval model (two towers, in-batch
softmax) and a ranking model (star ratings) whose embedding tables are
dynamic embeddings keyed by raw string ids: no vocabulary is built, and
the tables grow as ids arrive. By default the data is a seeded synthetic
MovieLens-shaped dataset (users, movies with genres and titles,
timestamps, Zipf popularity); --data reads real MovieLens 100K or 1M
files. Each user's latest ratings are held out. The demo prints
recall@10/@100 (retrieval, against most-popular and random baselines) and
RMSE/AUC (ranking, against an item-average baseline) on the held-out
ratings, saves both models as SavedModels (traced in inference mode),
reloads them, and prints top-10 recommendations with titles for a few
users."""

EPILOG = """\
examples:
  tfra-demo                           synthetic data, about 1-2 minutes
  tfra-demo --data ~/ml-100k          real MovieLens 100K (u.data, u.item)
  tfra-demo --data ~/ml-1m --retrieval-epochs 3
                                      real MovieLens 1M (ratings.dat, movies.dat)
  tfra-demo --users 5000 --movies 4000 --ratings 500000 --seed 7

  tfra-demo --model deepfm            a model zoo CTR model (also fibinet, esmm,
                                      mmoe) on synthetic Criteo-shaped data,
                                      AUC vs logistic regression, TFLite export
  tfra-demo --model twotower          next-item dual encoder, exported to TFLite

outputs (under --out): retrieval/ and ranking/ SavedModels, metrics.json;
with --model: <model>.tflite and <model>.json.
Serve them after `import tensorflow_recommenders_addons` (it registers the
TFRA> ops): tf.saved_model.load(path).signatures["serving_default"]."""


class OneLineParser(argparse.ArgumentParser):
  """argparse whose errors are one line: 'tfra-demo: error: ...'."""

  def error(self, message):
    self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def checked(convert, kind, accept, requirement):
  """An argparse type: `convert(text)`, which `accept` must approve.

  Args:
    convert: `int` or `float`.
    kind: What `convert` parses, for the message ("an integer").
    accept: Predicate on the converted value.
    requirement: What `accept` requires, for the message ("at least 1").
  """

  def parse(text):
    try:
      value = convert(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
    if not accept(value):
      raise argparse.ArgumentTypeError(f"{value} must be {requirement}")
    return value

  parse.__name__ = f"{kind} {requirement}"
  return parse


def at_least(minimum):
  """argparse type: an integer >= `minimum`."""
  return checked(int, "an integer", lambda v: v >= minimum,
                 f"at least {minimum}")


positive_int = at_least(1)
fraction = checked(float, "a number", lambda v: 0 < v < 1, "between 0 and 1")
positive_float = checked(float, "a number", lambda v: v > 0,
                         "greater than 0")


def parser():
  """The demo's argument parser."""
  p = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--model", choices=("deepfm", "fibinet", "esmm", "mmoe",
                                     "twotower"),
                 help="train this model zoo model (Keras 3) on synthetic "
                 "data instead of the TFRS MovieLens models, compare its AUC "
                 "with logistic regression and export it to TFLite")
  data = p.add_argument_group("data")
  data.add_argument(
      "--data", metavar="DIR",
      help="read real MovieLens data from DIR: MovieLens 100K (u.data, "
      "u.item) or 1M (ratings.dat, movies.dat), in DIR or a subdirectory; "
      "default: generate synthetic data")
  data.add_argument("--users", type=at_least(2), default=943,
                    help="synthetic users (default: %(default)s)")
  data.add_argument("--movies", type=at_least(10), default=1682,
                    help="synthetic movies (default: %(default)s)")
  data.add_argument("--ratings", type=at_least(10), default=100_000,
                    help="synthetic ratings, about (default: %(default)s; "
                    "each user rates at least 5 movies)")
  data.add_argument("--seed", type=int, default=0,
                    help="seed of the data, initializers and shuffling "
                    "(default: %(default)s)")
  data.add_argument("--test-fraction", type=fraction, default=0.2,
                    help="share of each user's latest ratings held out for "
                    "evaluation (default: %(default)s)")
  data.add_argument("--examples", type=at_least(100), default=100_000,
                    help="--model: synthetic examples, 80%% to train "
                    "(default: %(default)s)")
  data.add_argument("--vocabulary", type=at_least(10), default=10_000,
                    help="--model (CTR): ids of the biggest fields "
                    "(default: %(default)s)")
  data.add_argument("--fields", type=at_least(1), default=26,
                    help="--model (CTR): categorical fields, at most 127 "
                    "(default: %(default)s, as Criteo)")
  data.add_argument("--dense", type=at_least(0), default=13,
                    help="--model (CTR): dense features (default: "
                    "%(default)s, as Criteo)")
  train = p.add_argument_group("training")
  train.add_argument("--dim", type=positive_int, default=None,
                     help="embedding width (default: 32; --model: 8, "
                     "twotower 16)")
  train.add_argument("--epochs", type=positive_int, default=2,
                     help="--model: training epochs (default: %(default)s)")
  train.add_argument("--retrieval-epochs", type=positive_int, default=8,
                     help="epochs of the retrieval model (default: "
                     "%(default)s)")
  train.add_argument("--ranking-epochs", type=positive_int, default=4,
                     help="epochs of the ranking model (default: "
                     "%(default)s)")
  train.add_argument("--batch-size", type=positive_int, default=None,
                     help="examples per step (default: 1024; --model: 256)")
  train.add_argument("--learning-rate", type=positive_float, default=None,
                     help="Adagrad learning rate (default: 0.1; --model: "
                     "Adam, 0.01)")
  out = p.add_argument_group("output")
  out.add_argument("--out", metavar="DIR", default="tfra-demo-output",
                   help="where the SavedModels and metrics.json go "
                   "(default: ./%(default)s)")
  out.add_argument("--top", type=positive_int, default=10,
                   help="recommendations per user (default: %(default)s)")
  out.add_argument("--show-users", type=positive_int, default=3,
                   help="users whose recommendations are printed (default: "
                   "%(default)s)")
  out.add_argument("--quiet", action="store_true",
                   help="no progress bars (one summary line per step "
                   "remains)")
  return p


def check_paths(p, options):
  """One-line errors for a missing --data DIR or an unusable --out DIR."""
  if options.data is not None:
    options.data = os.path.expanduser(options.data)
    if not os.path.isdir(options.data):
      p.error(f"--data {options.data}: no such directory")
  if os.path.exists(options.out) and not os.path.isdir(options.out):
    p.error(f"--out {options.out}: exists and is not a directory")
  try:
    os.makedirs(options.out, exist_ok=True)
  except OSError as e:
    p.error(f"--out {options.out}: cannot create it ({e.strerror})")
  if not os.access(options.out, os.W_OK):
    p.error(f"--out {options.out}: not writable")


def use_tf_keras():
  """Makes `tf.keras` tf_keras, which TFRS 0.7 needs, in this process.

  Returns an error message if `tf.keras` was already loaded as Keras 3
  (the demo was imported into a Keras 3 program), else None.
  """
  before = os.environ.get("TF_USE_LEGACY_KERAS")
  os.environ["TF_USE_LEGACY_KERAS"] = "1"
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if tf.keras.layers.Layer.__module__.startswith("tf_keras"):
    return None
  if before is None:
    del os.environ["TF_USE_LEGACY_KERAS"]
  else:
    os.environ["TF_USE_LEGACY_KERAS"] = before
  return ("this process already uses Keras 3 as tf.keras; TensorFlow "
          "Recommenders needs tf_keras: run tfra-demo as its own process")


def main(argv=None):
  """Runs the demo: the `tfra-demo` console script.

  Args:
    argv: Command-line arguments (default: `sys.argv[1:]`); see `--help`.

  Returns:
    The process exit status: 0 done, 1 unusable data (a one-line error on
    stderr), 130 interrupted.

  Raises:
    SystemExit: For `--help` (status 0) and bad options (status 2, one
      line on stderr).

  Example:
    >>> from tensorflow_recommenders_addons.demo import main
    >>> try:
    ...   main(["--help"])
    ... except SystemExit as stop:
    ...   print("exit status", stop.code)  # doctest: +ELLIPSIS
    usage: tfra-demo [-h] [--model {deepfm,fibinet,esmm,mmoe,twotower}]...
    exit status 0
  """
  p = parser()
  options = p.parse_args(argv)
  check_paths(p, options)
  options.verbosity = 0 if options.quiet else (
      1 if sys.stdout.isatty() else 2)
  zoo_model = options.model is not None
  defaults = {"dim": (16 if options.model == "twotower" else 8) if zoo_model
              else 32, "batch_size": 256 if zoo_model else 1024,
              "learning_rate": 0.01 if zoo_model else 0.1}
  for name, value in defaults.items():
    if getattr(options, name) is None:
      setattr(options, name, value)
  def say(line):
    print(line, flush=True)

  if zoo_model:
    from tensorflow_recommenders_addons.demo import zoo  # pylint: disable=import-outside-toplevel
    try:
      zoo.run(options, say)
    except KeyboardInterrupt:
      print(f"{PROG}: interrupted", file=sys.stderr)
      return 130
    return 0

  try:
    loaded = data.load(options, say)
  except data.DataError as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  problem = use_tf_keras()
  if problem:
    print(f"{PROG}: error: {problem}", file=sys.stderr)
    return 1
  # pylint: disable=import-outside-toplevel
  from tensorflow_recommenders_addons.demo import pipeline
  try:
    pipeline.run(options, say, loaded)
  except KeyboardInterrupt:
    print(f"{PROG}: interrupted", file=sys.stderr)
    return 130
  return 0
