"""TFRS (tensorflow-recommenders 0.7.7) models trained on dynamic embeddings.

Run as a script: `python tfrs_models.py MODE` with MODE one of retrieval,
ranking, retrieval_streaming. It prints one JSON object on stdout: per-epoch
losses, evaluation metrics, the baselines they should beat, and the same
figures for a static twin; tests/tfrs/test_tfrs_models.py asserts on it.

TFRS needs `tf.keras` to be tf_keras (Keras 2), so this file sets
`TF_USE_LEGACY_KERAS=1` before TensorFlow is imported; the main test suite
imports TensorFlow with Keras 3 and therefore runs this in a subprocess.

Data (synthetic, seeded): users have raw string ids (b"user_17") and items
int64 ids far from 0 (10**12 + k), so only a hash-table embedding can hold
them without a vocabulary. Every user and item belongs to one of
`N_GROUPS` groups:

  retrieval  each user picks items of their own group (80%) or any item;
             the last 2 interactions of each user are held out.
  ranking    rating = 3 + ([same group] - 0.5) + item quality in [-1, 1)
             + user bias in [-1, 1) + noise(0.1), for 8 items of the user's
             group and 8 others; 20% held out.

Models are `tfrs.Model`s whose towers start with a `de.keras.layers.Embedding`
on the raw ids, trained by `model.fit` with
`de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adagrad(0.1))`:

  retrieval            two towers (embedding -> Dense), tfrs.tasks.Retrieval;
                       top-K metrics in `evaluate` against a BruteForce index,
                       which is then queried with raw user ids.
  retrieval_streaming  the same with the TFRS tutorial's metrics: computed in
                       every training step against a dataset of item ids
                       mapped through the item tower.
  ranking              embeddings concatenated -> Dense -> Dense(1),
                       tfrs.tasks.Ranking with MSE loss and RMSE metric.

Each model is also trained as a static twin: `tf_keras.layers.Embedding`
behind a StringLookup/IntegerLookup vocabulary, with the same initial rows,
Dense initializers, batches and optimizer. Adagrad leaves rows that are not
in a batch untouched in both, so the dynamic model must follow the twin's
loss curve and metrics.
"""

import json
import os
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=wrong-import-position
import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras import layers as de_layers

SEED = 1234
N_USERS = 400
N_ITEMS = 300
N_GROUPS = 10
ITEM_ID_BASE = 10**12
DIM = 16
KS = (1, 5, 10, 50)
# Rows of ids a ranking model's dynamic table has not stored yet.
INITIAL_VALUE = 0.1


def user_ids(users):
  """Raw string ids of user numbers: b"user_<n>"."""
  return np.array([f"user_{u}".encode() for u in users], dtype=object)


def item_ids(items):
  """Raw int64 ids of item numbers: 10**12 + n."""
  return np.asarray(items, dtype=np.int64) + ITEM_ID_BASE


def make_world(rng):
  """Groups of users and items, item qualities and user biases."""
  return {
      "user_group": rng.integers(0, N_GROUPS, N_USERS),
      "item_group": np.arange(N_ITEMS) % N_GROUPS,
      "item_quality": rng.uniform(-1.0, 1.0, N_ITEMS),
      "user_bias": rng.uniform(-1.0, 1.0, N_USERS),
  }


def pick_items(rng, world, user, count, own_share):
  """`count` distinct items for `user`: a share from their own group."""
  own = np.flatnonzero(world["item_group"] == world["user_group"][user])
  n_own = int(round(count * own_share))
  chosen = list(rng.choice(own, size=n_own, replace=False))
  others = np.setdiff1d(np.arange(N_ITEMS), chosen)
  chosen += list(rng.choice(others, size=count - n_own, replace=False))
  return np.array(rng.permutation(chosen))


def retrieval_data(rng, world, per_user=10, held_out=2):
  """(train, test) dicts of user/item ids: interactions mostly in-group."""
  train = {"user_id": [], "item_id": []}
  test = {"user_id": [], "item_id": []}
  for user in range(N_USERS):
    items = pick_items(rng, world, user, per_user, own_share=0.8)
    for split, chunk in ((train, items[:-held_out]), (test, items[-held_out:])):
      split["user_id"].extend(user_ids([user] * len(chunk)))
      split["item_id"].extend(item_ids(chunk))
  return tuple({k: np.array(v) for k, v in split.items()}
               for split in (train, test))


