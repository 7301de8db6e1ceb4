"""Each zoo model beats logistic regression on held-out synthetic data.

The synthetic labels come from a hidden model with pairwise interactions of
per-id latent vectors (models.data), which a linear model cannot express:
a model that learns them must rank held-out impressions better. The
baseline is the zoo's `LogisticRegression` on the same ids, trained on the
same label with its own (higher) learning rate.
"""

import numpy as np
import pytest

from tensorflow_recommenders_addons.demo.metrics import auc
from tensorflow_recommenders_addons.models import data

from zoo_flavours import zoo  # pylint: disable=unused-import

FIELDS, DENSE, TRAIN = 6, 4, 16_000
MARGIN = 0.02  # AUC points over the baseline


@pytest.fixture(scope="module")
def ctr_data():
  d = data.synthetic_ctr(20_000, num_fields=FIELDS, num_dense=DENSE,
                         vocabulary_size=200, seed=0)
  x = {"categorical": d["categorical"], "dense": d["dense"]}
  split = lambda s: {k: v[s] for k, v in x.items()}  # noqa: E731
  return {"train": split(slice(0, TRAIN)), "test": split(slice(TRAIN, None)),
          "click": d["click"], "conversion": d["conversion"]}


_BASELINES = {}


def _baseline_auc(zoo, ctr_data, label):
  """Held-out AUC of logistic regression on `label` (cached)."""
  key = (zoo.name, label)
  if key not in _BASELINES:
    model = zoo.models.LogisticRegression(FIELDS, num_dense=DENSE, seed=1)
    model.compile(zoo.adam(0.05), loss="binary_crossentropy")
    model.fit(ctr_data["train"], ctr_data[label][:TRAIN], batch_size=256,
              epochs=2, verbose=0)
    _BASELINES[key] = auc(model.predict(ctr_data["test"], verbose=0).ravel(),
                          ctr_data[label][TRAIN:])
  return _BASELINES[key]


# Model, its arguments, learning rate, epochs, {output: label}.
CASES = {
    "DeepFM": ({}, 0.01, 2, {None: "click"}),
    "FiBiNET": ({}, 0.01, 2, {None: "click"}),
    "ESMM": ({}, 0.02, 4, {"ctr": "click", "ctcvr": "conversion"}),
    "MMoE": ({"tasks": ("ctr", "cvr")}, 0.02, 4,
             {"ctr": "click", "cvr": "conversion"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_beats_logistic_regression(zoo, ctr_data, name):
  args, learning_rate, epochs, outputs = CASES[name]
  model = getattr(zoo.models, name)(FIELDS, embedding_size=8,
                                    num_dense=DENSE, seed=1, **args)
  labels = {out: ctr_data[label][:TRAIN] for out, label in outputs.items()}
  model.compile(zoo.adam(learning_rate), loss="binary_crossentropy")
  model.fit(ctr_data["train"], labels.get(None, labels), batch_size=256,
            epochs=epochs, verbose=0)
  predicted = model.predict(ctr_data["test"], verbose=0)
  for out, label in outputs.items():
    scores = predicted if out is None else predicted[out]
    got = auc(scores.ravel(), ctr_data[label][TRAIN:])
    baseline = _baseline_auc(zoo, ctr_data, label)
    print(f"AUC {zoo.name} {name} {out or ''}: {got:.4f} vs logistic "
          f"regression {baseline:.4f}")
    assert got > baseline + MARGIN, (name, out, got, baseline)


def _pair_auc(pos, neg):
  return auc(np.concatenate([pos, neg]),
             np.r_[np.ones(len(pos)), np.zeros(len(neg))])


def test_two_tower_beats_logistic_regression(zoo):
  d = data.synthetic_retrieval(12_000, num_users=200, num_items=300,
                               history_length=8, seed=0)
  train, test = slice(0, 10_000), slice(10_000, None)
  # Held-out positives against negatives drawn by the items' popularity
  # among training labels: popularity alone cannot tell them apart.
  rng = np.random.default_rng(5)
  labels, counts = np.unique(d["item"][train, 0], return_counts=True)
  neg = rng.choice(labels, size=2000, p=counts / counts.sum())[:, None]
  model = zoo.models.TwoTower(1, 1, embedding_size=16, tower_units=(32,),
                              history_encoder="bow", seed=1)
  model.compile(zoo.adam(0.02))
  model.fit({k: d[k][train] for k in ("user", "history", "item",
                                      "item_probability")},
            batch_size=128, epochs=5, verbose=0)
  query = model.query_embedding({"user": d["user"][test],
                                 "history": d["history"][test]}).numpy()
  candidates = lambda items: model.candidate_embedding(items).numpy()  # noqa: E731
  got = _pair_auc((query * candidates(d["item"][test])).sum(1),
                  (query * candidates(neg)).sum(1))
  # The baseline: logistic regression on (user, item) ids, positives
  # against the same kind of negatives.
  lr = zoo.models.LogisticRegression(2, seed=1)
  lr.compile(zoo.adam(0.05), loss="binary_crossentropy")
  train_neg = rng.choice(labels, size=10_000, p=counts / counts.sum())
  pairs = np.concatenate([
      np.c_[d["user"][train, 0], d["item"][train, 0]],
      np.c_[d["user"][train, 0], train_neg]])
  lr.fit({"categorical": pairs}, np.r_[np.ones(10_000), np.zeros(10_000)],
         batch_size=256, epochs=2, verbose=0)
  score = lambda items: lr.predict(  # noqa: E731
      {"categorical": np.c_[d["user"][test, 0], items[:, 0]]},
      verbose=0).ravel()
  baseline = _pair_auc(score(d["item"][test]), score(neg))
  print(f"AUC {zoo.name} TwoTower: {got:.4f} vs logistic regression "
        f"{baseline:.4f}")
  assert got > baseline + MARGIN, (got, baseline)
