"""Trains the two-tower retrieval model and exports it for serving.

The model is the one of examples/retrieval_keras3.py (users and items as raw
string ids, Keras 3 dynamic `Embedding` layers, in-batch softmax). The export
directory gets:

  user_tower/          a SavedModel of a `tf.Module` with two functions:
                       `serve(user_ids)` -> L2-normalized embeddings
                       [n, dim], and `known(user_ids)` -> bool [n] (whether
                       the id has a row, i.e. was seen in training)
  items.voy            an HNSW index (inner product) of the item embeddings
  items.json           the item id of each index label, and the index metadata
  item_embeddings.npy  the same embeddings, for exact (brute-force) checks

`serve` calls the trained Keras user tower, traced and saved under
`de.enable_inference_mode()`: its dynamic-embedding lookups then only read
the table (no row is inserted; ids never seen in training read the
initializer's rows) and write no training state either (in training mode a
Keras 3 layer's call also marks its row buffer for the coming gradient). The
export checks that the table sizes stay the same while the towers embed
every id and `serve` runs. With a random initializer the rows of unknown
ids are drawn afresh at every call, so `serve` gives unknown users a fixed
cold-start embedding instead: the normalized mean embedding of the known
users (it ranks the items liked across all users first), computed here at
export time.

The approximate-nearest-neighbour index is built with Voyager (Spotify's
HNSW library, `pip install voyager`): current releases with manylinux wheels
for x86_64 and aarch64 and Python 3.9+ (the versions this project supports),
a 0.3 MB wheel with no dependencies (faiss-cpu is 19 MB and needs Python
3.10+; hnswlib, whose HNSW Voyager builds on, has had no release since 2023
and ships no wheels; usearch pulls in two more packages), inner-product and
cosine spaces, one-file save/load, and queries safe from many threads.

Run: python examples/serving/train_and_export.py --export-dir /tmp/retrieval
"""

import argparse
import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
import voyager  # pylint: disable=wrong-import-position

from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import retrieval_keras3  # pylint: disable=wrong-import-position

USER_TOWER = "user_tower"
INDEX_FILE = "items.voy"
ITEMS_FILE = "items.json"
EMBEDDINGS_FILE = "item_embeddings.npy"
_IDS = tf.TensorSpec([None], tf.string, name="user_ids")


class UserTower(tf.Module):
  """The user tower for serving (trace it in inference mode: `export`).

  Args:
    tower: The trained user tower (a Keras model: string ids ->
      embeddings) whose dynamic embedding layer is named `user_emb`.
    cold_start: The embedding `[dim]` served for ids not in the table.
  """

  def __init__(self, tower, cold_start):
    super().__init__(name="user_tower")
    self.tower = tower
    self.table = tower.get_layer("user_emb").params
    self.cold_start = tf.Variable(cold_start, trainable=False,
                                  name="cold_start")

  @tf.function(input_signature=[_IDS])
  def serve(self, user_ids):
    """User ids [n] -> embeddings [n, dim] (unknown ids: `cold_start`)."""
    embeddings = self.tower(user_ids)
    known = self.known(user_ids)
    return tf.where(known[:, tf.newaxis], embeddings,
                    tf.cast(self.cold_start, embeddings.dtype))

  @tf.function(input_signature=[_IDS])
  def known(self, user_ids):
    """User ids [n] -> bool [n]: whether each id has a row in the table."""
    _, exists = self.table.lookup(user_ids, return_exists=True)
    return exists


@contextlib.contextmanager
def inference_mode():
  """Builds read-only lookups inside; restores the previous mode after."""
  previous = de.get_model_mode()
  de.enable_inference_mode()
  try:
    yield
  finally:
    if previous == de.ModelMode.TRAIN:
      de.enable_train_mode()


def _decoded(keys):
  return [k.decode("utf-8") for k in keys.numpy()]


def table_ids(layer):
  """The ids that have a row in `layer`'s table, sorted."""
  keys, _ = layer.params.export()
  return sorted(_decoded(keys))


