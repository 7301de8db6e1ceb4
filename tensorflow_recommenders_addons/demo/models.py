"""The demo's TFRS models, on dynamic embeddings of raw string ids.

TensorFlow Recommenders 0.7 builds on tf_keras (Keras 2), so these are
tf_keras models using `de.keras.layers.tf_keras` layers, trained with
`de.DynamicEmbeddingOptimizer` around a stock tf_keras optimizer. The
process must have `TF_USE_LEGACY_KERAS=1` set before `tf.keras` is first
used (the demo's entry point does this).

  RetrievalModel   two towers and `tfrs.tasks.Retrieval` (in-batch softmax):
                   user id -> embedding; movie id + genres -> embedding +
                   mean genre embedding -> Dense.
  RankingModel     user, movie and genre embeddings -> Dense(64) ->
                   Dense(32) -> Dense(1) rating, `tfrs.tasks.Ranking` (MSE).
  RetrievalServer  the trained towers as a servable module: top-K movies for
                   raw user ids, optionally excluding movies already seen.
  RankingServer    predicted ratings for (user, movie, genres).
"""

import contextlib
import logging
import os

import tensorflow as tf

if not tf.keras.layers.Layer.__module__.startswith("tf_keras"):
  raise ImportError(
      "tensorflow_recommenders_addons.demo.models needs tf.keras to be "
      "tf_keras (TensorFlow Recommenders 0.7 requires it): run the demo as "
      "its own process (tfra-demo), or set TF_USE_LEGACY_KERAS=1 before "
      "TensorFlow is imported")

# pylint: disable=wrong-import-position
import tensorflow_recommenders as tfrs
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as de_layers


def embedding(dim, name, seed):
  """A string-keyed dynamic embedding; unseen ids read small random rows."""
  return de_layers.Embedding(
      dim, key_dtype=tf.string, name=name,
      initializer=tf_keras.initializers.RandomNormal(stddev=0.05, seed=seed))


class GenreEmbedding(tf_keras.layers.Layer):
  """Mean embedding of a movie's genres ([batch, G] names, b"" = padding)."""

  def __init__(self, dim, seed, **kwargs):
    super().__init__(**kwargs)
    self.embedding = embedding(dim, "genre_embedding", seed)

  def call(self, genres):
    rows = self.embedding(genres)
    mask = tf.cast(tf.not_equal(genres, b""), rows.dtype)[..., None]
    return (tf.reduce_sum(rows * mask, axis=1) /
            tf.maximum(tf.reduce_sum(mask, axis=1), 1.0))


class MovieTower(tf_keras.layers.Layer):
  """Movie id and genres -> one `dim` vector."""

  def __init__(self, dim, seed, **kwargs):
    super().__init__(**kwargs)
    self.movie = embedding(dim, "movie_embedding", seed)
    self.genres = GenreEmbedding(dim, seed + 1)
    self.dense = tf_keras.layers.Dense(
        dim, kernel_initializer=tf_keras.initializers.GlorotUniform(seed))

  def call(self, features):
    return self.dense(tf.concat([self.movie(features["movie_id"]),
                                 self.genres(features["genres"])], axis=1))


def optimizer(learning_rate):
  """Adagrad (TFRS's tutorial choice), wrapped for dynamic embeddings."""
  return de.DynamicEmbeddingOptimizer(
      tf_keras.optimizers.Adagrad(learning_rate))


class RetrievalModel(tfrs.Model):
  """Two towers trained with TFRS's in-batch softmax retrieval task.

  Args:
    dim: Embedding width of both towers.
    seed: Seed of the initializers.
  """

  def __init__(self, dim, seed):
    super().__init__()
    self.user_model = tf_keras.Sequential(
        [embedding(dim, "user_embedding", seed)], name="user_model")
    self.movie_model = MovieTower(dim, seed + 10, name="movie_model")
    self.task = tfrs.tasks.Retrieval(
        loss_metrics=[tf_keras.metrics.Mean(name="epoch_loss")])

  def compute_loss(self, features, training=False):
    # In-batch negatives are drawn by popularity: with the movies'
    # sampling probability, TFRS subtracts log(q) from the logits (the
    # "logQ" correction), so popular movies are not pushed down for being
    # frequent negatives.
    return self.task(
        self.user_model(features["user_id"]), self.movie_model(features),
        candidate_sampling_probability=features["probability"],
        compute_metrics=False)


