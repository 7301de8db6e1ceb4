"""Models holding a dynamic embedding layer, for the saving tests of either
Keras: `ModelKit(keras_module, layers_module)` (keras3_models.py and
tf_keras_models.py make one each).

Every model is ids `[batch, N]` -> one of the layers (table `emb`) ->
Flatten -> Dense(1) "head". Unseen ids read a constant row (`INITIAL_ROW`),
so an original model and its reloaded copy must agree on them too; the
head's kernel has a seeded initializer, so two models built alike train
alike. String ids carry NUL bytes and invalid UTF-8.
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 4
N = 3
INITIAL_ROW = [0.5, -0.25, 0.125, 1.0]
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["Embedding", "BasicEmbedding", "SquashedEmbedding",
           "FieldWiseEmbedding"]
KINDS = ["sequential", "functional", "subclassed"]


def ids_of(key_dtype, n, seed, offset=0, vocab=12):
  """`[n, N]` ids drawn from `vocab` distinct values (from `offset`)."""
  ints = np.random.default_rng(seed).integers(0, vocab, size=(n, N)) + offset
  if key_dtype == tf.string:
    return tf.constant(np.array(
        [[b"\x00id\xff%d" % i for i in row] for row in ints], dtype=object))
  return tf.constant(ints, key_dtype)


def labels(n, seed):
  return np.random.default_rng(seed + 1000).standard_normal((n, 1)).astype(
      np.float32)


def fit(model, ids, targets, epochs=1):
  """Trains in a fixed order: batches of 4, no shuffling."""
  model.fit(ids, targets, batch_size=4, epochs=epochs, shuffle=False,
            verbose=0)


def rows_of(var):
  """A `de.Variable`'s content as {key: row (a list)}."""
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def assert_rows_close(actual, expected, atol=1e-7):
  """Two {key: row} dicts (or `de.Variable`s) hold the same keys and rows."""
  actual = actual if isinstance(actual, dict) else rows_of(actual)
  expected = expected if isinstance(expected, dict) else rows_of(expected)
  assert sorted(actual) == sorted(expected)
  for key, row in expected.items():
    np.testing.assert_allclose(actual[key], row, rtol=1e-6, atol=atol,
                               err_msg=repr(key))


class ModelKit:
  """Builders for one Keras.

  Args:
    keras: The Keras module (`keras` or `tf_keras`).
    layers: Its layer module (`de.keras.layers.keras3` or `.tf_keras`).
  """

  def __init__(self, keras, layers):
    self.keras = keras
    self.layers = layers
    self.Subclassed = _subclassed_class(self)  # pylint: disable=invalid-name

  def embedding(self, cls, key_dtype, dim=DIM, **kwargs):
    """A dynamic embedding layer named "emb"."""
    if cls == "FieldWiseEmbedding":
      kwargs.setdefault("nslots", 2)
    kwargs.setdefault("max_unique_ids", 32)
    initializer = (INITIAL_ROW * dim)[:dim]
    return getattr(self.layers, cls)(dim, key_dtype=key_dtype, name="emb",
                                     combiner="mean", initializer=initializer,
                                     **kwargs)

  def head(self):
    return self.keras.layers.Dense(
        1, name="head", kernel_initializer=self.keras.initializers.RandomNormal(
            stddev=0.5, seed=7))

  def build(self, kind, cls, key_dtype, optimizer=None, **layer_kwargs):
    """A model of `kind` ("sequential", "functional" or "subclassed"),
    compiled with a wrapped `optimizer` unless None."""
    keras = self.keras
    if kind == "sequential":
      model = keras.Sequential([
          keras.Input([N], dtype=key_dtype.name),
          self.embedding(cls, key_dtype, **layer_kwargs),
          keras.layers.Flatten(), self.head()])
    elif kind == "functional":
      ids = keras.Input([N], dtype=key_dtype.name, name="ids")
      rows = self.embedding(cls, key_dtype, **layer_kwargs)(ids)
      model = keras.Model(ids, self.head()(keras.layers.Flatten()(rows)))
    else:
      model = self.Subclassed(cls, key_dtype, layer_kwargs)
      model.build_from_config(None)  # creates the head's weights
    if optimizer is not None:
      model.compile(optimizer=de.DynamicEmbeddingOptimizer(optimizer),
                    loss="mse")
    return model

  def embedding_layer(self, model):
    """The dynamic embedding layer of a model."""
    if isinstance(model, self.Subclassed):
      return model.emb
    return next(layer for layer in model.layers if hasattr(layer, "params"))

  def slot_rows(self, model):
    """{slot table name suffix: {key: row}} of the model's optimizer."""
    var = self.embedding_layer(model).params
    return {slot.name.rsplit("-", 1)[-1]: rows_of(slot)
            for slot in var.get_slot_variables(model.optimizer)}


def _subclassed_class(kit):
  """A subclassed model class over one embedding layer, registered with the
  kit's Keras; `get_config` lets Keras rebuild it when loading, and
  `build_from_config` creates its weights from ids (Keras's own build
  would call it on float inputs, which the layers refuse)."""
  keras = kit.keras

  @keras.saving.register_keras_serializable(package="TFRATest")
  class Subclassed(keras.Model):
    """One embedding layer, Flatten and the head."""

    def __init__(self, layer_class, key_dtype, layer_kwargs=None, **kwargs):
      super().__init__(**kwargs)
      self.layer_class = layer_class
      self.key_dtype_name = tf.as_dtype(key_dtype).name
      self.layer_kwargs = dict(layer_kwargs or {})
      self.emb = kit.embedding(layer_class, tf.as_dtype(key_dtype),
                               **self.layer_kwargs)
      self.flatten = keras.layers.Flatten()
      self.head = kit.head()

    def call(self, ids):  # pylint: disable=arguments-differ
      return self.head(self.flatten(self.emb(ids)))

    def build_from_config(self, config):
      del config
      self(ids_of(tf.as_dtype(self.key_dtype_name), 1, seed=99))

    def get_config(self):
      return {"layer_class": self.layer_class,
              "key_dtype": self.key_dtype_name,
              "layer_kwargs": self.layer_kwargs}

  return Subclassed
