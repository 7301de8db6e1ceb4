"""Training benchmark: a dynamic-embedding model vs a static Keras Embedding.

Model (trained with `model.fit`, in tf_keras and in Keras 3): ids
[--batch, --ids-per-example] -> embedding (dim --dim) -> Flatten ->
Dense(64, relu) -> Dense(1), binary cross-entropy on logits.
  * dynamic: the dynamic `Embedding` of that Keras (`de.keras.layers.tf_keras`
    or `.keras3`) on the raw ids, which are Zipf (--zipf-a) ranks scattered
    over a 2^--id-bits id space (rank r becomes (r * 0x9E3779B97F4A7C15) mod
    2^id_bits), optimizer wrapped by `de.DynamicEmbeddingOptimizer`; the
    table grows as new ids arrive, whose rows start from the static
    Embedding's initializer (uniform +-0.05). The Keras 3 layer's row buffer
    holds batch x ids-per-example rows (`max_unique_ids`), the static bound
    on a batch's distinct ids;
  * static: that Keras's `layers.Embedding(--static-rows, dim)` on the same
    ids hashed into --static-rows rows (id mod rows), the same stock
    optimizer.
For each Keras (--kerases) and optimizer (Adam, Adagrad) both models train
on the same pre-built batches; a callback times every step, and the figure
is examples/s from the median step time after --warmup steps. Static Adam
updates its whole table each step (both Kerases apply the moments' decay to
every row), so it gets fewer steps (--static-adam-steps). Keras 3's static
Adagrad also touches every row (it takes sqrt(accumulator + epsilon) of the
whole table), so its Adagrad ratio is far above tf_keras's.

Targets on 2 cores, per Keras: Adagrad dynamic/static >= 1.0; Adam dynamic
>= 180,000 examples/s.

Usage:  python benchmarks/train.py [--quick] [--kerases tf_keras keras3]
                                   [--json out.json]
Run it from outside the repository root so the installed package is imported.
"""
import argparse
import gc
import json
import os
import platform
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
import tf_keras  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as de_keras3  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as de_tf_keras  # pylint: disable=wrong-import-position

ADAGRAD_TARGET_RATIO = 1.0
ADAM_TARGET_EXAMPLES = 180_000
# Each Keras with its dynamic layers; both modules offer the same names for
# everything the model, the optimizers and the timer use.
KERASES = {
    "tf_keras": (tf_keras, de_tf_keras),
    "keras3": (keras, de_keras3),
}
OPTIMIZERS = {
    "adam": lambda k: k.optimizers.Adam(0.001),
    "adagrad": lambda k: k.optimizers.Adagrad(0.05),
}


def make_data(args):
  """(ids [n, ids_per_example], labels [n, 1]) for n = --batches x --batch
  examples; labels follow a fixed id rule."""
  rng = np.random.default_rng(args.seed)
  ranks = rng.zipf(args.zipf_a, size=(args.batches * args.batch,
                                      args.ids_per_example)).astype(np.uint64)
  with np.errstate(over="ignore"):
    ids = (ranks * np.uint64(0x9E3779B97F4A7C15)) % np.uint64(2**args.id_bits)
  ids = ids.astype(np.int64)
  labels = ((ranks[..., 0] % 3) == 0).astype(np.float32)[..., None]
  return ids, labels


def step_timer(k):
  """A `k.callbacks.Callback` (k: tf_keras or keras) whose `times` are the
  wall times of every training step."""

  class StepTimer(k.callbacks.Callback):

    def __init__(self):
      super().__init__()
      self.times = []
      self._start = None

    def on_train_batch_begin(self, batch, logs=None):
      self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      self.times.append(time.perf_counter() - self._start)

  return StepTimer()


def build_model(args, keras_name, dynamic, optimizer):
  k, de_layers = KERASES[keras_name]
  ids = k.Input([args.ids_per_example], dtype="int64")
  if dynamic:
    # The static Embedding's default initializer, so both start alike; it
    # runs only for the ids a batch sees for the first time.
    kwargs = {}
    if keras_name == "keras3":
      kwargs["max_unique_ids"] = args.batch * args.ids_per_example
    emb = de_layers.Embedding(
        args.dim, name="dynamic_emb",
        initializer=k.initializers.RandomUniform(-0.05, 0.05), **kwargs)(ids)
  else:
    hashed = k.layers.Lambda(
        lambda x: tf.math.floormod(x, args.static_rows))(ids)
    emb = k.layers.Embedding(args.static_rows, args.dim)(hashed)
  x = k.layers.Flatten()(emb)
  x = k.layers.Dense(64, activation="relu")(x)
  out = k.layers.Dense(1)(x)
  model = k.Model(ids, out)
  if dynamic:
    optimizer = de.DynamicEmbeddingOptimizer(optimizer)
  model.compile(optimizer=optimizer,
                loss=k.losses.BinaryCrossentropy(from_logits=True))
  return model