def build_index(embeddings, seed=0):
  """An HNSW index (inner product) of `embeddings` [n, dim], labels 0..n-1.

  Items are added from one thread, so the same embeddings and seed give the
  same index.
  """
  index = voyager.Index(voyager.Space.InnerProduct,
                        num_dimensions=embeddings.shape[1], M=16,
                        ef_construction=200, random_seed=seed)
  index.add_items(embeddings, ids=np.arange(len(embeddings)), num_threads=1)
  return index


def export(model, export_dir, batch_size=256, seed=0):
  """Writes the serving files of a trained `retrieval_keras3.TwoTower`.

  Args:
    model: The trained model.
    export_dir: Directory to write (see the module docstring).
    batch_size: Ids per `predict` call when embedding every item and user.
    seed: Seed of the index construction.

  Returns:
    A dict: `users` and `items` (ids with a row), `dim`.

  Raises:
    RuntimeError: `serve` or `known` disagree with the trained tower, or
      embedding the ids wrote rows into the tables.
  """
  user_layer = model.user_tower.get_layer("user_emb")
  item_layer = model.item_tower.get_layer("item_emb")
  sizes = (int(user_layer.params.size()), int(item_layer.params.size()))
  users, items = table_ids(user_layer), table_ids(item_layer)

  item_emb = model.item_tower.predict(np.array(items, dtype=object),
                                      batch_size=batch_size, verbose=0)
  user_emb = model.user_tower.predict(np.array(users, dtype=object),
                                      batch_size=batch_size, verbose=0)
  cold_start = user_emb.mean(axis=0)
  cold_start /= np.linalg.norm(cold_start)

  module = UserTower(model.user_tower, cold_start)
  with inference_mode():
    # The first call traces `serve` and `known`; the SavedModel keeps these
    # read-only traces.
    probe = module.serve(tf.constant([users[0], "never-seen-user"]))
    known = module.known(tf.constant([users[0], "never-seen-user"]))
    tf.saved_model.save(
        module, os.path.join(export_dir, USER_TOWER),
        options=tf.saved_model.SaveOptions(namespace_whitelist=["TFRA"]))
  if known.numpy().tolist() != [True, False] or not np.allclose(
      probe.numpy(), [user_emb[0], cold_start], atol=1e-5):
    raise RuntimeError("serve does not match the tower's embeddings")
  after = (int(user_layer.params.size()), int(item_layer.params.size()))
  if after != sizes:
    raise RuntimeError(f"lookups wrote rows: table sizes {sizes} -> {after}")

  build_index(item_emb, seed).save(os.path.join(export_dir, INDEX_FILE))
  np.save(os.path.join(export_dir, EMBEDDINGS_FILE), item_emb)
  with open(os.path.join(export_dir, ITEMS_FILE), "w", encoding="utf-8") as f:
    json.dump({"space": "inner_product", "dim": int(item_emb.shape[1]),
               "item_ids": items}, f)
  return {"users": users, "items": items, "dim": int(item_emb.shape[1])}


def train_and_export(export_dir, num_users=2000, num_items=400, clusters=20,
                     pairs_per_user=12, dim=32, batch_size=256, epochs=5,
                     seed=0):
  """Trains `retrieval_keras3`'s model and exports it to `export_dir`.

  Returns:
    The dict of `export`, with `losses` (per epoch) added.
  """
  trained = retrieval_keras3.train(
      num_users=num_users, num_items=num_items, clusters=clusters,
      pairs_per_user=pairs_per_user, dim=dim, batch_size=batch_size,
      epochs=epochs, seed=seed)
  os.makedirs(export_dir, exist_ok=True)
  result = export(trained["model"], export_dir, batch_size, seed)
  result["losses"] = trained["losses"]
  return result


def main(argv=None):
  """Command line entry point."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--export-dir", required=True)
  parser.add_argument("--users", type=int, default=2000)
  parser.add_argument("--items", type=int, default=400)
  parser.add_argument("--clusters", type=int, default=20)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  result = train_and_export(args.export_dir, num_users=args.users,
                            num_items=args.items, clusters=args.clusters,
                            epochs=args.epochs, seed=args.seed)
  print(f"loss {result['losses'][0]:.3f} -> {result['losses'][-1]:.3f}; "
        f"exported {len(result['users'])} users and {len(result['items'])} "
        f"items (dim {result['dim']}) to {args.export_dir}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