class RankingModel(tfrs.Model):
  """Predicts star ratings from user, movie and genre embeddings.

  Args:
    dim: Embedding width.
    seed: Seed of the initializers.
  """

  def __init__(self, dim, seed):
    super().__init__()
    self.user_embedding = embedding(dim, "user_embedding", seed)
    self.movie_embedding = embedding(dim, "movie_embedding", seed + 1)
    self.genre_embedding = GenreEmbedding(dim, seed + 2)
    init = tf_keras.initializers.GlorotUniform
    self.rating = tf_keras.Sequential([
        tf_keras.layers.Dense(64, "relu", kernel_initializer=init(seed)),
        tf_keras.layers.Dense(32, "relu", kernel_initializer=init(seed + 1)),
        tf_keras.layers.Dense(1, kernel_initializer=init(seed + 2)),
    ], name="rating")
    self.task = tfrs.tasks.Ranking(
        loss=tf_keras.losses.MeanSquaredError(),
        metrics=[tf_keras.metrics.RootMeanSquaredError(name="rmse")],
        loss_metrics=[tf_keras.metrics.Mean(name="epoch_loss")])

  def call(self, features):
    """Predicted ratings, [batch]."""
    both = tf.concat([self.user_embedding(features["user_id"]),
                      self.movie_embedding(features["movie_id"]),
                      self.genre_embedding(features["genres"])], axis=1)
    return tf.squeeze(self.rating(both), axis=1)

  def compute_loss(self, features, training=False):
    return self.task(labels=features["rating"], predictions=self(features))


class RetrievalServer(tf.Module):
  """Top-K movies for raw user ids, ready for `tf.saved_model.save`.

  `serving_default(user_id)` queries a TFRS BruteForce index over every
  movie; `recommend_unseen(user_id, seen)` scores the same candidates but
  skips each user's `seen` movies (a [batch, n] matrix, b"" padded).

  Args:
    model: A trained `RetrievalModel`.
    movies: The `data.Movies` catalogue.
    k: Movies per user.
  """

  def __init__(self, model, movies, k):
    super().__init__()
    self.k = min(k, len(movies))
    self.user_model = model.user_model
    ids = tf.constant(movies.ids, tf.string)
    rows = model.movie_model({"movie_id": ids,
                              "genres": tf.constant(movies.genres, tf.string)})
    self.movie_ids = tf.Variable(ids, trainable=False, name="movie_ids")
    self.movie_rows = tf.Variable(rows, trainable=False, name="movie_rows")
    self.index = tfrs.layers.factorized_top_k.BruteForce(model.user_model,
                                                         k=self.k)
    self.index.index(rows, ids)

  def serving_signatures(self):
    """The functions a SavedModel of this module serves, by name."""
    return {"serving_default": self.serving_default,
            "recommend_unseen": self.recommend_unseen}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
  def serving_default(self, user_id):
    scores, movie_id = self.index(user_id)
    return {"scores": scores, "movie_id": movie_id}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string),
                                tf.TensorSpec([None, None], tf.string)])
  def recommend_unseen(self, user_id, seen):
    scores = tf.matmul(self.user_model(user_id), self.movie_rows,
                       transpose_b=True)
    is_seen = tf.reduce_any(
        tf.equal(self.movie_ids[None, :, None], seen[:, None, :]), axis=2)
    scores = tf.where(is_seen, tf.fill(tf.shape(scores), -1e9), scores)
    top = tf.math.top_k(scores, k=self.k)
    return {"scores": top.values,
            "movie_id": tf.gather(self.movie_ids, top.indices)}


class RankingServer(tf.Module):
  """Predicted ratings for raw ids, ready for `tf.saved_model.save`."""

  def __init__(self, model):
    super().__init__()
    self.model = model

  def serving_signatures(self):
    """The functions a SavedModel of this module serves, by name."""
    return {"serving_default": self.serving_default}

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="user_id"),
      tf.TensorSpec([None], tf.string, name="movie_id"),
      tf.TensorSpec([None, None], tf.string, name="genres")])
  def serving_default(self, user_id, movie_id, genres):
    return {"rating": self.model({"user_id": user_id, "movie_id": movie_id,
                                  "genres": genres})}


def export(server, path):
  """Saves a server module as a SavedModel traced in inference mode.

  Inference mode makes every dynamic-embedding lookup read-only, so the
  exported graphs hold no write op; `namespace_whitelist` admits the
  package's `TFRA>` ops.
  """
  de.enable_inference_mode()
  try:
    with _without_config_warnings():
      tf.saved_model.save(
          server, path, signatures=server.serving_signatures(),
          options=tf.saved_model.SaveOptions(namespace_whitelist=["TFRA"]))
  finally:
    de.enable_train_mode()
  return os.path.abspath(path)


class _ConfigWarningFilter(logging.Filter):
  """Drops tf_keras's "arguments contain non-serializable objects" warning.

  Saving traces every Keras model in the module; TFRS's BruteForce takes
  the query model as an argument, so tf_keras warns that it cannot write a
  config. The export serves signatures and never rebuilds from configs.
  """

  def filter(self, record):
    return "contain non-serializable objects" not in record.getMessage()


@contextlib.contextmanager
def _without_config_warnings():
  log = tf.get_logger()
  drop = _ConfigWarningFilter()
  log.addFilter(drop)
  try:
    yield
  finally:
    log.removeFilter(drop)
