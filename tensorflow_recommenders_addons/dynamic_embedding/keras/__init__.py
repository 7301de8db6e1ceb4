"""Keras integration of dynamic embeddings (`de.keras`).

  layers   embedding layers over a `de.Variable`, for Keras 3 and tf_keras
           (`de.keras.layers` follows `tf.keras`; see its docstring)
"""

from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers.wrap import register_optimizers

# A saved model's optimizer config may name "TFRA>DynamicEmbeddingAdam" etc.;
# make those classes known to Keras 3 and tf_keras deserialization.
register_optimizers()

__all__ = ["layers"]