def ranking_data(rng, world, per_user=16, test_share=0.2):
  """(train, test) dicts of user/item ids and ratings."""
  users, items = [], []
  for user in range(N_USERS):
    chosen = pick_items(rng, world, user, per_user, own_share=0.5)
    users.extend([user] * per_user)
    items.extend(chosen)
  users, items = np.array(users), np.array(items)
  match = world["user_group"][users] == world["item_group"][items]
  rating = (3.0 + (match - 0.5) + world["item_quality"][items] +
            world["user_bias"][users] + rng.normal(0.0, 0.1, len(users)))
  order = rng.permutation(len(users))
  n_test = int(len(users) * test_share)
  data = {"user_id": user_ids(users), "item_id": item_ids(items),
          "rating": rating.astype(np.float32)}
  return ({k: v[order[n_test:]] for k, v in data.items()},
          {k: v[order[:n_test]] for k, v in data.items()})


def initial_rows(seed, count):
  """The initial embedding rows shared by the dynamic and static twins."""
  return np.random.default_rng(seed).normal(
      0.0, 0.1, (count, DIM)).astype(np.float32)


def embedding(kind, name, ids, init):
  """Layers mapping raw `ids` to trainable rows: dynamic or static.

  Args:
    kind: "dynamic": a `de.keras.layers.Embedding`; "static": its
      Keras-native twin, a StringLookup/IntegerLookup over `ids` and a
      `tf_keras.layers.Embedding` (row 0 is the out-of-vocabulary row).
    name: Layer name prefix.
    ids: Raw ids (strings or int64), one per row.
    init: Either `[len(ids), DIM]` rows, which the dynamic table is loaded
      with (`params.upsert`) before training, or a number: the dynamic
      table starts empty, unseen ids read rows of that value, and rows are
      inserted by the optimizer's first update of their id.

  Returns:
    A list of layers to apply in order.
  """
  key_dtype = tf.string if ids.dtype == object else tf.int64
  if kind == "dynamic":
    if np.ndim(init) == 0:
      return [de_layers.Embedding(DIM, key_dtype=key_dtype, initializer=init,
                                  name=f"{name}_embedding")]
    layer = de_layers.Embedding(DIM, key_dtype=key_dtype,
                                name=f"{name}_embedding")
    layer.params.upsert(tf.constant(ids), tf.constant(init))
    return [layer]
  lookup = (tf_keras.layers.StringLookup if key_dtype == tf.string else
            tf_keras.layers.IntegerLookup)(vocabulary=ids,
                                           name=f"{name}_lookup")
  table = np.full([len(ids) + 1, DIM], init if np.ndim(init) == 0 else 0.0,
                  np.float32)
  if np.ndim(init):
    table[1:] = init
  return [lookup, tf_keras.layers.Embedding(
      len(ids) + 1, DIM, name=f"{name}_embedding",
      embeddings_initializer=tf_keras.initializers.Constant(table))]


def dense(units, seed, name, activation=None):
  """A Dense layer with a seeded initializer (identical in both twins)."""
  return tf_keras.layers.Dense(
      units, activation=activation, name=name,
      kernel_initializer=tf_keras.initializers.GlorotUniform(seed=seed))


def tower(kind, name, ids, rows, seed):
  """An embedding of raw ids followed by a Dense layer."""
  return tf_keras.Sequential(
      embedding(kind, name, ids, rows) + [dense(DIM, seed, f"{name}_dense")],
      name=f"{name}_tower")


def optimizer():
  """The tf_keras Adagrad, wrapped to train dynamic embeddings.

  The static twin uses the same wrapped optimizer: it trains ordinary
  variables exactly as the plain Adagrad does.
  """
  return de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adagrad(0.1))


class RetrievalModel(tfrs.Model):
  """Two towers (string user ids, int64 item ids) and a Retrieval task.

  Args:
    kind: "dynamic" or "static" embeddings (see `embedding`).
    streaming: False: top-K metrics are computed only in evaluation
      (`compute_metrics=not training`, as TFRS recommends for speed) against
      `candidates`, a BruteForce index built from the trained item tower
      before `evaluate`. True: the TFRS tutorial's idiom, metrics in every
      training step too, against a dataset of item ids mapped through the
      item tower (so the dynamic lookup also runs inside tf.data).
  """

  def __init__(self, kind, streaming=False):
    super().__init__()
    users, items = user_ids(range(N_USERS)), item_ids(range(N_ITEMS))
    self.user_model = tower(kind, "user", users,
                            initial_rows(SEED, N_USERS), SEED)
    self.item_model = tower(kind, "item", items,
                            initial_rows(SEED + 1, N_ITEMS), SEED + 1)
    self.streaming = streaming
    if streaming:
      self.candidates = tf.data.Dataset.from_tensor_slices(items).batch(
          100).map(self.item_model)
    else:
      self.candidates = tfrs.layers.factorized_top_k.BruteForce(k=max(KS))
    self.task = tfrs.tasks.Retrieval(
        metrics=tfrs.metrics.FactorizedTopK(candidates=self.candidates,
                                            ks=KS),
        loss_metrics=[tf_keras.metrics.Mean(name="epoch_loss")])

  def compute_loss(self, inputs, training=False):
    """In-batch softmax loss of the user and item embeddings."""
    return self.task(self.user_model(inputs["user_id"]),
                     self.item_model(inputs["item_id"]),
                     compute_metrics=self.streaming or not training)


