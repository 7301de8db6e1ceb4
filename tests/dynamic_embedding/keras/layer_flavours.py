"""The `flavour` fixture of the layer tests and its helpers.

A test that takes `flavour` runs twice: with the tf_keras layers in tf_keras
models, and with the Keras 3 layers in Keras 3 models. The body uses
`flavour.layers` (`de.keras.layers.tf_keras` or `.keras3`) and
`flavour.keras` (`tf_keras` or `keras`) wherever it names a layer or a
Keras API; where the two Keras differ, a Keras-3-only test sits next to it.

Test modules import the fixture (`from layer_flavours import flavour`): a
conftest.py here would replace the suite's own module `conftest`, which
other test modules import from.
"""

import types
from typing import NamedTuple

import keras
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as keras3_layers
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as tf_keras_layers


class Flavour(NamedTuple):
  """The layers of one Keras and that Keras."""

  name: str
  layers: types.ModuleType
  keras: types.ModuleType

  def inputs(self, ids):
    """Numpy ids as a model input: Keras 3 takes no numpy string arrays
    (dtype object), so those go in as a tensor."""
    if self.name == "keras3" and ids.dtype == object:
      return tf.constant(ids)
    return ids

  def save(self, model, path):
    """Saves the model's training state (table, dense weights, optimizer
    with its slot tables): tf_keras's `save_weights` (TF format), or a
    `tf.train.Checkpoint` for Keras 3 (whose `.weights.h5` format,
    tested in tests/dynamic_embedding/saving, needs a built optimizer)."""
    if self.name == "tf_keras":
      model.save_weights(path)
    else:
      _checkpoint(model).write(path)

  def restore(self, model, path):
    """Restores what `save` wrote; returns the load status."""
    if self.name == "tf_keras":
      return model.load_weights(path)
    return _checkpoint(model).read(path)


def _checkpoint(model):
  if getattr(model, "optimizer", None) is None:  # uncompiled
    return tf.train.Checkpoint(model=model)
  return tf.train.Checkpoint(model=model, optimizer=model.optimizer)


TF_KERAS = Flavour("tf_keras", tf_keras_layers, tf_keras)
KERAS3 = Flavour("keras3", keras3_layers, keras)
FLAVOURS = {f.name: f for f in (TF_KERAS, KERAS3)}


@pytest.fixture(params=FLAVOURS.values(), ids=FLAVOURS.keys())
def flavour(request):
  return request.param


def embedding_layer(model):
  """The dynamic embedding layer of a model (the one with a table)."""
  return next(layer for layer in model.layers if hasattr(layer, "params"))
