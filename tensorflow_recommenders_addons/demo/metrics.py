"""Held-out metrics of the demo, in NumPy, with their simple baselines.

Retrieval is judged as a recommender is used: for every user with held-out
ratings, rank all movies the user has not rated in training and count how
many of the held-out movies land in the top K (recall@K, averaged over
users). The same is computed for two baselines: the most popular unseen
movies, and a random ranking (expected recall K / unseen movies).

Ranking is judged by RMSE of the predicted stars and by AUC of "liked"
(rating >= 4) against the predicted rating, next to an item-average
baseline (each movie's mean training rating, the global mean for movies
without training ratings).
"""

import numpy as np

LIKED = 4.0


def index_of(ids, vocabulary):
  """Positions of `ids` in `vocabulary` (-1 where absent)."""
  lookup = {key: i for i, key in enumerate(vocabulary.tolist())}
  return np.array([lookup.get(key, -1) for key in ids.tolist()], np.int64)


def recall_at_k(scores, seen, held_out, ks):
  """Mean per-user recall@K of a score matrix, seen movies excluded.

  Args:
    scores: [users, movies] float scores (higher = recommended first).
    seen: [users, movies] bool, movies rated in training (never counted).
    held_out: [users, movies] bool, movies rated in the test split.
    ks: The K values.

  Returns:
    {k: mean over users with held-out movies of hits@k / held-out count}.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.demo import metrics
    >>> scores = np.array([[3.0, 2.0, 1.0]])
    >>> seen = np.array([[True, False, False]])
    >>> held_out = np.array([[False, False, True]])
    >>> metrics.recall_at_k(scores, seen, held_out, ks=(1, 2))
    {1: 0.0, 2: 1.0}
  """
  scores = np.where(seen, -np.inf, scores)
  rows = held_out.any(axis=1)
  scores, held_out = scores[rows], held_out[rows]
  top = np.argsort(-scores, axis=1, kind="stable")[:, :max(ks)]
  hits = np.take_along_axis(held_out, top, axis=1)
  totals = held_out.sum(axis=1)
  return {k: float(np.mean(hits[:, :k].sum(axis=1) / totals)) for k in ks}


def random_recall(seen, held_out, ks):
  """Expected recall@K of a random ranking of each user's unseen movies."""
  rows = held_out.any(axis=1)
  unseen = (~seen[rows]).sum(axis=1)
  return {k: float(np.mean(np.minimum(k, unseen) / unseen)) for k in ks}


def interaction_matrix(users, movies, user_vocab, movie_vocab):
  """[len(user_vocab), len(movie_vocab)] bool of (user, movie) pairs."""
  matrix = np.zeros([len(user_vocab), len(movie_vocab)], bool)
  u, m = index_of(users, user_vocab), index_of(movies, movie_vocab)
  keep = (u >= 0) & (m >= 0)
  matrix[u[keep], m[keep]] = True
  return matrix


def rmse(predicted, actual):
  """Root mean squared error."""
  return float(np.sqrt(np.mean((np.asarray(predicted) - actual) ** 2)))


def auc(scores, labels):
  """Area under the ROC curve (Mann-Whitney U, ties get average ranks).

  Returns NaN when `labels` holds a single class.

  Example:
    >>> from tensorflow_recommenders_addons.demo import metrics
    >>> metrics.auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True])
    0.75
  """
  scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
  positives, negatives = labels.sum(), (~labels).sum()
  if positives == 0 or negatives == 0:
    return float("nan")
  order = np.argsort(scores, kind="stable")
  ranks = np.empty(len(scores))
  ranks[order] = np.arange(1, len(scores) + 1)
  _, inverse, counts = np.unique(scores, return_inverse=True,
                                 return_counts=True)
  ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
  return float((ranks[labels].sum() - positives * (positives + 1) / 2) /
               (positives * negatives))


def item_average(train_movies, train_ratings, query_movies):
  """Each query movie's mean training rating (global mean if unrated)."""
  vocab, inverse = np.unique(train_movies.astype(bytes), return_inverse=True)
  means = (np.bincount(inverse, weights=train_ratings) /
           np.bincount(inverse))
  position = index_of(query_movies.astype(bytes), vocab)
  return np.where(position >= 0, means[np.maximum(position, 0)],
                  float(np.mean(train_ratings)))
