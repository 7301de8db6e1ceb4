"""The demo's steps: data, retrieval, ranking, export, recommendations.

`run(options, say)` does the whole job and returns its figures (also
written to `<out>/metrics.json`); `say` prints one line. Needs tf_keras as
`tf.keras` (see `models`).
"""

import json
import os
import time

import numpy as np
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons.demo import data as data_lib
from tensorflow_recommenders_addons.demo import metrics
from tensorflow_recommenders_addons.demo import models

KS = (10, 100)


def features(ratings, movies):
  """Model inputs of `ratings`: ids, the movies' genres and the stars."""
  position = metrics.index_of(ratings.movie_id, movies.ids)
  genres = movies.genres[np.maximum(position, 0)]
  genres[position < 0] = b""  # a rated movie missing from the catalogue
  return {"user_id": ratings.user_id, "movie_id": ratings.movie_id,
          "genres": genres, "rating": ratings.rating}


def dataset(inputs, batch_size, seed=None):
  """Batches of `inputs` (shuffled with `seed` when given)."""
  ds = tf.data.Dataset.from_tensor_slices(inputs)
  if seed is not None:
    ds = ds.shuffle(len(inputs["user_id"]), seed=seed,
                    reshuffle_each_iteration=True)
  return ds.batch(batch_size).prefetch(2)


def fit(model, inputs, options, epochs, batch_size, learning_rate, say):
  """Compiles and trains `model`; returns the per-epoch losses."""
  model.compile(optimizer=models.optimizer(learning_rate))
  history = model.fit(dataset(inputs, batch_size, seed=options.seed),
                      epochs=epochs, verbose=options.verbosity)
  losses = [float(x) for x in history.history["epoch_loss"]]
  sizes = ", ".join(f"{name} {rows:,}" for name, rows in
                    table_rows(model).items())
  say(f"  training loss {losses[0]:.4g} -> {losses[-1]:.4g}; dynamic "
      f"table rows: {sizes}")
  return losses


def train_retrieval(options, movies, train, test, say):
  """Trains the two towers; recall@K on held-out ratings vs baselines."""
  say(f"retrieval: two-tower model, dim {options.dim}, "
      f"{options.retrieval_epochs} epochs of batch {options.batch_size}")
  model = models.RetrievalModel(options.dim, options.seed)
  inputs = features(train, movies)
  # Training ratings per movie: each example's movie's share of them is the
  # probability that it appears as an in-batch negative (see
  # RetrievalModel); per catalogue movie, they rank the popularity baseline.
  rated, inverse, counts = np.unique(train.movie_id.astype(bytes),
                                     return_inverse=True, return_counts=True)
  inputs["probability"] = (counts / len(train))[inverse].astype(np.float32)
  position = metrics.index_of(movies.ids, rated.astype(object))
  popularity = np.where(position >= 0, counts[np.maximum(position, 0)], 0)
  losses = fit(model, inputs, options,
               options.retrieval_epochs, options.batch_size,
               options.learning_rate, say)
  users = np.unique(test.user_id.astype(bytes)).astype(object)
  seen = metrics.interaction_matrix(train.user_id, train.movie_id, users,
                                    movies.ids)
  held_out = metrics.interaction_matrix(test.user_id, test.movie_id, users,
                                        movies.ids)
  user_rows = np.concatenate([
      model.user_model(tf.constant(users[i:i + 4096])).numpy()
      for i in range(0, len(users), 4096)])
  movie_rows = model.movie_model(
      {"movie_id": tf.constant(movies.ids, tf.string),
       "genres": tf.constant(movies.genres, tf.string)}).numpy()
  recall = metrics.recall_at_k(user_rows @ movie_rows.T, seen, held_out, KS)
  popular = metrics.recall_at_k(
      np.tile(popularity.astype(np.float64), (len(users), 1)), seen,
      held_out, KS)
  rand = metrics.random_recall(seen, held_out, KS)
  for k in KS:
    say(f"  recall@{k:<3} {recall[k]:.3f}   most popular unseen "
        f"{popular[k]:.3f}   random {rand[k]:.3f}")
  return model, {"epoch_losses": losses,
                 "recall": {str(k): recall[k] for k in KS},
                 "popularity_recall": {str(k): popular[k] for k in KS},
                 "random_recall": {str(k): rand[k] for k in KS},
                 "table_rows": table_rows(model)}


def train_ranking(options, movies, train, test, say):
  """Trains the rating model; RMSE and AUC on held-out ratings."""
  say(f"ranking: embeddings -> Dense(64) -> Dense(32) -> Dense(1), "
      f"{options.ranking_epochs} epochs of batch {options.batch_size}")
  model = models.RankingModel(options.dim, options.seed)
  losses = fit(model, features(train, movies), options,
               options.ranking_epochs, options.batch_size,
               options.learning_rate, say)
  inputs = features(test, movies)
  predicted = np.concatenate([
      model({k: tf.constant(v) for k, v in batch.items()}).numpy()
      for batch in _chunks(inputs, 8192)])
  baseline = metrics.item_average(train.movie_id, train.rating,
                                  test.movie_id)
  liked = test.rating >= metrics.LIKED
  figures = {
      "rmse": metrics.rmse(predicted, test.rating),
      "auc": metrics.auc(predicted, liked),
      "item_average_rmse": metrics.rmse(baseline, test.rating),
      "item_average_auc": metrics.auc(baseline, liked),
      "global_mean_rmse": metrics.rmse(np.mean(train.rating), test.rating),
  }
  say(f"  RMSE {figures['rmse']:.3f}   item average "
      f"{figures['item_average_rmse']:.3f}   global mean "
      f"{figures['global_mean_rmse']:.3f}")
  say(f"  AUC (liked = {metrics.LIKED:.0f}+ stars) {figures['auc']:.3f}   "
      f"item average {figures['item_average_auc']:.3f}   random 0.500")
  figures.update(epoch_losses=losses, table_rows=table_rows(model))
  return model, figures, predicted[:256], inputs


