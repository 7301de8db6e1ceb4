"""Keras 3 models holding a dynamic embedding layer, for the saving tests.

Every model is ids `[batch, N]` -> one of the Keras 3 layers (table `emb`)
-> Flatten -> Dense(1) "head". Unseen ids read a constant row
(`INITIAL_ROW`), so an original model and its reloaded copy must agree on
them too; the head's kernel has a seeded initializer, so two models built
alike train alike. String ids carry NUL bytes and invalid UTF-8.
"""

import keras
import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as layers

DIM = 4
N = 3
INITIAL_ROW = [0.5, -0.25, 0.125, 1.0]
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["Embedding", "BasicEmbedding", "SquashedEmbedding",
           "FieldWiseEmbedding"]


def embedding(cls, key_dtype, dim=DIM, **kwargs):
  """A Keras 3 dynamic embedding layer named "emb"."""
  if cls == "FieldWiseEmbedding":
    kwargs.setdefault("nslots", 2)
  kwargs.setdefault("max_unique_ids", 32)
  initializer = (INITIAL_ROW * dim)[:dim]
  return getattr(layers, cls)(dim, key_dtype=key_dtype, name="emb",
                              combiner="mean", initializer=initializer,
                              **kwargs)


def _head():
  return keras.layers.Dense(
      1, name="head", kernel_initializer=keras.initializers.RandomNormal(
          stddev=0.5, seed=7))


@keras.saving.register_keras_serializable(package="TFRATest")
class Subclassed(keras.Model):
  """A subclassed model over one embedding layer; `get_config` lets Keras
  rebuild it when loading."""

  def __init__(self, layer_class, key_dtype, layer_kwargs=None, **kwargs):
    super().__init__(**kwargs)
    self.layer_class = layer_class
    self.key_dtype_name = tf.as_dtype(key_dtype).name
    self.layer_kwargs = dict(layer_kwargs or {})
    self.emb = embedding(layer_class, tf.as_dtype(key_dtype),
                         **self.layer_kwargs)
    self.flatten = keras.layers.Flatten()
    self.head = _head()

  def call(self, ids):  # pylint: disable=arguments-differ
    return self.head(self.flatten(self.emb(ids)))

  def build_from_config(self, config):
    """Creates the weights when Keras loads the model."""
    del config
    self(ids_of(tf.as_dtype(self.key_dtype_name), 1, seed=99))

  def get_config(self):
    return {"layer_class": self.layer_class, "key_dtype": self.key_dtype_name,
            "layer_kwargs": self.layer_kwargs}


def build(kind, cls, key_dtype, optimizer=None, **layer_kwargs):
  """A model of `kind` ("sequential", "functional" or "subclassed"),
  compiled with `optimizer` (a Keras 3 optimizer, wrapped here) unless
  None."""
  if kind == "sequential":
    model = keras.Sequential([
        keras.Input([N], dtype=key_dtype.name),
        embedding(cls, key_dtype, **layer_kwargs),
        keras.layers.Flatten(), _head()])
  elif kind == "functional":
    ids = keras.Input([N], dtype=key_dtype.name, name="ids")
    rows = embedding(cls, key_dtype, **layer_kwargs)(ids)
    model = keras.Model(ids, _head()(keras.layers.Flatten()(rows)))
  else:
    model = Subclassed(cls, key_dtype, layer_kwargs)
    model.build_from_config(None)  # creates the head's weights
  if optimizer is not None:
    model.compile(optimizer=de.DynamicEmbeddingOptimizer(optimizer),
                  loss="mse")
  return model


def ids_of(key_dtype, n, seed, offset=0):
  """`[n, N]` ids from a vocabulary of 10 (shifted by `offset`); strings
  hold NUL bytes and bytes that are not UTF-8."""
  ints = np.random.default_rng(seed).integers(0, 10, size=(n, N)) + offset
  if key_dtype == tf.string:
    return tf.constant(np.array(
        [[b"\x00id\xff%d" % i for i in row] for row in ints], dtype=object))
  return tf.constant(ints, key_dtype)


def labels(n, seed):
  return np.random.default_rng(seed).standard_normal((n, 1)).astype(
      np.float32)


def fit(model, ids, targets, epochs=1):
  """Trains in batches of 4, in order."""
  model.fit(ids, targets, batch_size=4, epochs=epochs, shuffle=False,
            verbose=0)


def embedding_layer(model):
  """The dynamic embedding layer of a model."""
  if isinstance(model, Subclassed):
    return model.emb
  return next(layer for layer in model.layers if hasattr(layer, "params"))


def rows_of(var):
  """A variable's content as {key: row}."""
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def slot_rows(model):
  """{slot table name suffix: {key: row}} of the model's optimizer."""
  var = embedding_layer(model).params
  return {slot.name.rsplit("-", 1)[-1]: rows_of(slot)
          for slot in var.get_slot_variables(model.optimizer)}


def assert_rows_close(actual, expected, atol=1e-6):
  """Two {key: row} dicts hold the same keys and rows."""
  assert sorted(actual) == sorted(expected)
  for key, row in expected.items():
    np.testing.assert_allclose(actual[key], row, rtol=1e-6, atol=atol,
                               err_msg=repr(key))
