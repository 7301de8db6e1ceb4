"""Keras 3 models holding a dynamic embedding layer, for the saving tests
(model_kit.py, with the Keras 3 layers)."""

import keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as layers

import model_kit
from model_kit import CLASSES, DIM, INITIAL_ROW, KEY_DTYPES, N  # pylint: disable=unused-import
from model_kit import assert_rows_close, fit, ids_of, labels, rows_of  # pylint: disable=unused-import

_KIT = model_kit.ModelKit(keras, layers)
Subclassed = _KIT.Subclassed
embedding = _KIT.embedding
build = _KIT.build
embedding_layer = _KIT.embedding_layer
slot_rows = _KIT.slot_rows