def _chunks(inputs, size):
  """Dicts of consecutive row slices of `inputs` (labels dropped)."""
  count = len(inputs["user_id"])
  for i in range(0, count, size):
    yield {k: v[i:i + size] for k, v in inputs.items() if k != "rating"}


def table_rows(model):
  """Rows held by each dynamic embedding table of `model`, by layer name."""
  return {layer.name: int(layer.params.size())
          for layer in model.submodules if hasattr(layer, "params")}


def export_and_recommend(options, movies, train, test, retrieval, ranking,
                         ranking_check, say):
  """Exports both models, reloads them, prints top-10 for a few users."""
  retrieval_path = models.export(
      models.RetrievalServer(retrieval, movies, options.top),
      os.path.join(options.out, "retrieval"))
  ranking_path = models.export(models.RankingServer(ranking),
                               os.path.join(options.out, "ranking"))
  say(f"saved: {retrieval_path} (signatures serving_default, "
      f"recommend_unseen) and {ranking_path}")
  predicted, inputs = ranking_check
  reloaded = tf.saved_model.load(ranking_path).signatures["serving_default"]
  served = reloaded(**{k: tf.constant(v[:len(predicted)]) for k, v in
                       inputs.items() if k != "rating"})["rating"].numpy()
  ranking_matches = bool(np.allclose(served, predicted, atol=1e-5))
  say(f"  reloaded ranking model predicts the same ratings: {ranking_matches}")
  recommend = tf.saved_model.load(retrieval_path).signatures[
      "recommend_unseen"]
  rng = np.random.default_rng(options.seed)
  users = np.unique(test.user_id.astype(bytes)).astype(object)
  chosen = sorted(rng.choice(users, min(options.show_users, len(users)),
                             replace=False).tolist())
  titles = dict(zip(movies.ids.tolist(), movies.titles.tolist()))
  genres_of = dict(zip(movies.ids.tolist(), movies.genres.tolist()))
  shown, hits = {}, 0
  for key in chosen:
    user = key.decode()
    mine = train.take(train.user_id == key)
    later = set(test.movie_id[test.user_id == key].tolist())
    seen = tf.constant([mine.movie_id.tolist() or [b""]], tf.string)
    found = recommend(user_id=tf.constant([key]),
                      seen=seen)["movie_id"].numpy()[0]
    favourites = mine.movie_id[np.argsort(-mine.rating,
                                          kind="stable")[:3]]
    say(f"\nuser {user}: rated {len(mine)} movies; favourites: " + "; ".join(
        titles.get(m, m.decode()) for m in favourites))
    say(f"  top {len(found)} unseen movies (* = the user rated it later):")
    for rank, movie in enumerate(found, 1):
      genres = genres_of.get(movie, [])
      mark = "*" if movie in later else " "
      hits += movie in later
      say(f"  {rank:>3}. {mark} {titles.get(movie, movie.decode())}  "
          f"[{', '.join(g.decode() for g in genres if g)}]")
    shown[user] = [m.decode() for m in found]
  return {"retrieval_path": retrieval_path, "ranking_path": ranking_path,
          "reloaded_ranking_matches": ranking_matches,
          "recommendations": shown, "recommended_then_rated": hits}


def run(options, say=print, loaded=None):
  """The demo end to end; returns its figures (also in metrics.json).

  Args:
    options: The parsed command line (`cli.parser()`).
    say: Prints one line.
    loaded: `data.load(options, say)`'s result, if already loaded.
  """
  start = time.time()
  tf_keras.utils.set_random_seed(options.seed)
  movies, train, test = loaded or data_lib.load(options, say)
  retrieval, report = train_retrieval(options, movies, train, test, say)
  ranking, rank_report, predicted, inputs = train_ranking(
      options, movies, train, test, say)
  served = export_and_recommend(options, movies, train, test, retrieval,
                                ranking, (predicted, inputs), say)
  result = {"retrieval": report, "ranking": rank_report, **served,
            "data": {"train": len(train), "test": len(test),
                     "movies": len(movies)},
            "seconds": round(time.time() - start, 1)}
  with open(os.path.join(options.out, "metrics.json"), "w",
            encoding="utf-8") as f:
    json.dump(result, f, indent=1)
  say(f"\ndone in {result['seconds']:.0f} s; figures in "
      f"{os.path.join(os.path.abspath(options.out), 'metrics.json')}")
  return result
