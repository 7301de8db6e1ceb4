"""Bounded-table benchmark: the cost of eviction policies on de.CuckooHashTable.

Measures insert and lookup throughput (keys/s) of `de.CuckooHashTable` with
each bounding policy, in one process and interleaved round by round, in an order rotated each
round (so drift on a shared machine hits every case alike):

  off     plain table, no bookkeeping, no bound
  track   track_changes=True: per-row bookkeeping, no bound
  lru     max_capacity, EvictStrategy.LRU
  lfu     max_capacity, EvictStrategy.LFU
  ttl     max_capacity, EvictStrategy.TTL with ttl=--ttl steps
  custom  max_capacity, EvictStrategy.CUSTOMIZED, scores passed per batch
  admit   max_capacity, LRU, admit_after=2 (count-min sketch admission)

The key stream: --stream int64 keys in batches of --batch, drawn from
--key-space keys (bounded Zipf, exponent --zipf-a; or uniform), scattered
over the int64 range, with float32 rows of width --dim. The stream holds
many more distinct keys than --capacity, so the bounded tables evict all
along. Insert: the whole stream into a fresh table (one write call per
batch). Lookup: the whole stream again, from the table the last insert
filled (its hit rate is shown: a bounded table holds fewer keys).

Each op is a `tf.function` with a fixed input signature that takes the
table's resource handle (traced once, no retrace per table) and runs the
kernel the public `insert`/`lookup` methods run. One warm-up round, then
--repeats timed rounds; best and median are reported, and each policy's
best throughput as a ratio of "off" (also the median over rounds of the
ratio within a round, which drift between rounds does not move; the two
disagree when the machine is noisy). The target (the bounded-tables issue):
LRU and LFU bookkeeping cost at most 20% of throughput, i.e. ratio >= 0.80
for insert and for lookup.

Usage:  python benchmarks/bounded.py [--quick] [--json out.json]
Run it from outside the repository root so the installed package is imported.
"""
import argparse
import json
import os
import shlex
import statistics
import sys
import time

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons.dynamic_embedding.tables import cuckoo_hashtable as _ch  # pylint: disable=wrong-import-position

from hash_table import machine  # pylint: disable=wrong-import-position,wrong-import-order

CASES = ("off", "track", "lru", "lfu", "ttl", "custom", "admit")
BOUNDED = ("lru", "lfu", "ttl", "custom", "admit")  # the ones with a capacity
OPS = ("insert", "lookup")
TARGET_CASES = ("lru", "lfu")
TARGET = 0.80  # policy throughput >= 0.80 x "off" (bookkeeping <= 20%)
VALUE_POOL = 4  # distinct value batches, cycled (contents do not matter)


def _custom_scores(ranks, key_space):
  """CUSTOMIZED scores: hot (low-rank) keys score high, so they stay."""
  return (key_space - ranks).astype(np.int64)


def config_for(case, args):
  """The table config of a case."""
  if case == "off":
    return de.CuckooHashTableConfig()
  if case == "track":
    return de.CuckooHashTableConfig(track_changes=True)
  bound = {"max_capacity": args.capacity}
  if case == "lru":
    return de.CuckooHashTableConfig(evict_strategy=de.EvictStrategy.LRU, **bound)
  if case == "lfu":
    return de.CuckooHashTableConfig(evict_strategy=de.EvictStrategy.LFU, **bound)
  if case == "ttl":
    return de.CuckooHashTableConfig(evict_strategy=de.EvictStrategy.TTL,
                                    ttl=args.ttl, **bound)
  if case == "custom":
    # The benchmark passes the same scores explicitly (see make_data); the
    # config needs the function for CUSTOMIZED.
    return de.CuckooHashTableConfig(
        evict_strategy=de.EvictStrategy.CUSTOMIZED,
        gen_scores_fn=lambda keys: tf.zeros_like(keys, tf.int64), **bound)
  return de.CuckooHashTableConfig(admit_after=2, **bound)


def make_fns(dim):
  """(insert, lookup) tf.functions taking the table handle. insert returns
  the number of keys the write dropped (evicted or refused)."""
  ops = _ch._ops()  # pylint: disable=protected-access
  h, k = tf.TensorSpec([], tf.resource), tf.TensorSpec([None], tf.int64)
  rows, row = tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([dim], tf.float32)

  @tf.function(input_signature=[h, k, rows, k])
  def insert_fn(hd, ks, vs, scores):
    return tf.size(ops.tfra_hash_table_insert(hd, ks, vs, scores))

  @tf.function(input_signature=[h, k, row])
  def lookup_fn(hd, ks, d):
    return ops.tfra_hash_table_find(hd, ks, d)

  @tf.function(input_signature=[h, k, row])
  def hits_fn(hd, ks, d):
    return tf.reduce_sum(tf.cast(
        ops.tfra_hash_table_find_with_exists(hd, ks, d)[1], tf.int64))

  return insert_fn, lookup_fn, hits_fn


