"""Data for the model zoo: Criteo-shaped synthetic data, Criteo/Avazu files.

  synthetic_ctr          impressions with click and conversion labels drawn
                         from a hidden model with pairwise field interactions
  synthetic_retrieval    (user, history, next item) pairs from hidden user
                         and item vectors
  read_ctr_files         a tf.data pipeline over Criteo TSV / Avazu CSV files

The synthetic ids are raw 32-bit hashes (as in Criteo's released logs), not
0..n-1 indices: the models see the kind of keys a dynamic table is for.
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

_HASH = 2654435761  # odd: id -> hash is a bijection modulo 2**32


def _raw_ids(ranks, field):
  """Rank r of field f -> a 32-bit raw id, distinct within the field."""
  return ((ranks.astype(np.uint64) * _HASH + field * 40503 + 1) %
          (1 << 32)).astype(np.int64)


def _zipf_ranks(rng, n, vocabulary, exponent):
  """`n` ranks in [0, vocabulary) with P(r) proportional to (r+1)^-exponent."""
  weights = np.arange(1, vocabulary + 1, dtype=np.float64) ** -exponent
  cdf = np.cumsum(weights)
  return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]),
                    vocabulary - 1)


def _standardized(x):
  return (x - x.mean()) / max(float(x.std()), 1e-12)


def _task_logit(rng, ranks, dense, vocabularies, latent_dim, base_rate):
  """One task's hidden logit: per-id weights, pairwise latent interactions
  and dense terms, each scaled to unit variance, with the bias that gives
  `base_rate` on average."""
  n, fields = ranks.shape
  linear = np.zeros(n)
  summed = np.zeros((n, latent_dim))
  squares = np.zeros(n)
  for f in range(fields):
    weight = rng.normal(size=vocabularies[f])
    latent = rng.normal(size=(vocabularies[f], latent_dim))
    linear += weight[ranks[:, f]]
    z = latent[ranks[:, f]]
    summed += z
    squares += (z * z).sum(1)
  pairwise = 0.5 * ((summed * summed).sum(1) - squares)
  coef = rng.normal(size=dense.shape[1]) if dense.shape[1] else None
  dense_term = dense @ coef if coef is not None else np.zeros(n)
  if dense.shape[1] >= 2:
    dense_term = dense_term + 2.0 * dense[:, 0] * dense[:, 1]
  logit = (_standardized(linear) + 2.0 * _standardized(pairwise) +
           0.5 * (_standardized(dense_term) if coef is not None else 0.0))
  # The bias with the wanted mean probability (bisection on the mean).
  lo, hi = -20.0, 20.0
  for _ in range(60):
    mid = (lo + hi) / 2
    if np.mean(1 / (1 + np.exp(-(logit + mid)))) < base_rate:
      lo = mid
    else:
      hi = mid
  return logit + lo


def synthetic_ctr(num_examples, num_fields=26, num_dense=13,
                  vocabulary_size=10_000, zipf_exponent=1.1, latent_dim=4,
                  ctr=0.25, cvr=0.2, seed=0):
  """Criteo-shaped impressions with click and conversion labels.

  Field f's ids are drawn by a Zipf law over `vocabulary_size` values
  (field f has `max(10, vocabulary_size >> (f % 8))` of them: a mix of big
  and small fields) and written as raw 32-bit hashes. Dense features are
  `log1p` of log-normal counts (as Criteo's integer fields are usually fed).
  A click is drawn from `sigmoid(logit)` where the hidden logit adds per-id
  weights, the pairwise inner products of per-id latent vectors (what FM
  and deep models can learn and logistic regression cannot) and dense terms
  with one product of two features; a conversion is drawn the same way from
  a second hidden model, and only for clicked impressions.

  Args:
    num_examples: Impressions, >= 1.
    num_fields: Categorical fields, >= 1 (Criteo: 26).
    num_dense: Dense features, >= 0 (Criteo: 13).
    vocabulary_size: Distinct ids of the biggest fields, >= 10.
    zipf_exponent: The Zipf law's exponent, > 0.
    latent_dim: Width of the hidden latent vectors, >= 1.
    ctr: Mean click probability, in (0, 1).
    cvr: Mean conversion probability of a click, in (0, 1).
    seed: The generator's seed.

  Returns:
    A dict of numpy arrays: `"categorical"` int64 `[n, num_fields]`,
    `"dense"` float32 `[n, num_dense]`, `"click"` and `"conversion"`
    float32 `[n]` (0/1; conversion implies click).

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it.

  Example:
    >>> from tensorflow_recommenders_addons.models import data
    >>> d = data.synthetic_ctr(2000, num_fields=3, num_dense=2, seed=1)
    >>> d["categorical"].shape, d["dense"].shape
    ((2000, 3), (2000, 2))
    >>> bool(((d["conversion"] == 1) <= (d["click"] == 1)).all())
    True
    >>> bool(0.2 < d["click"].mean() < 0.3)
    True
  """
  num_examples = v.check_int("num_examples", num_examples, 1)
  num_fields = v.check_int("num_fields", num_fields, 1)
  num_dense = v.check_int("num_dense", num_dense, 0)
  vocabulary_size = v.check_int("vocabulary_size", vocabulary_size, 10)
  latent_dim = v.check_int("latent_dim", latent_dim, 1)
  v.check_number("zipf_exponent", zipf_exponent, 0)
  v.check_number("ctr", ctr, 0, 1)
  v.check_number("cvr", cvr, 0, 1)
  rng = np.random.default_rng(seed)
  vocabularies = [max(10, vocabulary_size >> (f % 8))
                  for f in range(num_fields)]
  ranks = np.stack([_zipf_ranks(rng, num_examples, vocabularies[f],
                                zipf_exponent)
                    for f in range(num_fields)], axis=1)
  counts = rng.lognormal(1.0, 1.2, size=(num_examples, num_dense))
  dense = np.log1p(np.floor(counts)).astype(np.float32)
  centered = (dense - dense.mean(0)) / np.maximum(dense.std(0), 1e-6) \
      if num_dense else dense
  click_logit = _task_logit(rng, ranks, centered, vocabularies, latent_dim,
                            ctr)
  cvr_logit = _task_logit(rng, ranks, centered, vocabularies, latent_dim,
                          cvr)
  click = rng.random(num_examples) < 1 / (1 + np.exp(-click_logit))
  conversion = click & (rng.random(num_examples) <
                        1 / (1 + np.exp(-cvr_logit)))
  categorical = np.stack([_raw_ids(ranks[:, f], f)
                          for f in range(num_fields)], axis=1)
  return {"categorical": categorical, "dense": dense,
          "click": click.astype(np.float32),
          "conversion": conversion.astype(np.float32)}


def synthetic_retrieval(num_examples, num_users=2000, num_items=1000,
                        history_length=10, latent_dim=8, zipf_exponent=1.0,
                        seed=0):
  """(user, history, next item) examples from hidden vectors.

  Each user and item has a hidden unit vector; an item's popularity follows
  a Zipf law. A user's items are drawn with probability proportional to
  `popularity * exp(4 u . v)`; the first `history_length` form the history
  (most recent last) and the next one is the label. Ids are raw 32-bit
  hashes; item id 0 never occurs, so 0 can pad histories.

  Args:
    num_examples: Examples, >= 1.
    num_users: Users, >= 1.
    num_items: Items, >= 2.
    history_length: History items per example, >= 1.
    latent_dim: Width of the hidden vectors, >= 1.
    zipf_exponent: Popularity exponent, >= 0.
    seed: The generator's seed.

  Returns:
    A dict of numpy arrays: `"user"` int64 `[n, 1]`, `"history"` int64
    `[n, history_length]`, `"item"` int64 `[n, 1]`, `"item_probability"`
    float32 `[n]` (the item's marginal probability among labels, for the
    log-Q correction) and `"items"` int64 `[num_items]` (every item id).

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it.

  Example:
    >>> from tensorflow_recommenders_addons.models import data
    >>> d = data.synthetic_retrieval(100, history_length=4, seed=2)
    >>> d["history"].shape, d["item"].shape, d["items"].shape
    ((100, 4), (100, 1), (1000,))
  """
  num_examples = v.check_int("num_examples", num_examples, 1)
  num_users = v.check_int("num_users", num_users, 1)
  num_items = v.check_int("num_items", num_items, 2)
  history_length = v.check_int("history_length", history_length, 1)
  latent_dim = v.check_int("latent_dim", latent_dim, 1)
  rng = np.random.default_rng(seed)

  def unit(n):
    x = rng.normal(size=(n, latent_dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)

  users, items = unit(num_users), unit(num_items)
  popularity = np.arange(1, num_items + 1, dtype=np.float64) ** \
      -float(zipf_exponent)
  who = rng.integers(0, num_users, num_examples)
  picked = np.empty((num_examples, history_length + 1), np.int64)
  for start in range(0, num_examples, 1024):  # [chunk, items] at a time
    chunk = who[start:start + 1024]
    cdf = np.cumsum(popularity[None, :] *
                    np.exp(4.0 * users[chunk] @ items.T), axis=1)
    draws = rng.random((len(chunk), history_length + 1)) * cdf[:, -1:]
    for i in range(len(chunk)):
      picked[start + i] = np.searchsorted(cdf[i], draws[i])
  picked = np.minimum(picked, num_items - 1)
  label = picked[:, -1]
  marginal = np.bincount(label, minlength=num_items) / num_examples
  item_ids = _raw_ids(np.arange(num_items), 1)
  return {"user": _raw_ids(who, 0)[:, None],
          "history": item_ids[picked[:, :-1]],
          "item": item_ids[label][:, None],
          "item_probability": marginal[label].astype(np.float32),
          "items": item_ids}


_LAYOUTS = {
    # name: (separator, header lines, label column, dense columns,
    #        categorical columns, columns)
    "criteo": ("\t", 0, 0, range(1, 14), range(14, 40), 40),
    "avazu": (",", 1, 1, range(0), range(2, 24), 24),
}


def read_ctr_files(paths, layout="criteo", batch_size=1024):
  """A `tf.data.Dataset` of `(features, click)` batches from log files.

  Criteo (Kaggle/Terabyte TSV): label, 13 integer fields, 26 hashed
  categorical fields; empty fields are allowed (integers read 0, strings
  stay ""). Avazu CSV: a header line, then id, click, and 22 categorical
  fields (hour included). Features are `{"categorical": string
  [B, fields]}` plus, for Criteo, `"dense": float32 [B, 13]` as
  `log1p(max(x, 0))`; the click is float32 `[B, 1]`.

  Args:
    paths: A file path or a list of them.
    layout: "criteo" or "avazu".
    batch_size: Lines per batch, >= 1.

  Returns:
    The dataset (feed it to a model with `key_dtype=tf.string`).

  Raises:
    tf.errors.InvalidArgumentError: another layout or a bad batch size;
      when iterated, a line with another number of columns.

  Example:
    >>> import os, tempfile
    >>> from tensorflow_recommenders_addons.models import data
    >>> path = os.path.join(tempfile.mkdtemp(), "day_0.tsv")
    >>> row = ["1"] + ["3"] * 13 + ["68fd1e64"] * 25 + [""]
    >>> _ = open(path, "w").write("\\t".join(row) + "\\n")
    >>> x, y = next(iter(data.read_ctr_files(path)))
    >>> x["categorical"].shape.as_list(), round(float(x["dense"][0, 0]), 3)
    ([1, 26], 1.386)
  """
  if layout not in _LAYOUTS:
    raise v.invalid(f"layout: must be one of {sorted(_LAYOUTS)}, got "
                    f"{layout!r}")
  batch_size = v.check_int("batch_size", batch_size, 1)
  sep, header, label, dense, categorical, columns = _LAYOUTS[layout]
  paths = [paths] if isinstance(paths, str) else list(paths)
  lines = tf.data.Dataset.from_tensor_slices(paths).flat_map(
      lambda p: tf.data.TextLineDataset(p).skip(header))

  def parse(batch):
    split = tf.strings.split(batch, sep)
    with tf.control_dependencies([tf.debugging.Assert(
        tf.reduce_all(tf.equal(split.row_lengths(), columns)),
        [f"read_ctr_files: {layout} lines need {columns} columns"])]):
      cells = tf.identity(split.to_tensor(""))
    features = {"categorical": tf.gather(cells, list(categorical), axis=1)}
    if len(dense):
      numbers = tf.gather(cells, list(dense), axis=1)
      numbers = tf.where(numbers == "", "0", numbers)
      features["dense"] = tf.math.log1p(tf.maximum(
          tf.strings.to_number(numbers, tf.float32), 0.0))
    click = tf.strings.to_number(cells[:, label:label + 1], tf.float32)
    return features, click

  return lines.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
