"""On-device next-item recommendation: a dual encoder trained on dynamic
embeddings, exported to TensorFlow Lite.

For each context encoder (bag of words, 1-D CNN, LSTM over the history) it
trains a `tfra.models.keras3.TwoTower` on MovieLens-shaped synthetic
histories (`models.data.synthetic_retrieval`: users, the last 10 items each
watched, the next item), then:

  1. freezes the model with `de.export_static`: the dynamic tables become a
     static id -> row lookup, and the served function scores every item
     and returns the top 10 (no `TFRA>` op left);
  2. converts it with `tf.lite.TFLiteConverter` and writes `<encoder>.tflite`;
  3. runs the `.tflite` file in the TFLite interpreter on held-out users
     and checks it returns the TF model's top 10 with the same scores.

The check is over held-out users whose ids and history items the trained
tables hold: for other ids the exported model reads its fixed default row
(zeros), while the training model draws a fresh initializer row.

Run: python examples/on_device_next_item.py [--out DIR] [--encoders bow,cnn]
"""

import argparse
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.models import data
from tensorflow_recommenders_addons.models import keras3 as zoo

HISTORY = 10
TOP_K = 10


def train(encoder, d, epochs, seed=1):
  """A TwoTower model with `encoder` trained on the examples `d`."""
  model = zoo.TwoTower(1, 1, embedding_size=16, tower_units=(32,),
                       history_encoder=encoder, seed=seed)
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.02)))
  model.fit({k: d[k] for k in ("user", "history", "item",
                               "item_probability")},
            batch_size=128, epochs=epochs, verbose=0)
  return model


def _known(model, inputs):
  """The examples of `inputs` whose user and history ids are in the
  model's tables."""
  ok = (model.user_embedding.holds(inputs["user"]).numpy().all(axis=1) &
        model.item_embedding.holds(inputs["history"], field=0).numpy()
        .all(axis=1))
  return {k: v[ok] for k, v in inputs.items()}


def run(out_dir, encoders=("bow", "cnn", "lstm"), num_examples=6000,
        epochs=3, verbose=True):
  """Trains, exports and checks one model per encoder.

  Returns:
    `{encoder: {"path", "bytes", "max_score_diff", "same_items",
    "tflite_ms"}}`.
  """
  d = data.synthetic_retrieval(num_examples + 500, num_users=300,
                               num_items=400, history_length=HISTORY, seed=0)
  train_part = {k: v[:num_examples] for k, v in d.items() if k != "items"}
  held_out = {"user": d["user"][num_examples:],
              "history": d["history"][num_examples:]}
  signature = {"user": tf.TensorSpec([None, 1], tf.int64),
               "history": tf.TensorSpec([None, HISTORY], tf.int64)}
  results = {}
  for encoder in encoders:
    model = train(encoder, train_part, epochs)
    items = tf.constant(d["items"])
    candidates = model.candidate_embedding(d["items"][:, None])
    fn = lambda m, q: m.top_k(q, items, candidates, TOP_K)  # noqa: E731
    held_out = _known(model, held_out)
    want = {k: v.numpy() for k, v in fn(model, held_out).items()}
    static = de.export_static(model, input_signature=signature,
                              serving_fn=fn)
    flatbuffer = static.to_tflite()
    path = os.path.join(out_dir, f"{encoder}.tflite")
    with open(path, "wb") as f:
      f.write(flatbuffer)
    interpreter = tf.lite.Interpreter(model_path=path)
    runner = interpreter.get_signature_runner()
    start = time.perf_counter()
    got = runner(**held_out)
    elapsed = (time.perf_counter() - start) * 1e3
    results[encoder] = {
        "path": path, "bytes": len(flatbuffer),
        "max_score_diff": float(np.abs(got["scores"] - want["scores"]).max()),
        "same_items": bool((got["items"] == want["items"]).all()),
        "tflite_ms": elapsed,
    }
    if verbose:
      r = results[encoder]
      print(f"{encoder:5s} {path}: {r['bytes']:,} bytes; top-{TOP_K} of "
            f"{len(held_out['user'])} held-out users: same items "
            f"{r['same_items']}, max score difference "
            f"{r['max_score_diff']:.1e}; TFLite {elapsed:.1f} ms")
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", default=".", help="folder of the .tflite "
                      "files")
  parser.add_argument("--encoders", default="bow,cnn,lstm")
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  results = run(args.out, tuple(args.encoders.split(",")))
  ok = all(r["same_items"] and r["max_score_diff"] <= 1e-5
           for r in results.values())
  print("TFLite agrees with TensorFlow:", ok)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
