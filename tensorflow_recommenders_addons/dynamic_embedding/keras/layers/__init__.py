"""Dynamic embedding layers: `de.keras.layers`.

  BasicEmbedding       ids -> ids.shape + [embedding_size] rows
  Embedding            TFRA's main name for BasicEmbedding
  SquashedEmbedding    rows of the last id axis combined (sum/mean/sqrtn)
  FieldWiseEmbedding   rows combined per field: [batch, nslots, dim]

The names here are the layers of the Keras that `tf.keras` is: Keras 3 by
default with TensorFlow 2.21, tf_keras when `TF_USE_LEGACY_KERAS=1` is set
before TensorFlow is imported. Either flavour can also be named directly:

  de.keras.layers.keras3     layers for Keras 3 (`keras`) models
  de.keras.layers.tf_keras   layers for tf_keras (Keras 2) models
"""

import importlib

import tensorflow as tf

from tensorflow_recommenders_addons import version
from tensorflow_recommenders_addons.dynamic_embedding import unavailable


def _tf_keras_is_legacy():
  """Whether `tf.keras` is tf_keras (TF_USE_LEGACY_KERAS) or Keras 3."""
  return tf.keras.layers.Layer.__module__.startswith("tf_keras")


def _flavour(name):
  if name == "tf_keras":
    try:
      import tf_keras  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as e:
      raise ImportError(
          "de.keras.layers.tf_keras are tf_keras (Keras 2) layers and need "
          f"the tf_keras package: pip install "
          f"'{version.TF_KERAS_REQUIREMENT}'") from e
  return importlib.import_module(f"{__name__}.{name}")


_LAYERS = ("BasicEmbedding", "Embedding", "SquashedEmbedding",
           "FieldWiseEmbedding")


def __getattr__(name):
  # The flavour is chosen at the first use of a layer name, not at import:
  # importing the package (which registers our classes with Keras) must not
  # fix what `tf.keras` is before a program sets TF_USE_LEGACY_KERAS.
  if name in _LAYERS:
    return getattr(
        _flavour("tf_keras" if _tf_keras_is_legacy() else "keras3"), name)
  # The other flavour is imported only when named.
  if name in ("keras3", "tf_keras"):
    return _flavour(name)
  unavailable.check("de.keras.layers", name)  # TFRA's Horovod layer
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BasicEmbedding",
    "Embedding",
    "FieldWiseEmbedding",
    "SquashedEmbedding",
]
