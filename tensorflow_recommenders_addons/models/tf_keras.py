"""The model zoo for tf_keras (Keras 2): blocks and models on dynamic
embeddings (see the package docstring, models/__init__.py)."""

import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as _layers
from tensorflow_recommenders_addons.models import _flavour

_CLASSES = _flavour.declare(tf_keras, _layers.Embedding, __name__, "tf_keras")

FieldEmbedding = _CLASSES["FieldEmbedding"]
FM = _CLASSES["FM"]
SENET = _CLASSES["SENET"]
BilinearInteraction = _CLASSES["BilinearInteraction"]
Dice = _CLASSES["Dice"]
AttentionPooling = _CLASSES["AttentionPooling"]
MLP = _CLASSES["MLP"]
LogisticRegression = _CLASSES["LogisticRegression"]
DeepFM = _CLASSES["DeepFM"]
FiBiNET = _CLASSES["FiBiNET"]
ESMM = _CLASSES["ESMM"]
MMoE = _CLASSES["MMoE"]
TwoTower = _CLASSES["TwoTower"]

__all__ = list(_flavour.NAMES)