class RankingModel(tfrs.Model):
  """User and item embeddings, concatenated, through Dense -> Dense(1).

  The dynamic tables start empty: every row starts at `INITIAL_VALUE`.
  """

  def __init__(self, kind):
    super().__init__()
    self.user_embedding = tf_keras.Sequential(embedding(
        kind, "user", user_ids(range(N_USERS)), INITIAL_VALUE))
    self.item_embedding = tf_keras.Sequential(embedding(
        kind, "item", item_ids(range(N_ITEMS)), INITIAL_VALUE))
    self.hidden = dense(32, SEED, "hidden", activation="relu")
    self.score = dense(1, SEED + 1, "score")
    self.task = tfrs.tasks.Ranking(
        loss=tf_keras.losses.MeanSquaredError(),
        metrics=[tf_keras.metrics.RootMeanSquaredError(name="rmse")],
        loss_metrics=[tf_keras.metrics.Mean(name="epoch_loss")])

  def call(self, inputs):
    """Predicted ratings `[batch, 1]`."""
    both = tf.concat([self.user_embedding(inputs["user_id"]),
                      self.item_embedding(inputs["item_id"])], axis=1)
    return self.score(self.hidden(both))

  def compute_loss(self, inputs, training=False):
    """Mean squared error of the predicted ratings."""
    return self.task(labels=inputs["rating"][:, None],
                     predictions=self(inputs))


def batches(data, batch_size, shuffle):
  """A dataset of dict batches (reshuffled each epoch when training)."""
  ds = tf.data.Dataset.from_tensor_slices(data)
  if shuffle:
    ds = ds.shuffle(len(next(iter(data.values()))), seed=SEED,
                    reshuffle_each_iteration=True)
  return ds.batch(batch_size, drop_remainder=shuffle)


def dynamic_table_sizes(model):
  """Rows held by each dynamic embedding table of `model`."""
  return {layer.name: int(layer.params.size())
          for layer in model.submodules
          if isinstance(layer, de_layers.BasicEmbedding)}


def top_k_figures(logs):
  """The top-K accuracies in Keras logs, as {"top_<k>": value}."""
  return {f"top_{k}": logs[f"factorized_top_k/top_{k}_categorical_accuracy"]
          for k in KS}


def train_retrieval(kind, train, test, epochs, batch_size, streaming=False):
  """Trains and evaluates one retrieval model; returns it and its figures."""
  tf_keras.utils.set_random_seed(SEED)
  model = RetrievalModel(kind, streaming)
  model.compile(optimizer=optimizer())
  history = model.fit(batches(train, batch_size, True), epochs=epochs,
                      verbose=0)
  if not streaming:
    # The TFRS idiom for an index: candidate embeddings from the item tower
    # mapped over a dataset of ids (the dynamic lookup runs in tf.data).
    model.candidates.index_from_dataset(
        tf.data.Dataset.from_tensor_slices(item_ids(range(N_ITEMS))).batch(
            64).map(lambda ids: (ids, model.item_model(ids))))
  evaluation = model.evaluate(batches(test, batch_size, False),
                              return_dict=True, verbose=0)
  figures = {"epoch_losses": history.history["epoch_loss"],
             "metrics": top_k_figures(evaluation),
             "eval_loss": evaluation["epoch_loss"]}
  if streaming:
    figures["train_top_k"] = top_k_figures(history.history)
  return model, figures


