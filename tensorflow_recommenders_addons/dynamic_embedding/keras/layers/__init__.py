"""Dynamic embedding layers for tf_keras (Keras 2): `de.keras.layers`.

  BasicEmbedding       ids -> ids.shape + [embedding_size] rows
  Embedding            TFRA's main name for BasicEmbedding
  SquashedEmbedding    rows of the last id axis combined (sum/mean/sqrtn)
  FieldWiseEmbedding   rows combined per field: [batch, nslots, dim]
"""

try:
  import tf_keras  # pylint: disable=unused-import
except ImportError as e:
  raise ImportError(
      "de.keras.layers are tf_keras (Keras 2) layers and need the tf_keras "
      "package: pip install 'tf_keras>=2.21,<2.22'") from e

# pylint: disable=wrong-import-position
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import BasicEmbedding
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import Embedding
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import SquashedEmbedding
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.field_wise import FieldWiseEmbedding

__all__ = [
    "BasicEmbedding",
    "Embedding",
    "FieldWiseEmbedding",
    "SquashedEmbedding",
]
