"""`tfra-demo --model NAME`: one zoo model on synthetic data, against
logistic regression, exported to TensorFlow Lite.

CTR models (deepfm, fibinet, esmm, mmoe) train on Criteo-shaped impressions
(`models.data.synthetic_ctr`: 26 categorical fields, 13 dense features);
twotower trains a next-item dual encoder with a bag-of-words history on
`synthetic_retrieval`. The held-out AUC of each output is printed next to
that of logistic regression on the same ids and label; then the model is
frozen with `de.export_static`, converted to `<out>/<model>.tflite`, and the
TFLite interpreter's outputs on held-out examples are compared with the TF
model's. Keras 3 models (the zoo's `models.keras3`).
"""

import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.demo.metrics import auc
from tensorflow_recommenders_addons.models import data
from tensorflow_recommenders_addons.models import keras3 as zoo

MODELS = ("deepfm", "fibinet", "esmm", "mmoe", "twotower")
_CLASSES = {"deepfm": "DeepFM", "fibinet": "FiBiNET", "esmm": "ESMM",
            "mmoe": "MMoE"}
# Output -> label of each CTR model (None: the single output).
_OUTPUTS = {"deepfm": {None: "click"}, "fibinet": {None: "click"},
            "esmm": {"ctr": "click", "ctcvr": "conversion"},
            "mmoe": {"ctr": "click", "cvr": "conversion"}}
LITE_EXAMPLES = 256


def _adam(learning_rate):
  return de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(learning_rate))


def _fit(model, x, y, options, epochs):
  model.fit(x, y, batch_size=options.batch_size, epochs=epochs,
            verbose=options.verbosity)


def _ctr(options, say):
  n, fields, dense = options.examples, min(options.fields, 127), options.dense
  say(f"data: {n:,} synthetic Criteo-shaped impressions ({fields} fields, "
      f"{dense} dense features), {int(n * 0.8):,} to train")
  d = data.synthetic_ctr(n, num_fields=fields, num_dense=dense,
                         vocabulary_size=options.vocabulary,
                         seed=options.seed)
  cut = int(n * 0.8)
  x = {"categorical": d["categorical"], "dense": d["dense"]}
  train = {k: v[:cut] for k, v in x.items()}
  test = {k: v[cut:] for k, v in x.items()}
  outputs = _OUTPUTS[options.model]
  model = getattr(zoo, _CLASSES[options.model])(
      fields, embedding_size=options.dim, num_dense=dense,
      seed=options.seed, **({"tasks": ("ctr", "cvr")}
                            if options.model == "mmoe" else {}))
  model.compile(_adam(options.learning_rate), loss="binary_crossentropy")
  labels = {o: d[label][:cut] for o, label in outputs.items()}
  say(f"training {_CLASSES[options.model]} ({options.epochs} epochs)")
  _fit(model, train, labels.get(None, labels), options, options.epochs)
  predicted = model.predict(test, batch_size=4096, verbose=0)
  results = {}
  for out, label in outputs.items():
    baseline = zoo.LogisticRegression(fields, num_dense=dense,
                                      seed=options.seed)
    baseline.compile(_adam(0.05), loss="binary_crossentropy")
    say(f"training the logistic regression baseline on {label}")
    _fit(baseline, train, d[label][:cut], options, 2)
    scores = predicted if out is None else predicted[out]
    results[out or "click"] = {
        "auc": auc(scores.ravel(), d[label][cut:]),
        "baseline_auc": auc(baseline.predict(test, batch_size=4096,
                                             verbose=0).ravel(),
                            d[label][cut:])}
  signature = {"categorical": tf.TensorSpec([None, fields], tf.int64),
               "dense": tf.TensorSpec([None, dense], tf.float32)}
  probe = {k: v[:LITE_EXAMPLES] for k, v in test.items()}
  return model, signature, None, probe, results


