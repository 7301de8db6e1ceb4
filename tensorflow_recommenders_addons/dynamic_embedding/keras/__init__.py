"""Keras integration of dynamic embeddings (`de.keras`).

  layers   tf_keras (Keras 2) embedding layers over a `de.Variable`
"""

from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers.wrap import register_tf_keras_optimizers

# A saved model's optimizer config may name "TFRA>DynamicEmbeddingAdam" etc.;
# make those classes known to tf_keras deserialization.
register_tf_keras_optimizers()

__all__ = ["layers"]
