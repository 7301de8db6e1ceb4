"""Lookup benchmark: de.embedding_lookup_unique vs tf.nn.embedding_lookup.

Batches of --batch x --ids-per-example Zipf-distributed int64 ids (exponent
--zipf-a, over --rows distinct ids, np.random.default_rng(seed)) are looked
up, for dim --dim, in
  * ours:   `de.embedding_lookup_unique` on a trainable `de.Variable`
            holding all --rows rows (dedup, table find, wrapper, gather);
  * static: `tf.nn.embedding_lookup` on a `tf.Variable` of shape
            [--rows, dim] holding the same rows (the ids index it directly).
Two modes, each a `tf.function` traced once and called on pre-built batches:
  * forward:          the lookup output (reduced to a scalar so nothing is
                      copied back);
  * forward+backward: `tf.GradientTape` gradient of sum(out^2) with respect
                      to the wrapper (ours: dense, one merged row per
                      distinct id) or the variable (static: the raw
                      IndexedSlices, one row per id occurrence, not merged,
                      so the baseline does strictly less work than ours).
                      For information it also times static with the merge
                      tf_keras optimizers perform before a sparse update
                      (tf.unique + unsorted_segment_sum), which yields what
                      ours yields.
It prints examples/s (best of --repeats after one warm-up pass) and the time
ratio ours/static. Target: ours within 2x of static (ratio <= 2.0).
It also times the two batch ops of the lookup path against their TF
equivalents on the same batches: de.unique vs tf.unique, and
de.segment_sum_rows vs tf.math.unsorted_segment_sum merging a [batch*ids,
dim] gradient per distinct id. Each timing includes the tf.function call
overhead (~0.2 ms here), so the speed-ups of the ops alone are larger.

Usage:  python benchmarks/lookup.py [--quick] [--json out.json]
Run it from outside the repository root so the installed package is imported.
"""
import argparse
import json
import os
import platform
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

TARGET = 2.0  # ours' time per batch <= 2x the static gather's


def make_batches(args):
  rng = np.random.default_rng(args.seed)
  batches = []
  for _ in range(args.batches):
    ranks = rng.zipf(args.zipf_a, size=(args.batch, args.ids_per_example))
    batches.append(tf.constant((ranks - 1) % args.rows, tf.int64))
  return batches


def make_cases(args):
  rows = np.random.default_rng(args.seed + 1).standard_normal(
      (args.rows, args.dim)).astype(np.float32)
  static = tf.Variable(rows)
  var = de.Variable(tf.int64, tf.float32, dim=args.dim, name="bench")
  var.upsert(tf.range(args.rows, dtype=tf.int64), rows)
  spec = [tf.TensorSpec([args.batch, args.ids_per_example], tf.int64)]

  @tf.function(input_signature=spec)
  def ours_fwd(ids):
    return tf.reduce_sum(de.embedding_lookup_unique(var, ids, name="bench"))

  @tf.function(input_signature=spec)
  def static_fwd(ids):
    return tf.reduce_sum(tf.nn.embedding_lookup(static, ids))

  @tf.function(input_signature=spec)
  def ours_bwd(ids):
    with tf.GradientTape() as tape:
      out, wrapper = de.embedding_lookup_unique(var, ids, name="bench",
                                                return_trainable=True)
      loss = tf.reduce_sum(out * out)
    return tf.reduce_sum(tape.gradient(loss, wrapper))

  @tf.function(input_signature=spec)
  def static_bwd(ids):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(tf.nn.embedding_lookup(static, ids)))
    return tf.reduce_sum(tape.gradient(loss, static).values)

  @tf.function(input_signature=spec)
  def static_bwd_merged(ids):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(tf.nn.embedding_lookup(static, ids)))
    grad = tape.gradient(loss, static)
    # What tf_keras optimizers do before a sparse update
    # (_deduplicate_indexed_slices): one summed row per distinct id.
    uniq, idx = tf.unique(grad.indices)
    return tf.reduce_sum(
        tf.math.unsorted_segment_sum(grad.values, idx, tf.size(uniq)))

  return {("forward", "ours"): ours_fwd, ("forward", "static"): static_fwd,
          ("forward+backward", "ours"): ours_bwd,
          ("forward+backward", "static"): static_bwd,
          ("forward+backward", "static-merged"): static_bwd_merged}


