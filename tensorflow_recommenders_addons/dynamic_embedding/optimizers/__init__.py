"""Sparse optimizer wrappers: train `de.Variable`s with stock optimizers.

  DynamicEmbeddingOptimizer   wraps a tf_keras optimizer (slots in tables)
"""

from tensorflow_recommenders_addons.dynamic_embedding.optimizers.wrap import DynamicEmbeddingOptimizer

__all__ = ["DynamicEmbeddingOptimizer"]
