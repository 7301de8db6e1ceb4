"""A fresh process that only imports the package loads saved models holding
our layers and wrapped optimizers: `tf.keras.models.load_model` of a tf_keras
SavedModel or `.keras` file, `keras.models.load_model` of a Keras 3 `.keras`
file, whether the program imports the package before or after Keras, and
without touching `de.keras` (keras_registration.py).

The model is saved here (after training, so the optimizer has slots); the
child loads it, checks its predictions against the ones computed here, that
the optimizer is our wrapped class, and trains one more step.
"""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorflow_recommenders_addons import dynamic_embedding as de

import pyproc

IDS = np.array([[1, 2], [3, 1], [2, 9], [7, 7]], np.int64)
TARGETS = np.array([[0.5], [-1.0], [2.0], [0.0]], np.float32)
# seen ids only: an unseen id reads a random (RandomNormal) row
PREDICT_IDS = np.array([[1, 2], [9, 3]], np.int64)

# The child's import lines, in the program's order.
_IMPORTS = {
    "package_first": "import tensorflow_recommenders_addons\n{keras}\n",
    "keras_first": "{keras}\nimport tensorflow_recommenders_addons\n",
}
_KERAS_IMPORT = {
    # tf.keras is tf_keras under TF_USE_LEGACY_KERAS=1 (imported on first use)
    "tf_keras": "import tensorflow as tf\nkeras = tf.keras",
    "keras3": "import keras",
}

_CHILD = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    {imports}
    import numpy as np
    path, expected_file = sys.argv[1], sys.argv[2]
    expected = json.load(open(expected_file))
    model = keras.models.load_model(path)
    ids = np.array(expected["ids"], np.int64)
    got = model.predict(ids, verbose=0).tolist()
    np.testing.assert_allclose(got, expected["predictions"], rtol=1e-5)
    name = type(model.optimizer).__name__
    if name == "LossScaleOptimizer":
      name = type(model.optimizer.inner_optimizer).__name__
    history = model.fit(np.array(expected["train_ids"], np.int64),
                        np.array(expected["targets"], np.float32),
                        epochs=1, verbose=0)
    print(json.dumps({{"optimizer": name,
                      "loss": float(history.history["loss"][-1])}}))
""")


def _model(flavour):
  """Embedding -> Flatten -> Dense, compiled with a wrapped Adam."""
  keras = importlib.import_module("tf_keras" if flavour == "tf_keras"
                                  else "keras")
  layers = importlib.import_module(
      f"tensorflow_recommenders_addons.dynamic_embedding.keras.layers."
      f"{flavour}")
  model = keras.Sequential([
      keras.Input((2,), dtype="int64"),
      layers.Embedding(4, name="emb"),
      keras.layers.Flatten(),
      keras.layers.Dense(1),
  ])
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05)),
                "mse")
  return model


# tf_keras is imported after the package when the program first touches
# tf.keras (the import-hook path), or before it; TensorFlow's own import
# brings in Keras 3, so its registration is immediate either way.
@pytest.mark.parametrize("flavour,fmt,order", [
    ("tf_keras", "saved_model", "package_first"),
    ("tf_keras", "keras", "package_first"),
    ("tf_keras", "keras", "keras_first"),
    ("keras3", "keras", "package_first"),
])
def test_fresh_process_loads_with_only_the_package_imported(
    tmp_path, flavour, fmt, order):
  model = _model(flavour)
  model.fit(IDS, TARGETS, epochs=3, verbose=0)
  path = str(tmp_path / ("model" if fmt == "saved_model" else "model.keras"))
  if flavour == "tf_keras" and fmt == "saved_model":
    model.save(path, save_format="tf")
  else:
    model.save(path)
  expected = {"ids": PREDICT_IDS.tolist(),
              "predictions": model.predict(PREDICT_IDS, verbose=0).tolist(),
              "train_ids": IDS.tolist(), "targets": TARGETS.tolist()}
  expected_file = tmp_path / "expected.json"
  expected_file.write_text(json.dumps(expected))

  imports = _IMPORTS[order].format(keras=_KERAS_IMPORT[flavour])
  env = dict(os.environ)
  env["TF_USE_LEGACY_KERAS"] = "1" if flavour == "tf_keras" else "0"
  out = subprocess.run(
      pyproc.python("-c", _CHILD.format(imports=imports), path,
                    str(expected_file)),
      capture_output=True, text=True, timeout=180, check=False,
      cwd=str(tmp_path), env=env)
  assert out.returncode == 0, out.stderr[-4000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["optimizer"] == "DynamicEmbeddingAdam"
  assert np.isfinite(result["loss"])