def zipf_ranks(rng, n, key_space, a):
  """n ranks in [0, key_space), P(rank r) ~ (r + 1)^-a (continuous inverse
  CDF of a power law on [1, key_space + 1], floored)."""
  u = rng.random(n)
  hi = float(key_space + 1)
  if abs(a - 1.0) < 1e-9:
    x = np.exp(u * np.log(hi))
  else:
    x = ((hi ** (1 - a) - 1) * u + 1) ** (1 / (1 - a))
  return np.minimum(np.floor(x).astype(np.int64) - 1, key_space - 1)


def make_data(args):
  """Key, value and score batches of the stream, and its distinct count."""
  rng = np.random.default_rng(args.seed)
  if args.dist == "zipf":
    ranks = zipf_ranks(rng, args.stream, args.key_space, args.zipf_a)
  else:
    ranks = rng.integers(0, args.key_space, size=args.stream, dtype=np.int64)
  # Scatter ranks over positive int64 (odd multiplier: a bijection mod 2^64).
  keys = ((ranks.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
          >> np.uint64(1)).astype(np.int64)
  scores = _custom_scores(ranks, args.key_space)
  b = args.batch
  kb = [tf.constant(keys[i:i + b]) for i in range(0, args.stream, b)]
  sb = [tf.constant(scores[i:i + b]) for i in range(0, args.stream, b)]
  pool = [tf.constant(rng.standard_normal((b, args.dim), dtype=np.float32))
          for _ in range(VALUE_POOL)]
  vb = [pool[i % VALUE_POOL][:k.shape[0]] for i, k in enumerate(kb)]
  return kb, vb, sb, int(np.unique(keys).size)


def run_insert(case, args, data, insert_fn):
  """A fresh table filled with the stream: (table, seconds, dropped keys)."""
  kb, vb, sb, _ = data
  table = de.CuckooHashTable(tf.int64, tf.float32, tf.zeros([args.dim]),
                             config=config_for(case, args))
  h = table.resource_handle
  none = tf.zeros([0], tf.int64)
  dropped = []
  t0 = time.perf_counter()
  for k, v, s in zip(kb, vb, sb):
    dropped.append(insert_fn(h, k, v, s if case == "custom" else none))
  elapsed = time.perf_counter() - t0
  return table, elapsed, int(sum(int(d) for d in dropped))


def run_lookup(table, args, data, lookup_fn):
  default = tf.zeros([args.dim], tf.float32)
  h = table.resource_handle
  t0 = time.perf_counter()
  for k in data[0]:
    lookup_fn(h, k, default)
  return time.perf_counter() - t0


def bench(args):
  """Seconds per (case, op) over the timed rounds, plus per-case facts."""
  data = make_data(args)
  insert_fn, lookup_fn, hits_fn = make_fns(args.dim)
  times = {(c, op): [] for c in CASES for op in OPS}
  facts = {}
  tables = {}
  for rnd in range(args.repeats + 1):  # round 0 is the warm-up
    # Rotate the order each round, so no case always runs first or last.
    order = CASES[rnd % len(CASES):] + CASES[:rnd % len(CASES)]
    for case in order:
      tables.pop(case, None)  # free the previous table before the next fill
      table, secs, dropped = run_insert(case, args, data, insert_fn)
      tables[case] = table
      size = int(table.size())
      if case in BOUNDED:
        assert size <= args.capacity, (case, size, args.capacity)
      if rnd:
        times[(case, "insert")].append(secs)
      facts[case] = {"size": size, "dropped": dropped}
    for case in order:
      secs = run_lookup(tables[case], args, data, lookup_fn)
      if rnd:
        times[(case, "lookup")].append(secs)
  default = tf.zeros([args.dim], tf.float32)
  for case in CASES:
    hits = sum(int(hits_fn(tables[case].resource_handle, k, default))
               for k in data[0])
    facts[case]["hit_rate"] = hits / args.stream
  return times, facts, data[3]


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--stream", type=int, help="keys per pass (default 2000000; --quick 20000)")
  p.add_argument("--key-space", type=int, help="distinct keys the stream draws from (default 10000000; --quick 200000)")
  p.add_argument("--capacity", type=int, help="max_capacity of the bounded cases (default 100000; --quick 2000)")
  p.add_argument("--batch", type=int, help="keys per write/lookup call (default 16384; --quick 1024)")
  p.add_argument("--dim", type=int, default=32, help="value width (default 32)")
  p.add_argument("--ttl", type=int, default=16, help="ttl of the TTL case, in steps (default 16)")
  p.add_argument("--dist", choices=("zipf", "uniform"), default="zipf", help="key distribution (default zipf)")
  p.add_argument("--zipf-a", type=float, default=1.05, help="Zipf exponent (default 1.05)")
  p.add_argument("--repeats", type=int, help="timed rounds after one warm-up (default 5; --quick 1)")
  p.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
  p.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes")
  p.add_argument("--json", metavar="PATH", help="also write all results as JSON")
  a = p.parse_args(argv)
  a.stream = a.stream or (20_000 if a.quick else 2_000_000)
  a.key_space = a.key_space or (200_000 if a.quick else 10_000_000)
  a.capacity = a.capacity or (2_000 if a.quick else 100_000)
  a.batch = a.batch or (1_024 if a.quick else 16_384)
  a.repeats = a.repeats or (1 if a.quick else 5)
  return a


def main(argv=None):
  args = parse_args(sys.argv[1:] if argv is None else argv)
  start = time.perf_counter()
  m = machine()
  cmd = shlex.join([sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
  dist = f"zipf(a={args.zipf_a:g})" if args.dist == "zipf" else "uniform"
  print(f"# bounded-table benchmark: {m['nproc']} CPUs ({m['cpu']}), TF {m['tf']}, numpy {m['numpy']}")
  print(f"# stream={args.stream:,} keys ({dist} over {args.key_space:,}) batch={args.batch:,} "
        f"dim={args.dim} capacity={args.capacity:,} ttl={args.ttl}; "
        f"best/median of {args.repeats} after 1 warm-up")
  print(f"# reproduce: cd {shlex.quote(os.getcwd())} && {cmd}")
  times, facts, distinct = bench(args)
  print(f"# distinct keys in the stream: {distinct:,} "
        f"({distinct / args.capacity:.1f}x the capacity)")
  out = {"machine": m, "command": cmd,
         "config": {k: getattr(args, k) for k in
                    ("stream", "key_space", "capacity", "batch", "dim", "ttl",
                     "dist", "zipf_a", "repeats", "seed")},
         "distinct_keys": distinct, "results": [], "targets": []}
  best = {key: args.stream / min(t) for key, t in times.items()}
  median = {key: args.stream / statistics.median(t) for key, t in times.items()}
  # Per round, case vs "off" of the same round; the median over rounds.
  round_ratio = {(c, op): statistics.median(
      o / t for o, t in zip(times[("off", op)], times[(c, op)]))
                 for c, op in times}

  print("\nThroughput, M keys/s (best / median; ratio = best / best of "
        "'off'; rnd = median of per-round ratios)")
  hdr = (f"{'case':<7}{'rows':>9}{'dropped':>11}{'hit%':>6}  "
         + "".join(f"{op + ' best':>13}{'median':>8}{'ratio':>7}{'rnd':>6}"
                   for op in OPS))
  print(hdr + "\n" + "-" * len(hdr))
  for case in CASES:
    f = facts[case]
    cells = ""
    for op in OPS:
      ratio = best[(case, op)] / best[("off", op)]
      cells += (f"{best[(case, op)] / 1e6:>13.2f}{median[(case, op)] / 1e6:>8.2f}"
                f"{ratio:>7.2f}{round_ratio[(case, op)]:>6.2f}")
      out["results"].append({"case": case, "op": op,
                             "keys_per_s": best[(case, op)],
                             "median_keys_per_s": median[(case, op)],
                             "ratio_vs_off": ratio,
                             "round_ratio_vs_off": round_ratio[(case, op)],
                             "seconds": times[(case, op)]})
    print(f"{case:<7}{f['size']:>9,}{f['dropped']:>11,}{100 * f['hit_rate']:>6.1f}  "
          + cells, flush=True)
  out["tables"] = facts

  print(f"\nTarget: LRU/LFU bookkeeping costs <= {1 - TARGET:.0%} of throughput "
        f"(ratio vs 'off' >= {TARGET:.2f})")
  for case in TARGET_CASES:
    for op in OPS:
      ratio = best[(case, op)] / best[("off", op)]
      ok = ratio >= TARGET
      print(f"  {case.upper()} {op:<7} {ratio:>5.2f}  {'met' if ok else 'not met'}"
            f"   (median per-round ratio {round_ratio[(case, op)]:.2f})")
      out["targets"].append({"case": case, "op": op, "ratio": ratio,
                             "round_ratio": round_ratio[(case, op)],
                             "target": TARGET, "goal": f">= {TARGET:.2f}",
                             "met": ok})
  out["elapsed_s"] = time.perf_counter() - start
  print(f"\n# total {out['elapsed_s']:.0f} s")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