def _twotower(options, say):
  n = options.examples
  say(f"data: {n:,} synthetic (user, 10-item history, next item) examples")
  d = data.synthetic_retrieval(n, num_users=max(10, n // 50),
                               num_items=max(10, n // 100),
                               history_length=10, seed=options.seed)
  cut = int(n * 0.8)
  model = zoo.TwoTower(1, 1, embedding_size=options.dim,
                       tower_units=(2 * options.dim,),
                       history_encoder="bow", seed=options.seed)
  model.compile(_adam(options.learning_rate))
  say(f"training TwoTower ({options.epochs} epochs)")
  keys = ("user", "history", "item", "item_probability")
  _fit(model, {k: d[k][:cut] for k in keys}, None, options, options.epochs)
  rng = np.random.default_rng(options.seed)
  labels, counts = np.unique(d["item"][:cut, 0], return_counts=True)
  draw = lambda size: rng.choice(labels, size=size,  # noqa: E731
                                 p=counts / counts.sum())
  neg = draw(n - cut)[:, None]
  query = model.query_embedding({"user": d["user"][cut:],
                                 "history": d["history"][cut:]}).numpy()
  cand = lambda items: model.candidate_embedding(items).numpy()  # noqa: E731
  pos_s = (query * cand(d["item"][cut:])).sum(1)
  neg_s = (query * cand(neg)).sum(1)
  both = lambda p, q: auc(np.r_[p, q],  # noqa: E731
                          np.r_[np.ones(len(p)), np.zeros(len(q))])
  baseline = zoo.LogisticRegression(2, seed=options.seed)
  baseline.compile(_adam(0.05), loss="binary_crossentropy")
  say("training the logistic regression baseline on (user, item) pairs")
  users = d["user"][:cut, 0]
  pairs = np.r_[np.c_[users, d["item"][:cut, 0]], np.c_[users, draw(cut)]]
  _fit(baseline, {"categorical": pairs},
       np.r_[np.ones(cut), np.zeros(cut)], options, 2)
  score = lambda items: baseline.predict(  # noqa: E731
      {"categorical": np.c_[d["user"][cut:, 0], items[:, 0]]},
      batch_size=4096, verbose=0).ravel()
  results = {"next item": {"auc": both(pos_s, neg_s),
                           "baseline_auc": both(score(d["item"][cut:]),
                                                score(neg))}}
  items = tf.constant(d["items"])
  candidates = model.candidate_embedding(d["items"][:, None])
  top10 = lambda m, inputs: m.top_k(inputs, items, candidates)  # noqa: E731

  signature = {"user": tf.TensorSpec([None, 1], tf.int64),
               "history": tf.TensorSpec([None, 10], tf.int64)}
  probe = {"user": d["user"][cut:cut + LITE_EXAMPLES],
           "history": d["history"][cut:cut + LITE_EXAMPLES]}
  return model, signature, top10, probe, results


def _known(model, probe):
  """The probe examples all of whose ids the model's tables hold (other
  ids read the exported default row, not a fresh initializer row)."""
  if "categorical" in probe:
    ok = model.fields.holds(probe["categorical"]).numpy().all(1)
  else:
    ok = (model.user_embedding.holds(probe["user"]).numpy().all(1) &
          model.item_embedding.holds(probe["history"], field=0).numpy()
          .all(1))
  return {k: v[ok] for k, v in probe.items()}


def run(options, say):
  """Trains, evaluates and exports `options.model`; writes metrics.json."""
  start = time.time()
  # Each baseline and evaluation builds new predict functions; TF's
  # "retracing" warning about them is noise here.
  tf.get_logger().setLevel(logging.ERROR)
  make = _twotower if options.model == "twotower" else _ctr
  model, signature, serving_fn, probe, results = make(options, say)
  for output, r in results.items():
    say(f"held-out AUC ({output}): {r['auc']:.4f}, logistic regression "
        f"{r['baseline_auc']:.4f}")
  static = de.export_static(model, input_signature=signature,
                            serving_fn=serving_fn)
  flatbuffer = static.to_tflite()
  path = os.path.join(options.out, f"{options.model}.tflite")
  with open(path, "wb") as f:
    f.write(flatbuffer)
  probe = _known(model, probe)
  want = (serving_fn or (lambda m, x: m(x)))(model, probe)
  runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
  got = runner(**probe)
  if not isinstance(want, dict):
    want = {next(iter(got)): want}
    got = {k: got[k] for k in want}
  want = {k: np.asarray(v) for k, v in want.items()}
  diff = max(float(np.abs(got[k].astype(np.float64) - want[k]).max())
             for k in want if want[k].dtype.kind == "f")
  same = all(np.array_equal(got[k], want[k]) for k in want
             if want[k].dtype.kind != "f")
  say(f"exported {path}: {len(flatbuffer):,} bytes; TFLite vs TF on "
      f"{len(next(iter(probe.values())))} held-out examples: max "
      f"difference {diff:.1e}" + ("" if serving_fn is None else
                                  f", same top-10 items: {same}"))
  metrics = {"model": options.model, "results": results,
             "tflite_bytes": len(flatbuffer), "tflite_max_diff": diff,
             "tflite_same_items": same,
             "seconds": round(time.time() - start, 1)}
  with open(os.path.join(options.out, f"{options.model}.json"), "w") as f:
    json.dump(metrics, f, indent=2)
  return metrics
