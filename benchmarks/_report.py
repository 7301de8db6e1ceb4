"""Report helpers of run_all.py: machine info, the summary table, the plots.

Not a benchmark: run_all.py lists it as a helper. Imports neither
TensorFlow nor the package (run_all stays light); matplotlib is imported on
the first plot, with the Agg backend (no display needed).
"""

import collections
import importlib.metadata
import math
import os
import platform
import subprocess

# Bar colours: target met, missed, missed where the script says the target
# is for information only at this size, no target.
COLOURS = {"met": "#2ca02c", "missed": "#d62728", "info": "#ff7f0e",
           "none": "#4c72b0"}
TARGET_COLOUR = "#9467bd"
LEGEND = {"met": "target met", "missed": "target missed",
          "info": "target missed (info only at this size)", "none": "no target"}


def machine(repo):
  """CPU model, core counts, Python, TensorFlow and git revision, without
  importing TensorFlow (the benchmarks' own machine() does, at a cost)."""
  cpu = "unknown CPU"
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      cpu = next(l.split(":", 1)[1].strip() for l in f
                 if l.startswith("model name"))
  except (OSError, StopIteration):
    pass
  tf_version = None
  for dist in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"):
    try:
      tf_version = importlib.metadata.version(dist)
      break
    except importlib.metadata.PackageNotFoundError:
      continue
  try:
    rev = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    rev = None
  usable = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count())
  return {"cpu": cpu, "nproc": os.cpu_count(), "usable_cpus": usable,
          "tf": tf_version, "python": platform.python_version(),
          "platform": platform.platform(), "git": rev}


def verdict(r):
  """"met", "missed", "info" (missed, but the target does not apply at this
  size) or "none" (no target) for one ratio row."""
  if "target" not in r:
    return "none"
  if r["target_met"]:
    return "met"
  return "missed" if r["target_applies"] else "info"


def target_text(r):
  """The goal as printed in the summary, e.g. ">= 5x" or ">= 180,000
  examples/s"."""
  if "target" not in r:
    return "-"
  op = ">=" if r["higher_is_better"] else "<="
  if r["target_of"] == "ratio":
    return f"{op} {r['target']:g}x"
  return f"{op} {r['target']:,.0f} {r['metric']}"


def summary_table(entries):
  """The end-of-run table: one line per ratio row, one per failed script."""
  head = ("benchmark", "case", "ratio", "better", "vs baseline", "target",
          "result")
  lines = []
  for e in entries:
    if not e["ok"]:
      lines.append((e["name"], f"FAILED: {e['error']}",) + ("",) * 5)
      continue
    for r in e["ratios"]:
      v = verdict(r)
      lines.append((e["name"], r["case"], ratio_text(r["ratio"]),
                    "higher" if r["higher_is_better"] else "lower",
                    r["baseline_name"], target_text(r),
                    {"none": "-", "info": "missed (info only)"}.get(v, v)))
  widths = [max(len(str(x[i])) for x in [head] + lines)
            for i in range(len(head))]
  widths[1] = min(widths[1], 40)
  fmt = lambda x: "  ".join(f"{str(c):<{w}}" for c, w in zip(x, widths)).rstrip()
  return "\n".join([fmt(head), "-" * len(fmt(head))] + [fmt(x) for x in lines])


def _pyplot():
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def _legend(fig, kinds, extra):
  """One legend for the figure, below the panels (never over a bar)."""
  from matplotlib.patches import Patch  # pylint: disable=import-outside-toplevel
  handles = extra + [Patch(color=COLOURS[k], label=LEGEND[k])
                     for k in COLOURS if k in kinds]
  fig.legend(handles=handles, loc="lower center", ncol=len(handles),
             fontsize=8, frameon=False)


def ratio_text(ratio):
  """"1.34x", "0.0123x" (small shares keep 3 significant digits)."""
  if not math.isfinite(ratio):
    return "n/a"
  return f"{ratio:.2f}x" if abs(ratio) >= 0.1 or ratio == 0 else f"{ratio:.3g}x"


def _values(ax, values, texts, lo, hi):
  """Each bar's value: inside its end (white) when it has room, else just
  outside it."""
  span = hi - lo
  for i, (v, text) in enumerate(zip(values, texts)):
    inside = abs(v) > 0.18 * span and len(text) < 10
    sign = 1 if v >= 0 else -1
    x = v - sign * 0.01 * span if inside else v + sign * 0.01 * span
    ha = ("right" if sign > 0 else "left") if inside else \
         ("left" if sign > 0 else "right")
    ax.text(x, i, text, va="center", ha=ha, fontsize=8,
            color="white" if inside else "black")


