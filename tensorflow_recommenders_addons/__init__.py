"""tensorflow_recommenders_addons: dynamic embeddings for TensorFlow recommenders.

Public API:
  dynamic_embedding   hash-table backed embeddings (`de`)
  register_all        load every op library (serving processes)
  __version__
"""

from tensorflow_recommenders_addons.version import __version__
from tensorflow_recommenders_addons.register import register_all
from tensorflow_recommenders_addons import dynamic_embedding

__all__ = ["__version__", "dynamic_embedding", "register_all"]