def run_case(args, data, keras_name, opt_name, dynamic):
  k = KERASES[keras_name][0]
  k.utils.set_random_seed(args.seed)
  model = build_model(args, keras_name, dynamic, OPTIMIZERS[opt_name](k))
  ids, labels = data
  steps = args.steps
  if not dynamic and opt_name == "adam":
    steps = args.static_adam_steps
  total = args.warmup + steps
  dataset = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(
      args.batch, drop_remainder=True).cache().repeat().prefetch(2)
  timer = step_timer(k)
  # shuffle=False: the dataset is the order (Keras 3 warns otherwise).
  history = model.fit(dataset, epochs=1, steps_per_epoch=total, verbose=0,
                      shuffle=False, callbacks=[timer])
  step_time = float(np.median(timer.times[args.warmup:]))
  result = {
      "keras": keras_name,
      "optimizer": opt_name,
      "model": "dynamic" if dynamic else "static",
      "steps_timed": steps,
      "median_step_ms": round(1e3 * step_time, 2),
      "examples_per_s": round(args.batch / step_time),
      "loss": round(float(history.history["loss"][-1]), 4),
  }
  if dynamic:
    result["table_rows"] = int(model.get_layer("dynamic_emb").params.size())
  # Free this case's tables and threads' work before the next case.
  del model, history, dataset
  k.backend.clear_session()
  gc.collect()
  return result


def run_keras(args, data, keras_name):
  """Every optimizer's dynamic and static case in one Keras; prints them.

  Returns:
    (result rows, {optimizer: summary}).
  """
  results, summary = [], {}
  for opt_name in args.optimizers:
    pair = {}
    for dynamic in (True, False):
      r = run_case(args, data, keras_name, opt_name, dynamic)
      results.append(r)
      pair[r["model"]] = r
      print(f"  {keras_name:8s} {opt_name:8s} {r['model']:8s} "
            f"{r['examples_per_s']:>10,} examples/s  "
            f"({r['median_step_ms']} ms/step, loss {r['loss']})", flush=True)
    ratio = pair["dynamic"]["examples_per_s"] / pair["static"]["examples_per_s"]
    summary[opt_name] = {"dynamic_over_static": round(ratio, 2),
                         "dynamic_examples_per_s":
                             pair["dynamic"]["examples_per_s"]}
    if opt_name == "adagrad":
      verdict = "met" if ratio >= ADAGRAD_TARGET_RATIO else "MISSED"
      print(f"  {keras_name} adagrad: dynamic/static = {ratio:.2f}x "
            f"(target >= {ADAGRAD_TARGET_RATIO}x: {verdict})")
    else:
      ex = pair["dynamic"]["examples_per_s"]
      verdict = "met" if ex >= ADAM_TARGET_EXAMPLES else "MISSED"
      print(f"  {keras_name} adam: dynamic {ex:,} examples/s, {ratio:.1f}x "
            f"static (target >= {ADAM_TARGET_EXAMPLES:,}: {verdict})")
  return results, summary


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--batch", type=int, default=4096)
  parser.add_argument("--ids-per-example", type=int, default=8)
  parser.add_argument("--dim", type=int, default=32)
  parser.add_argument("--zipf-a", type=float, default=1.2)
  parser.add_argument("--id-bits", type=int, default=40)
  parser.add_argument("--static-rows", type=int, default=2**20)
  parser.add_argument("--batches", type=int, default=16)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--static-adam-steps", type=int, default=8)
  parser.add_argument("--kerases", nargs="+", default=list(KERASES),
                      choices=list(KERASES),
                      help="which Kerases to run (default: both)")
  parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS),
                      choices=list(OPTIMIZERS))
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--quick", action="store_true",
                      help="tiny sizes: a smoke run, figures meaningless")
  parser.add_argument("--json", help="also write the results here")
  args = parser.parse_args()
  if args.quick:
    args.batch, args.static_rows, args.batches = 256, 2**12, 4
    args.warmup, args.steps, args.static_adam_steps = 2, 4, 3

  data = make_data(args)
  print(f"batch {args.batch} x {args.ids_per_example} Zipf({args.zipf_a}) ids "
        f"over 2^{args.id_bits}, dim {args.dim}, static rows "
        f"{args.static_rows}; {platform.machine()}, {os.cpu_count()} cores, "
        f"TF {tf.__version__}, tf_keras {tf_keras.__version__}, "
        f"keras {keras.__version__}")
  results, summary = [], {}
  for keras_name in args.kerases:
    rows, summary[keras_name] = run_keras(args, data, keras_name)
    results.extend(rows)
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump({"args": vars(args), "results": results, "summary": summary,
                 "targets": {"adagrad_ratio": ADAGRAD_TARGET_RATIO,
                             "adam_examples_per_s": ADAM_TARGET_EXAMPLES}},
                f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