def query_index(model, world, k=10, excluded=3):
  """Queries a BruteForce index over the item tower with raw user ids.

  Each of 8 users is queried plainly and with `query_with_exclusions`,
  excluding the first `excluded` items the plain query returned (so the
  excluded query must return the plain query's items shifted by that
  many). Returns shapes and quality figures.
  """
  all_items = item_ids(range(N_ITEMS))
  index = tfrs.layers.factorized_top_k.BruteForce(model.user_model, k=k)
  index.index(model.item_model(tf.constant(all_items)), tf.constant(all_items))
  queried = np.arange(0, N_USERS, N_USERS // 8)
  queries = tf.constant(user_ids(queried))
  scores, found = index(queries)
  _, found_excl = index.query_with_exclusions(queries, found[:, :excluded])
  found_items = found.numpy() - ITEM_ID_BASE
  in_group = (world["item_group"][found_items] ==
              world["user_group"][queried][:, None])
  return {
      "users": len(queried),
      "k": k,
      "scores_shape": scores.shape.as_list(),
      "ids_shape": found.shape.as_list(),
      "ids_dtype": found.dtype.name,
      "ids_known": bool(np.isin(found_items, np.arange(N_ITEMS)).all()),
      "ids_distinct": bool(all(len(set(row)) == k for row in found_items)),
      "scores_sorted": bool(np.all(np.diff(scores.numpy(), axis=1) <= 0)),
      "in_group_share": float(in_group.mean()),
      "random_in_group_share": 1.0 / N_GROUPS,
      "exclusions_shape": found_excl.shape.as_list(),
      "excluded_returned": any(
          np.isin(row, dropped).any() for row, dropped in
          zip(found_excl.numpy(), found.numpy()[:, :excluded])),
      "exclusions_shift_results": bool(np.array_equal(
          found_excl.numpy()[:, :k - excluded], found.numpy()[:, excluded:])),
  }


def distinct_ids(data):
  """Number of distinct user and item ids in `data`, by table name."""
  return {"user_embedding": len(set(data["user_id"].tolist())),
          "item_embedding": len(set(data["item_id"].tolist()))}


def run_retrieval(epochs=8, batch_size=128, streaming=False):
  """Retrieval on dynamic embeddings and on its static twin; the report.

  With `streaming`, top-K metrics are computed in every training step (the
  TFRS tutorial idiom) instead of only in evaluation, and the index is not
  queried.
  """
  rng = np.random.default_rng(SEED)
  world = make_world(rng)
  train, test = retrieval_data(rng, world)
  model, report = train_retrieval("dynamic", train, test, epochs, batch_size,
                                  streaming=streaming)
  _, static = train_retrieval("static", train, test, epochs, batch_size,
                              streaming=streaming)
  report.update(
      static=static,
      random_top_k={f"top_{k}": k / N_ITEMS for k in KS},
      table_sizes=dynamic_table_sizes(model),
      expected_table_sizes={"user_embedding": N_USERS,
                            "item_embedding": N_ITEMS})
  if not streaming:
    report["query"] = query_index(model, world)
  return report


def train_ranking(kind, train, test, epochs, batch_size):
  """Trains and evaluates one ranking model; returns it and its figures."""
  tf_keras.utils.set_random_seed(SEED)
  model = RankingModel(kind)
  model.compile(optimizer=optimizer())
  history = model.fit(batches(train, batch_size, True), epochs=epochs,
                      verbose=0)
  evaluation = model.evaluate(batches(test, batch_size, False),
                              return_dict=True, verbose=0)
  return model, {
      "epoch_losses": history.history["epoch_loss"],
      "train_rmse": history.history["rmse"],
      "metrics": {"rmse": evaluation["rmse"], "mse": evaluation["epoch_loss"]},
  }


def run_ranking(epochs=10, batch_size=128):
  """Ranking on dynamic embeddings and on its static twin; the report."""
  rng = np.random.default_rng(SEED)
  world = make_world(rng)
  train, test = ranking_data(rng, world)
  model, report = train_ranking("dynamic", train, test, epochs, batch_size)
  _, static = train_ranking("static", train, test, epochs, batch_size)
  mean_rating = float(train["rating"].mean())
  report.update(
      static=static,
      baseline_rmse=float(np.sqrt(np.mean((test["rating"] - mean_rating)**2))),
      table_sizes=dynamic_table_sizes(model),
      # Lookups do not insert: only ids the optimizer updated are stored.
      expected_table_sizes=distinct_ids(train))
  return report


def main(argv):
  """Runs the mode named in argv[1] and prints its report as JSON."""
  modes = {"retrieval": run_retrieval, "ranking": run_ranking,
           "retrieval_streaming": lambda: run_retrieval(epochs=2,
                                                        streaming=True)}
  if len(argv) != 2 or argv[1] not in modes:
    sys.exit(f"usage: {argv[0]} {'|'.join(modes)}")
  start = time.perf_counter()
  report = modes[argv[1]]()
  report.update(mode=argv[1], seconds=time.perf_counter() - start,
                users=N_USERS, items=N_ITEMS, groups=N_GROUPS)
  print(json.dumps(report))


if __name__ == "__main__":
  main(sys.argv)