def make_batch_op_cases(args):
  """de.unique vs tf.unique, and de.segment_sum_rows vs unsorted_segment_sum
  on the gradient of a batch (one row per id occurrence, merged per id)."""
  spec = [tf.TensorSpec([args.batch, args.ids_per_example], tf.int64)]
  dy = tf.random.stateless_normal([args.batch * args.ids_per_example, args.dim],
                                  seed=[3, 4])

  def unique_with(fn):
    return tf.function(lambda ids: tf.reduce_sum(fn(tf.reshape(ids, [-1]))[1]),
                       input_signature=spec)

  def merge_with(fn):
    def body(ids):
      uniq, idx = tf.unique(tf.reshape(ids, [-1]))
      return tf.reduce_sum(fn(dy, idx, tf.size(uniq)))
    return tf.function(body, input_signature=spec)

  return [("unique", unique_with(de.unique), unique_with(tf.unique),
           "tf.unique"),
          ("merge rows", merge_with(de.segment_sum_rows),
           merge_with(tf.math.unsorted_segment_sum), "unsorted_segment_sum")]


def time_fn(fn, batches, repeats):
  for ids in batches:  # warm-up (trace, allocator)
    fn(ids).numpy()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    for ids in batches:
      out = fn(ids)
    out.numpy()
    best = min(best, (time.perf_counter() - start) / len(batches))
  return best


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--rows", type=int, default=1 << 20, help="distinct ids / static rows (default 2^20)")
  p.add_argument("--batch", type=int, default=4096, help="examples per batch (default 4096)")
  p.add_argument("--ids-per-example", type=int, default=8, help="ids per example (default 8)")
  p.add_argument("--dim", type=int, default=32, help="embedding width (default 32)")
  p.add_argument("--zipf-a", type=float, default=1.2, help="Zipf exponent (default 1.2)")
  p.add_argument("--batches", type=int, default=20, help="pre-built batches per pass (default 20)")
  p.add_argument("--repeats", type=int, default=5, help="timed passes; best is reported (default 5)")
  p.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
  p.add_argument("--quick", action="store_true", help="CI smoke: 2^16 rows, 5 batches, 2 repeats")
  p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
  p.add_argument("--check-targets", action="store_true", help="exit 1 if a ratio misses the target")
  args = p.parse_args(argv)
  if args.quick:
    args.rows, args.batches, args.repeats = 1 << 16, 5, 2
  return args


def main(argv=None):
  args = parse_args(argv)
  batches = make_batches(args)
  unique = np.mean([len(np.unique(b.numpy())) for b in batches])
  cases = make_cases(args)
  print(f"# lookup: batch {args.batch} x {args.ids_per_example} ids, dim "
        f"{args.dim}, Zipf a={args.zipf_a} over {args.rows} rows "
        f"({unique:.0f} distinct ids per batch on average); "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, TF {tf.__version__}")
  results = []
  print(f"{'mode':<18}{'ours ex/s':>14}{'static ex/s':>14}{'time ratio':>12}"
        f"{'static merged ex/s':>20}{'ratio':>8}")
  for mode in ("forward", "forward+backward"):
    t_ours = time_fn(cases[(mode, "ours")], batches, args.repeats)
    t_static = time_fn(cases[(mode, "static")], batches, args.repeats)
    ratio = t_ours / t_static
    row = {"mode": mode, "ours_examples_per_s": args.batch / t_ours,
           "static_examples_per_s": args.batch / t_static,
           "time_ratio": ratio, "target": TARGET, "met": ratio <= TARGET}
    line = (f"{mode:<18}{args.batch / t_ours:>14,.0f}"
            f"{args.batch / t_static:>14,.0f}{ratio:>11.2f}x")
    if (mode, "static-merged") in cases:
      t_merged = time_fn(cases[(mode, "static-merged")], batches, args.repeats)
      row["static_merged_examples_per_s"] = args.batch / t_merged
      row["time_ratio_vs_merged"] = t_ours / t_merged
      line += f"{args.batch / t_merged:>20,.0f}{t_ours / t_merged:>7.2f}x"
    results.append(row)
    print(line)
  ops = []
  print(f"{'batch op':<18}{'ours ex/s':>14}{'TF ex/s':>14}{'speed-up':>12}  TF op")
  for label, ours_fn, tf_fn, tf_name in make_batch_op_cases(args):
    t_ours = time_fn(ours_fn, batches, args.repeats)
    t_tf = time_fn(tf_fn, batches, args.repeats)
    ops.append({"op": label, "ours_examples_per_s": args.batch / t_ours,
                "tf_examples_per_s": args.batch / t_tf, "tf_op": tf_name,
                "speedup": t_tf / t_ours})
    print(f"{label:<18}{args.batch / t_ours:>14,.0f}{args.batch / t_tf:>14,.0f}"
          f"{t_tf / t_ours:>11.2f}x  {tf_name}")
  print(f"Targets: ours within {TARGET:.0f}x of the static gather: " + ", ".join(
      f"{r['mode']} {'met' if r['met'] else 'MISSED'}" for r in results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump({"args": vars(args), "distinct_ids_per_batch": unique,
                 "results": results, "batch_ops": ops}, f, indent=2)
  if args.check_targets and not all(r["met"] for r in results):
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