def _panel(ax, rows):
  """Horizontal bars of rows' ratios, the baseline at 1.0, target marks.
  Returns the legend entries it used: (verdict kinds, has target marks)."""
  names = list(dict.fromkeys(r["baseline_name"] for r in rows))
  labels = [r["case"] + (f" vs {r['baseline_name']}" if len(names) > 1 else "")
            for r in rows]
  values = [r["ratio"] if math.isfinite(r["ratio"]) else 0.0 for r in rows]
  kinds = [verdict(r) for r in rows]
  y = range(len(rows))
  ax.barh(y, values, color=[COLOURS[k] for k in kinds], height=0.6)
  ax.set_yticks(list(y), labels, fontsize=9)
  ax.invert_yaxis()
  ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
  goals = [(i, r["target"]) for i, r in enumerate(rows)
           if r.get("target_of") == "ratio"]
  for i, goal in goals:
    ax.vlines(goal, i - 0.42, i + 0.42, color=TARGET_COLOUR, linewidth=2.5)
  hi = max(values + [1.0] + [g for _, g in goals])
  lo = min(values + [0.0])
  texts = [ratio_text(r["ratio"]) + (
      f"  (ours {r['ours']:,.0f} {r['metric']}, target {target_text(r)})"
      if r.get("target_of") == "ours" else "") for r in rows]
  _values(ax, values, texts, lo, hi)
  ax.set_xlim(lo - (0.12 * (hi - lo) if lo < 0 else 0), hi + 0.12 * (hi - lo))
  ax.set_xlabel("ratio ours / baseline (1.0 = baseline)")
  ax.set_ylabel("case")
  ax.grid(axis="x", alpha=0.3)
  return set(kinds), bool(goals)


def _extra_legend(goals):
  from matplotlib.lines import Line2D  # pylint: disable=import-outside-toplevel
  extra = [Line2D([], [], color="black", linestyle="--", label="baseline (1.0)")]
  if goals:
    extra.append(Line2D([], [], color=TARGET_COLOUR, linewidth=2.5,
                        label="target"))
  return extra


def plot_benchmark(name, rows, path, what):
  """One PNG for a benchmark: a panel per (metric, direction) of its rows.

  Args:
    name: the benchmark's name (title).
    rows: its normalized ratio rows (not empty).
    path: where to write the PNG.
    what: one line saying what is compared, for the title.
  """
  plt = _pyplot()
  groups = collections.defaultdict(list)
  for r in rows:
    groups[(r["metric"], r["higher_is_better"])].append(r)
  sizes = [len(g) for g in groups.values()]
  fig, axes = plt.subplots(
      len(groups), 1, squeeze=False,
      figsize=(10, 1.0 + 1.6 * len(groups) + 0.34 * sum(sizes)),
      gridspec_kw={"height_ratios": [n + 2.5 for n in sizes]})
  kinds, goals = set(), False
  for ax, ((metric, higher), g) in zip(axes[:, 0], groups.items()):
    k, has_goals = _panel(ax, g)
    kinds, goals = kinds | k, goals or has_goals
    names = ", ".join(dict.fromkeys(r["baseline_name"] for r in g))
    ax.set_title(f"{metric}: ours / {names}, "
                 f"{'higher' if higher else 'lower'} is better", fontsize=10)
  fig.suptitle(f"{name}.py: {what}", fontsize=12)
  _legend(fig, kinds, _extra_legend(goals))
  fig.tight_layout(rect=(0, 0.04 * 6 / fig.get_figheight(), 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def plot_summary(rows, path):
  """summary.png: every row with a target, as measured / target (or target
  / measured where lower is better), log scale, 1 = on the target. Returns
  False (and writes nothing) when no row has a target."""
  rows = [r for r in rows if "target" in r]
  if not rows:
    return False
  plt = _pyplot()
  cap = 100.0
  margins = []
  for r in rows:
    value = r["ratio"] if r["target_of"] == "ratio" else r["ours"]
    if r["higher_is_better"]:
      m = value / r["target"] if value > 0 else 1 / cap
    else:  # a share at or below 0 meets any positive goal
      m = r["target"] / value if value > 0 else cap
    margins.append(min(max(m, 1 / cap), cap))
  fig, ax = plt.subplots(figsize=(10, 2.0 + 0.34 * len(rows)))
  kinds = [verdict(r) for r in rows]
  y = range(len(rows))
  # Bars grow from the target (1): right where it is met, left where missed.
  ax.barh(y, [m - 1 for m in margins], left=1,
          color=[COLOURS[k] for k in kinds], height=0.6)
  ax.set_xscale("log")
  ax.set_yticks(list(y), [f"{r['benchmark']}: {r['case']} ({target_text(r)})"
                          for r in rows], fontsize=9)
  ax.invert_yaxis()
  ax.axvline(1.0, color=TARGET_COLOUR, linewidth=2)
  for i, m in enumerate(margins):
    text = f">= {cap:g}" if m >= cap else f"{m:.2f}"
    ax.text(m * 1.04 if m >= 1 else m / 1.04, i, text, va="center",
            ha="left" if m >= 1 else "right", fontsize=8)
  lo, hi = min(margins + [1.0]) / 1.6, max(margins + [1.0]) * 2.2
  ax.set_xlim(lo, hi)
  ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
           if lo <= t <= hi]
  ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
  ax.xaxis.set_minor_formatter(plt.NullFormatter())
  ax.set_xlabel("margin on the target, log scale: measured / target "
                "(target / measured where lower is better)")
  ax.set_ylabel("target")
  ax.grid(axis="x", alpha=0.3)
  ax.set_title("All targets: how far each is met (> 1) or missed (< 1)")
  _legend(fig, set(kinds), [])
  fig.tight_layout(rect=(0, 0.04 * 6 / fig.get_figheight(), 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True
