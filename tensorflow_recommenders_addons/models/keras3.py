"""The model zoo for Keras 3 (`keras`): blocks and models on dynamic
embeddings (see the package docstring, models/__init__.py)."""

import keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as _layers
from tensorflow_recommenders_addons.models import _flavour

_CLASSES = _flavour.declare(keras, _layers.Embedding, __name__, "keras3")

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
