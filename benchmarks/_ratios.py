"""Ratio extractors of run_all.py: one function per benchmark JSON format.

Not a benchmark: run_all.py lists it as a helper. Each extractor takes a
benchmark's JSON report (the dict its --json wrote) and returns normalized
ratio rows (see `row`), with the ratio the script itself prints (its
direction and its baseline). Targets are the numbers each script writes
into its report next to its verdicts, so a target changed in a script is
not left stale here.
"""

import re


def row(benchmark, case, metric, ours, baseline, baseline_name, ratio,
        higher_is_better, target=None, target_of="ratio", target_met=None,
        target_applies=True):
  """One normalized ratio row of the report.

  Args:
    benchmark: benchmark name (the script's stem).
    case: what was measured, e.g. "insert, dim 8".
    metric: unit of `ours` and `baseline`, e.g. "keys/s".
    ours, baseline: the two measurements.
    baseline_name: what `baseline` measured, e.g. "MutableHashTable".
    ratio: the script's ratio (usually ours / baseline).
    higher_is_better: direction of `ratio` (and of `ours`).
    target: the goal, or None.
    target_of: "ratio", or "ours" for a goal on `ours` itself.
    target_met: whether the goal is met (None: no target).
    target_applies: False where the script says the goal is for information
      only at this size (e.g. hash_table below 1 M entries).

  Returns:
    The row as a dict; target fields only when there is a target.
  """
  out = {"benchmark": benchmark, "case": case, "metric": metric,
         "ours": ours, "baseline": baseline, "baseline_name": baseline_name,
         "ratio": ratio, "higher_is_better": higher_is_better}
  if target is not None:
    if target_met is None:
      value = ratio if target_of == "ratio" else ours
      target_met = value >= target if higher_is_better else value <= target
    out.update(target=target, target_of=target_of, target_met=bool(target_met),
               target_applies=bool(target_applies))
  return out


def hash_table(data):
  """ours vs MutableHashTable and DenseHashTable: throughput and memory."""
  speed, memory = {}, {}
  for t in data["targets"]:
    m = re.match(r"(\S+) vs MutableHashTable @ dim (\d+)$", t["name"])
    if m:
      speed[(m.group(1), int(m.group(2)))] = t
    m = re.match(r"ours RSS growth / \(key\+value\) @ dim (\d+)$", t["name"])
    if m:
      memory[int(m.group(1))] = t
  rate = {(r["dim"], r["op"], r["table"]): r["keys_per_s"]
          for r in data["throughput"]}
  rows = []
  for dim, op, table in rate:
    if table != "ours":
      continue
    for other, name in (("mutable", "MutableHashTable"),
                        ("dense", "DenseHashTable")):
      ours, base = rate[(dim, op, "ours")], rate[(dim, op, other)]
      t = speed.get((op, dim)) if other == "mutable" else None
      rows.append(row(
          "hash_table", f"{op}, dim {dim}", "keys/s", ours, base, name,
          ours / base, True,
          target=t["target"] if t else None,
          target_met=t["pass"] if t else None,
          target_applies=t["applies"] if t else True))
  mem = {(m["dim"], m["kind"]): m for m in data["memory"]}
  for (dim, kind), m in mem.items():
    if kind != "ours":
      continue
    t = memory.get(dim)
    rows.append(row(
        "hash_table", f"memory, dim {dim}", "bytes/entry",
        m["bytes_per_entry"], m["kv_bytes"], "raw key+value bytes",
        m["ratio"], False, target=t["target"] if t else None,
        target_met=t["pass"] if t else None,
        target_applies=t["applies"] if t else True))
    for other, name in (("mutable", "MutableHashTable"),
                        ("dense", "DenseHashTable")):
      base = mem[(dim, other)]["bytes_per_entry"]
      rows.append(row("hash_table", f"memory, dim {dim}", "bytes/entry",
                      m["bytes_per_entry"], base, name,
                      m["bytes_per_entry"] / base, False))
  return rows


def lookup(data):
  """de.embedding_lookup_unique vs tf.nn.embedding_lookup (time ratio) and
  the batch ops vs their TF equivalents (speed-up)."""
  batch = data["args"]["batch"]
  rows = []
  for r in data["results"]:
    ours = batch / r["ours_examples_per_s"]
    rows.append(row("lookup", r["mode"], "s/batch", ours,
                    batch / r["static_examples_per_s"],
                    "tf.nn.embedding_lookup", r["time_ratio"], False,
                    target=r["target"], target_met=r["met"]))
    if "time_ratio_vs_merged" in r:
      rows.append(row("lookup", r["mode"], "s/batch", ours,
                      batch / r["static_merged_examples_per_s"],
                      "embedding_lookup + merge", r["time_ratio_vs_merged"],
                      False))
  for o in data["batch_ops"]:
    rows.append(row("lookup", o["op"], "examples/s", o["ours_examples_per_s"],
                    o["tf_examples_per_s"], o["tf_op"], o["speedup"], True))
  return rows


def train(data):
  """Dynamic vs static Keras Embedding, examples/s per Keras and optimizer."""
  goal_ratio = data["targets"]["adagrad_ratio"]
  goal_adam = data["targets"]["adam_examples_per_s"]
  by = {(r["keras"], r["optimizer"], r["model"]): r for r in data["results"]}
  rows = []
  for keras_name, opt, model in by:
    if model != "dynamic" or (keras_name, opt, "static") not in by:
      continue
    ours = by[(keras_name, opt, "dynamic")]["examples_per_s"]
    base = by[(keras_name, opt, "static")]["examples_per_s"]
    target, target_of = ((goal_ratio, "ratio") if opt == "adagrad"
                         else (goal_adam, "ours"))
    rows.append(row("train", f"{keras_name} {opt}", "examples/s", ours, base,
                    "static Embedding", ours / base, True, target=target,
                    target_of=target_of))
  return rows


def bounded(data):
  """Each bounding policy vs the plain table ("off"), keys/s."""
  best = {(r["case"], r["op"]): r["keys_per_s"] for r in data["results"]}
  targets = {(t["case"], t["op"]): t for t in data["targets"]}
  rows = []
  for r in data["results"]:
    if r["case"] == "off":
      continue
    t = targets.get((r["case"], r["op"]))
    rows.append(row(
        "bounded", f"{r['case']} {r['op']}", "keys/s", r["keys_per_s"],
        best[("off", r["op"])], "unbounded table (off)", r["ratio_vs_off"],
        True, target=t["target"] if t else None,
        target_met=t["met"] if t else None))
  return rows


def saving(data):
  """FileSystemSaver vs the tensor bundle: speed, and peak extra memory as
  a share of the payload."""
  by = {(r["case"], r["phase"]): r for r in data["results"]}
  rows = []
  for r in data["ratios"]:
    phase, rows_n = r["phase"], data["rows"]
    saver, bundle = by[("saver", phase)], by[("bundle", phase)]
    rows.append(row("saving", phase, "rows/s", rows_n / saver["seconds"],
                    rows_n / bundle["seconds"], "tensor bundle",
                    r["speedup"], True))
  for t in data["targets"]:
    saver = by[("saver", t["phase"])]
    rows.append(row("saving", f"{t['phase']} peak extra memory", "peak extra bytes",
                    saver["extra"], saver["table_bytes"], "payload",
                    t["share"], False, target=t["target"],
                    target_met=t["met"]))
  return rows

