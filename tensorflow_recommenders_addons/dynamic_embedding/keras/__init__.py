"""Keras integration of dynamic embeddings (`de.keras`).

  layers     embedding layers over a `de.Variable`, for Keras 3 and tf_keras
             (`de.keras.layers` follows `tf.keras`; see its docstring)
  callbacks  ModelCheckpoint (TFRA's name)
  models     save_model (TFRA's name)
"""

from tensorflow_recommenders_addons.dynamic_embedding import keras_registration
from tensorflow_recommenders_addons.dynamic_embedding.keras import callbacks
from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
from tensorflow_recommenders_addons.dynamic_embedding.keras import models

# A saved model's config names "TFRA>Embedding", "TFRA>DynamicEmbeddingAdam"
# etc.; `de`'s import already made them known to each imported Keras (and
# to tf_keras once it is imported): see keras_registration.py.
keras_registration.register_when_imported()

__all__ = ["callbacks", "layers", "models"]
