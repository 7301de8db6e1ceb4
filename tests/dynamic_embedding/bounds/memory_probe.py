"""Streams distinct Zipf ids through a bounded de.Variable; prints JSON.

Run by test_memory_bound.py in a fresh process, so that the resident memory
it reads (/proc/self/statm) is this stream's alone:

  python memory_probe.py MODE --distinct N --capacity C [--batch B] [--dim D]

The stream: batch b holds `fresh` never-seen ids (ranks b*fresh, ...) and
`batch - fresh` repeats drawn by a Zipf law (exponent 1.05) over the ranks
seen so far, hot ranks first; ranks are scattered over int64 by a bijection.
It ends once at least N distinct ids have been seen (whole batches), so the
count is exact without keeping a set of them. Each batch is generated from its own seed: nothing grows.

MODE write: per batch `var.lookup(ids)` then `var.upsert(ids, rows)`.
MODE train: per batch one step of tf_keras Adam wrapped in
  `de.DynamicEmbeddingOptimizer` over `de.embedding_lookup(var, ids,
  return_trainable=True)` (a tf.function, traced once).

Output: one JSON object with, per sample (every 1/20 of the stream), the
ids seen, RSS bytes, the variable's size and its slot tables' sizes; and
the largest variable size seen after any batch.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
import tf_keras  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

ZIPF_A = 1.05
SAMPLES = 20


def rss_bytes():
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def zipf_ranks(rng, n, space):
  """n ranks in [0, space), P(r) ~ (r + 1)^-ZIPF_A (inverse CDF)."""
  hi = float(space + 1)
  x = ((hi ** (1 - ZIPF_A) - 1) * rng.random(n) + 1) ** (1 / (1 - ZIPF_A))
  return np.minimum(np.floor(x).astype(np.int64) - 1, space - 1)


def batch_ids(b, batch, fresh, seed):
  """Batch b of the stream (module docstring), as int64 ids."""
  rng = np.random.default_rng((seed, b))
  new = np.arange(b * fresh, (b + 1) * fresh, dtype=np.int64)
  seen = b * fresh
  old = zipf_ranks(rng, batch - fresh, seen) if seen else \
      rng.integers(0, fresh, batch - fresh)
  ranks = rng.permutation(np.concatenate([new, old]))
  # Odd multiplier: a bijection of uint64, so distinct ranks stay distinct.
  return ((ranks.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
          >> np.uint64(1)).astype(np.int64)


def make_variable(args):
  config = de.CuckooHashTableConfig(max_capacity=args.capacity,
                                    evict_strategy=de.EvictStrategy.LRU)
  return de.Variable(key_dtype=tf.int64, dim=args.dim,
                     initializer=tf_keras.initializers.RandomNormal(0.0, 0.1),
                     kv_creator=de.CuckooHashTableCreator(config),
                     name="bounded_probe")


def write_step(var, args):
  def step(ids):
    var.lookup(ids)
    var.upsert(ids, tf.ones([tf.size(ids), args.dim]))

  return step


def train_step(var, args):
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.01))
  target = tf.ones([args.batch, args.dim])

  @tf.function(input_signature=[tf.TensorSpec([args.batch], tf.int64)])
  def step(ids):
    with tf.GradientTape() as tape:
      emb, tw = de.embedding_lookup(var, ids, name="probe",
                                    return_trainable=True)
      loss = tf.reduce_mean(tf.square(emb - target))
    opt.apply_gradients([(tape.gradient(loss, tw), tw)])

  return step, opt


def main(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("mode", choices=("write", "train"))
  p.add_argument("--distinct", type=int, required=True)
  p.add_argument("--capacity", type=int, required=True)
  p.add_argument("--batch", type=int, default=8192)
  p.add_argument("--fresh", type=int, help="new ids per batch (default batch/2)")
  p.add_argument("--dim", type=int, default=16)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)
  fresh = args.fresh or args.batch // 2
  batches = -(-args.distinct // fresh)
  var = make_variable(args)
  opt = None
  if args.mode == "write":
    step = write_step(var, args)
  else:
    step, opt = train_step(var, args)
  every = max(1, batches // SAMPLES)
  samples, max_size = [], 0
  for b in range(batches):
    step(tf.constant(batch_ids(b, args.batch, fresh, args.seed)))
    size = int(var.size())
    max_size = max(max_size, size)
    if (b + 1) % every == 0 or b == batches - 1:
      slots = [int(s.size()) for s in var.get_slot_variables(opt)] \
          if opt is not None else []
      samples.append({"distinct": (b + 1) * fresh,
                      "rss": rss_bytes(), "size": size, "slot_sizes": slots})
  print(json.dumps({"mode": args.mode, "distinct": batches * fresh,
                    "capacity": args.capacity, "batches": batches,
                    "max_size": max_size, "samples": samples}))


if __name__ == "__main__":
  main(sys.argv[1:])
