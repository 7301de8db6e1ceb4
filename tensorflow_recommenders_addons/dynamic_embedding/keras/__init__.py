"""Keras integration of dynamic embeddings (`de.keras`).

  layers   tf_keras (Keras 2) embedding layers over a `de.Variable`
"""

from tensorflow_recommenders_addons.dynamic_embedding.keras import layers

__all__ = ["layers"]
