"""The demo's metrics against hand-computed values."""

import math

import numpy as np
import pytest

from tensorflow_recommenders_addons.demo import metrics


def test_recall_at_k_skips_seen_movies_and_averages_users():
  scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0],
                     [1.0, 2.0, 3.0, 4.0, 5.0],
                     [0.0, 0.0, 0.0, 0.0, 0.0]])
  seen = np.zeros_like(scores, bool)
  seen[0, 0] = True  # user 0's best-scored movie is excluded
  held = np.zeros_like(seen)
  held[0, [1, 4]] = True  # top-1 after exclusion is movie 1: 1 of 2 hits
  held[1, 0] = True       # movie 0 ranks last for user 1: no hit at k=1
  # user 2 has no held-out movie and does not count.
  got = metrics.recall_at_k(scores, seen, held, ks=(1, 5))
  assert got[1] == pytest.approx((0.5 + 0.0) / 2)
  assert got[5] == pytest.approx((1.0 + 1.0) / 2)


def test_random_recall_is_k_over_unseen():
  seen = np.zeros([2, 10], bool)
  seen[0, :5] = True
  held = np.ones([2, 10], bool)
  got = metrics.random_recall(seen, held, ks=(2,))
  assert got[2] == pytest.approx((2 / 5 + 2 / 10) / 2)


@pytest.mark.parametrize("scores,labels,expected", [
    ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
    ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
    ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
    ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
])
def test_auc_matches_hand_counts(scores, labels, expected):
  assert metrics.auc(scores, labels) == pytest.approx(expected)


def test_auc_of_one_class_is_nan():
  assert math.isnan(metrics.auc([0.1, 0.2], [1, 1]))


def test_rmse():
  assert metrics.rmse([1.0, 3.0], np.array([2.0, 5.0])) == pytest.approx(
      math.sqrt((1 + 4) / 2))


def test_item_average_falls_back_to_global_mean():
  train_movies = np.array([b"a", b"a", b"b"], dtype=object)
  train_ratings = np.array([4.0, 2.0, 5.0])
  got = metrics.item_average(train_movies, train_ratings,
                             np.array([b"b", b"a", b"c"], dtype=object))
  assert got.tolist() == pytest.approx([5.0, 3.0, 11.0 / 3])


def test_interaction_matrix_ignores_unknown_ids():
  users = np.array([b"u1", b"u2", b"zz"], dtype=object)
  movies = np.array([b"m2", b"m1", b"m1"], dtype=object)
  got = metrics.interaction_matrix(
      users, movies, np.array([b"u1", b"u2"], dtype=object),
      np.array([b"m1", b"m2"], dtype=object))
  assert got.tolist() == [[False, True], [True, False]]
