"""Two-tower retrieval in Keras 3 on raw string ids, with dynamic embeddings.

Users ("user_17") and items ("item_203") each go through a tower: a
Keras 3 dynamic `Embedding` keyed by the raw string (no vocabulary; a row
appears when an id is first trained) and a small Dense layer. The model is
trained with `model.fit` and an in-batch softmax: in a batch of (user, item)
pairs, each user's logits are its scores against every item of the batch,
and the label is its own item (the diagonal). Training does not use TFRS,
which does not support Keras 3.

The synthetic data has structure to learn: users and items fall into
clusters, and a user mostly interacts with items of its own cluster. Recall@K
is measured on held-out pairs: score the user against the item tower's
embeddings of every item, and count the pairs whose item ranks in the top K
(random ranking: K / number of items).

Run: .venv/bin/python examples/retrieval_keras3.py [--epochs 5 ...]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3  # pylint: disable=wrong-import-position


def make_data(num_users, num_items, clusters, pairs_per_user, noise, seed):
  """(user ids, item ids) of the interaction pairs, as string arrays.

  User u and item i belong to clusters u % clusters and i % clusters; each
  pair's item is drawn from the user's cluster, or uniformly from all items
  with probability `noise`.
  """
  rng = np.random.default_rng(seed)
  users = np.repeat(np.arange(num_users), pairs_per_user)
  per_cluster = num_items // clusters
  in_cluster = (users % clusters +
                clusters * rng.integers(0, per_cluster, size=users.size))
  anywhere = rng.integers(0, num_items, size=users.size)
  items = np.where(rng.random(users.size) < noise, anywhere, in_cluster)
  order = rng.permutation(users.size)
  return (np.char.add("user_", users[order].astype(str)).astype(object),
          np.char.add("item_", items[order].astype(str)).astype(object))


def tower(name, dim, max_unique_ids):
  """String ids [batch] -> L2-normalized embeddings [batch, dim]."""
  ids = keras.Input(shape=(), dtype="string", name=f"{name}_id")
  rows = keras3.Embedding(
      dim, key_dtype=tf.string, name=f"{name}_emb",
      # The most distinct ids of one training batch: the batch size.
      max_unique_ids=max_unique_ids,
      initializer=keras.initializers.RandomNormal(stddev=0.1))(ids)
  out = keras.layers.Dense(dim, name=f"{name}_dense")(rows)
  out = keras.layers.UnitNormalization(name=f"{name}_norm")(out)
  return keras.Model(ids, out, name=f"{name}_tower")


class TwoTower(keras.Model):
  """`{"user": ids, "item": ids}` -> (user embeddings, item embeddings),
  trained with an in-batch softmax over cosine scores / `temperature`."""

  def __init__(self, dim, max_unique_ids, temperature=0.1, **kwargs):
    super().__init__(**kwargs)
    self.user_tower = tower("user", dim, max_unique_ids)
    self.item_tower = tower("item", dim, max_unique_ids)
    self.temperature = temperature

  def call(self, inputs):
    # One call of each tower per step: a Keras 3 dynamic layer takes one
    # gradient-carrying call per training step.
    return self.user_tower(inputs["user"]), self.item_tower(inputs["item"])

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    del x, y, sample_weight, training
    users, items = y_pred
    logits = tf.matmul(users, items, transpose_b=True) / self.temperature
    labels = tf.range(tf.shape(logits)[0])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))


def recall_at_k(model, users, items, all_items, k, batch_size):
  """The fraction of (user, item) pairs whose item is among the user's top
  `k` of `all_items` (scored by the towers' dot product)."""
  # Inference calls see at most max_unique_ids distinct ids each, like a
  # training batch: predict in batches of that size.
  candidates = model.item_tower.predict(all_items, batch_size=batch_size,
                                        verbose=0)
  queries = model.user_tower.predict(users, batch_size=batch_size, verbose=0)
  _, top = tf.math.top_k(tf.matmul(queries, candidates, transpose_b=True), k)
  position = {item: i for i, item in enumerate(all_items)}
  truth = np.array([position[item] for item in items])
  return float(np.mean(np.any(top.numpy() == truth[:, None], axis=1)))


def train(num_users=2000, num_items=400, clusters=20, pairs_per_user=12,
          noise=0.1, dim=32, batch_size=256, epochs=5, learning_rate=0.01,
          seed=0):
  """Trains the two-tower model on synthetic pairs (a tenth held out).

  Returns:
    A dict: `model` (the trained `TwoTower`), `held_out` ((user ids,
    item ids) of the held-out pairs), `losses` (per epoch), `seconds`
    (wall time of fit).
  """
  keras.utils.set_random_seed(seed)
  users, items = make_data(num_users, num_items, clusters, pairs_per_user,
                           noise, seed)
  held_out = users.size // 10
  train_pairs = {"user": users[held_out:], "item": items[held_out:]}

  model = TwoTower(dim, max_unique_ids=batch_size)
  # The wrapper keeps Adam's slots of each embedding row in tables too.
  model.compile(optimizer=de.DynamicEmbeddingOptimizer(
      keras.optimizers.Adam(learning_rate)))
  start = time.perf_counter()
  history = model.fit(train_pairs, batch_size=batch_size, epochs=epochs,
                      shuffle=True, verbose=0)
  seconds = time.perf_counter() - start
  return {"model": model, "held_out": (users[:held_out], items[:held_out]),
          "losses": [float(loss) for loss in history.history["loss"]],
          "seconds": seconds}


def run(num_users=2000, num_items=400, clusters=20, pairs_per_user=12,
        noise=0.1, dim=32, batch_size=256, epochs=5, learning_rate=0.01,
        k=10, seed=0, verbose=True):
  """Trains the two-tower model and measures recall@k on held-out pairs.

  Returns:
    A dict: `losses` (per epoch), `recall` (recall@k after training),
    `random_recall` (k / num_items), `seconds` (wall time of fit).
  """
  trained = train(num_users, num_items, clusters, pairs_per_user, noise, dim,
                  batch_size, epochs, learning_rate, seed)
  model, (users, items) = trained["model"], trained["held_out"]
  losses, seconds = trained["losses"], trained["seconds"]
  all_items = np.char.add("item_", np.arange(num_items).astype(str)).astype(
      object)
  recall = recall_at_k(model, users, items, all_items, k, batch_size)
  result = {"losses": losses, "recall": recall,
            "random_recall": k / num_items, "seconds": seconds}
  if verbose:
    for epoch, loss in enumerate(losses, 1):
      print(f"epoch {epoch}: in-batch softmax loss {loss:.4f}")
    rows = int(model.user_tower.get_layer("user_emb").params.size())
    pairs = num_users * pairs_per_user - users.size
    print(f"trained {pairs} pairs in {seconds:.1f} s; "
          f"{rows} user rows in the table")
    print(f"recall@{k} on {users.size} held-out pairs: {recall:.3f} "
          f"(random: {k / num_items:.3f}, {recall * num_items / k:.1f}x)")
  return result


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--users", type=int, default=2000)
  parser.add_argument("--items", type=int, default=400)
  parser.add_argument("--clusters", type=int, default=20)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--k", type=int, default=10)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  run(num_users=args.users, num_items=args.items, clusters=args.clusters,
      epochs=args.epochs, batch_size=args.batch, k=args.k, seed=args.seed)
  return 0


if __name__ == "__main__":
  sys.exit(main())
