"""The model zoo: recommender models on dynamic embeddings of raw ids.

Building blocks (Keras layers):
  FieldEmbedding       many categorical fields, one dynamic table
  FM                   factorization machine pairwise term
  SENET                FiBiNET's squeeze-excitation field weights
  BilinearInteraction  FiBiNET's bilinear field-pair interaction
  Dice                 DIN's adaptive activation (a smooth PReLU)
  AttentionPooling     DIN's attention over a history sequence
  MLP                  Dense stack with dropout / batch norm / Dice

Models (Keras models; CTR models take {"categorical", "dense"}):
  LogisticRegression   the baseline: a weight per (field, id)
  DeepFM               linear + FM + deep
  FiBiNET              SENET + bilinear interactions + deep
  ESMM                 CTR and CTCVR over the entire space
  MMoE                 multi-gate mixture of experts, one tower per task
  TwoTower             retrieval: in-batch softmax with log-Q correction,
                       optional history encoder (bow / cnn / lstm)

Data (models.data): Criteo-shaped synthetic data and Criteo/Avazu readers.

The names here are the classes of the Keras that `tf.keras` is (Keras 3 by
default, tf_keras when `TF_USE_LEGACY_KERAS=1`); `models.keras3` and
`models.tf_keras` name a flavour directly. Train with an optimizer wrapped in
`de.DynamicEmbeddingOptimizer`. `de.export_static` turns a trained model
into one without dynamic tables (TFLite-ready).
"""

import importlib

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _tf_keras_is_legacy
from tensorflow_recommenders_addons.models._flavour import NAMES as _NAMES


def __getattr__(name):
  # As de.keras.layers: the flavour is chosen at first use, not at import.
  if name in _NAMES:
    flavour = "tf_keras" if _tf_keras_is_legacy() else "keras3"
    return getattr(importlib.import_module(f"{__name__}.{flavour}"), name)
  if name in ("keras3", "tf_keras", "data"):
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_NAMES)
