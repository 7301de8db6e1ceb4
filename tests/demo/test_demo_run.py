"""The demo end to end, as processes: synthetic data and MovieLens files.

Each run is small (a few seconds of training). The figures are checked
against the baselines the demo prints, with margins far wider than seen
between runs (seeded data; small run: recall@10 0.24 vs most-popular 0.12,
RMSE 0.82 vs item average 0.94, AUC 0.80 vs 0.70). A fresh process then
serves the exported SavedModels with nothing but
`import tensorflow_recommenders_addons`.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tensorflow_recommenders_addons.demo import data

import pyproc

from movielens_files import write_1m

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
SMALL = ["--users", "300", "--movies", "400", "--ratings", "20000",
         "--retrieval-epochs", "4", "--ranking-epochs", "3",
         "--batch-size", "256", "--show-users", "2", "--quiet"]

SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_recommenders_addons  # registers the TFRA> ops
out, user = sys.argv[1], sys.argv[2].encode()
retrieval = tf.saved_model.load(out + "/retrieval")
top = retrieval.signatures["serving_default"](tf.constant([user]))
unseen = retrieval.signatures["recommend_unseen"](
    user_id=tf.constant([user]), seen=tf.constant([[b""]]))
rating = tf.saved_model.load(out + "/ranking").signatures["serving_default"](
    user_id=tf.constant([user, user]), movie_id=tf.constant([b"M00001", b"x"]),
    genres=tf.constant([[b"Drama"], [b""]]))["rating"]
print(json.dumps({
    "top": [m.decode() for m in top["movie_id"].numpy()[0]],
    "unseen": [m.decode() for m in unseen["movie_id"].numpy()[0]],
    "scores_sorted": bool(np.all(np.diff(top["scores"].numpy()[0]) <= 0)),
    "ratings": rating.numpy().tolist()}))
"""


def run_demo(tmp_path, *args):
  out = tmp_path / "out"
  run = subprocess.run(
      pyproc.python("-m", "tensorflow_recommenders_addons.demo", *args,
                    "--out", str(out)), capture_output=True, text=True, env=ENV,
      cwd=str(tmp_path), check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  with open(out / "metrics.json", encoding="utf-8") as f:
    return run.stdout, json.loads(f.read()), out


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
  return run_demo(tmp_path_factory.mktemp("synthetic"), *SMALL)


def test_retrieval_beats_popularity_and_random(synthetic_run):
  _, figures, _ = synthetic_run
  r = figures["retrieval"]
  assert r["recall"]["10"] > 1.3 * r["popularity_recall"]["10"], r
  assert r["recall"]["100"] > r["popularity_recall"]["100"], r
  assert r["recall"]["10"] > 3 * r["random_recall"]["10"], r
  assert r["epoch_losses"][-1] < r["epoch_losses"][0]


def test_ranking_beats_item_average(synthetic_run):
  _, figures, _ = synthetic_run
  r = figures["ranking"]
  assert r["rmse"] < r["item_average_rmse"] < r["global_mean_rmse"], r
  assert r["auc"] > max(0.7, r["item_average_auc"]), r


def test_tables_hold_the_training_ids(synthetic_run):
  _, figures, _ = synthetic_run
  rows = figures["retrieval"]["table_rows"]
  assert rows["user_embedding"] == 300
  assert 300 < rows["movie_embedding"] <= 400
  assert rows["genre_embedding"] <= len(data.GENRES) + 1  # + b"" padding


def test_output_reports_metrics_and_recommendations(synthetic_run):
  stdout, figures, _ = synthetic_run
  for text in ("recall@10", "recall@100", "RMSE", "AUC", "saved:",
               "reloaded ranking model predicts the same ratings: True",
               "top 10 unseen movies"):
    assert text in stdout
  assert len(figures["recommendations"]) == 2
  for user, movies in figures["recommendations"].items():
    assert f"user {user}: rated" in stdout
    assert len(movies) == len(set(movies)) == 10
  # Ten numbered lines with a title "(year)" and genres per user.
  listed = [line for line in stdout.splitlines()
            if re.match(r"\s+\d+\. [ *] The .+ \(\d{4}\)  \[[A-Z]", line)]
  assert len(listed) == 20, stdout


def test_recommendations_exclude_seen_movies(synthetic_run):
  _, figures, _ = synthetic_run
  movies, ratings = data.synthetic(300, 400, 20000, seed=0)
  train, _ = data.temporal_split(ratings, 0.2)
  for user, found in figures["recommendations"].items():
    seen = set(train.movie_id[train.user_id == user.encode()].tolist())
    assert not seen & {m.encode() for m in found}
    assert {m.encode() for m in found} <= set(movies.ids.tolist())


def test_exported_models_serve_in_a_fresh_process(synthetic_run):
  _, figures, out = synthetic_run
  user = sorted(figures["recommendations"])[0]
  run = subprocess.run(pyproc.python("-c", SERVE, str(out), user),
                       capture_output=True, text=True, env=ENV,
                       cwd=str(out), check=False)
  assert run.returncode == 0, run.stderr[-3000:]
  served = json.loads(run.stdout)
  assert len(served["top"]) == 10 and served["scores_sorted"]
  # Excluding nothing, recommend_unseen ranks like serving_default.
  assert served["unseen"] == served["top"]
  assert all(1.0 < r < 5.5 for r in served["ratings"])


def test_movielens_files_run(tmp_path):
  movies, ratings = data.synthetic(120, 150, 5000, seed=4)
  write_1m(str(tmp_path / "ml-1m"), movies, ratings)
  stdout, figures, _ = run_demo(
      tmp_path, "--data", str(tmp_path), "--retrieval-epochs", "2",
      "--ranking-epochs", "2", "--batch-size", "256", "--show-users", "1",
      "--quiet")
  assert f"MovieLens files in {tmp_path}" in stdout
  assert figures["data"]["train"] + figures["data"]["test"] == len(ratings)
  assert np.isfinite(figures["ranking"]["rmse"])
  assert figures["reloaded_ranking_matches"]
