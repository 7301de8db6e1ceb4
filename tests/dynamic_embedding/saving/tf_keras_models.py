"""tf_keras models holding a dynamic embedding layer, for the saving tests.

Every model is ids `[batch, N]` -> one of the tf_keras layers (table `emb`)
-> Flatten -> Dense(1) "head". Unseen ids read a constant row
(`INITIAL_ROW`), so an original model and its reloaded copy must agree on
them too; training uses a constant-seeded head, so two models built alike
train alike.
"""

import numpy as np
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers

DIM = 4
N = 3
INITIAL_ROW = [0.5, -0.25, 0.125, 1.0]
KEY_DTYPES = {"int64": tf.int64, "int32": tf.int32, "string": tf.string}
CLASSES = ["Embedding", "BasicEmbedding", "SquashedEmbedding",
           "FieldWiseEmbedding"]
KINDS = ["sequential", "functional", "subclassed"]


def embedding(cls, key_dtype, **kwargs):
  """A tf_keras dynamic embedding layer named "emb"."""
  if cls == "FieldWiseEmbedding":
    kwargs.setdefault("nslots", 2)
  return getattr(layers, cls)(DIM, key_dtype=key_dtype, name="emb",
                              combiner="mean", initializer=INITIAL_ROW,
                              **kwargs)


def _head():
  return tf_keras.layers.Dense(
      1, name="head",
      kernel_initializer=tf_keras.initializers.RandomNormal(seed=7))


@tf_keras.saving.register_keras_serializable(package="TFRATest")
class Subclassed(tf_keras.Model):
  """A subclassed model over one embedding layer; `get_config` lets
  tf_keras rebuild it when loading, and `build_from_config` creates its
  weights from ids (tf_keras's own `build` would call it on float inputs,
  which the layer refuses)."""

  def __init__(self, layer_class, key_dtype, layer_kwargs=None, **kwargs):
    super().__init__(**kwargs)
    self.layer_class = layer_class
    self.key_dtype_name = tf.as_dtype(key_dtype).name
    self.layer_kwargs = dict(layer_kwargs or {})
    self.emb = embedding(layer_class, tf.as_dtype(key_dtype),
                         **self.layer_kwargs)
    self.flatten = tf_keras.layers.Flatten()
    self.head = _head()

  def call(self, ids):  # pylint: disable=arguments-differ
    return self.head(self.flatten(self.emb(ids)))

  def build_from_config(self, config):
    del config
    self(ids_of(tf.as_dtype(self.key_dtype_name), 1, seed=99))

  def get_config(self):
    return {"layer_class": self.layer_class, "key_dtype": self.key_dtype_name,
            "layer_kwargs": self.layer_kwargs}


def build(kind, cls, key_dtype, optimizer=None, **layer_kwargs):
  """A model of `kind` ("sequential", "functional" or "subclassed"),
  compiled with a wrapped `optimizer` (a tf_keras optimizer) unless None."""
  if kind == "sequential":
    model = tf_keras.Sequential([
        tf_keras.Input([N], dtype=key_dtype),
        embedding(cls, key_dtype, **layer_kwargs),
        tf_keras.layers.Flatten(), _head()])
  elif kind == "functional":
    ids = tf_keras.Input([N], dtype=key_dtype, name="ids")
    rows = embedding(cls, key_dtype, **layer_kwargs)(ids)
    model = tf_keras.Model(ids, _head()(tf_keras.layers.Flatten()(rows)))
  else:
    model = Subclassed(cls, key_dtype, layer_kwargs)
    model.build_from_config(None)  # creates the head's weights
  if optimizer is not None:
    model.compile(optimizer=de.DynamicEmbeddingOptimizer(optimizer),
                  loss="mse")
  return model


def ids_of(key_dtype, batch, seed, vocab=12, offset=0):
  """`[batch, N]` ids drawn from `vocab` distinct values (from `offset`)."""
  raw = np.random.default_rng(seed).integers(0, vocab, (batch, N)) + offset
  if key_dtype == tf.string:
    return tf.constant(np.vectorize(lambda i: f"id{i}")(raw))
  return tf.constant(raw, key_dtype)


def labels(batch, seed):
  return np.random.default_rng(seed + 1000).standard_normal(
      (batch, 1)).astype(np.float32)


def fit(model, ids, y, epochs):
  """Trains in a fixed order: batches of 4, no shuffling."""
  model.fit(ids, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)


def embedding_layer(model):
  return next(layer for layer in model.layers if hasattr(layer, "params"))


def rows_of(variable):
  """A `de.Variable`'s content as {key: row}."""
  keys, values = variable.export()
  return dict(zip(keys.numpy().tolist(), values.numpy()))


def assert_same_rows(got, expected):
  """Two `de.Variable`s (or {key: row} dicts) hold the same rows."""
  got = got if isinstance(got, dict) else rows_of(got)
  expected = expected if isinstance(expected, dict) else rows_of(expected)
  assert sorted(got) == sorted(expected)
  for key, row in expected.items():
    np.testing.assert_allclose(got[key], row, rtol=1e-6, atol=1e-7)


def slot_rows(model):
  """{slot table name: {key: row}} of the model's embedding."""
  params = embedding_layer(model).params
  return {slot.name: rows_of(slot)
          for slot in params.get_slot_variables(model.optimizer)}


def predictions(model, ids):
  return model.predict(ids, batch_size=4, verbose=0)


def filled(kind, cls, key_dtype, **layer_kwargs):
  """An uncompiled model whose table holds rows for the ids of `seen`."""
  model = build(kind, cls, key_dtype, **layer_kwargs)
  keys = np.unique(seen(key_dtype).numpy().reshape(-1))
  rows = np.random.default_rng(5).standard_normal((len(keys), DIM))
  embedding_layer(model).params.upsert(tf.constant(keys, key_dtype),
                                       tf.constant(rows, tf.float32))
  return model


def seen(key_dtype):
  return ids_of(key_dtype, 6, seed=1)


def unseen(key_dtype):
  return ids_of(key_dtype, 3, seed=2, offset=1000)


def assert_predicts_alike(loaded, model, key_dtype):
  """Same class of layer, same rows, same predictions for seen and unseen
  ids."""
  layer = embedding_layer(loaded)
  assert type(layer) is type(embedding_layer(model))
  assert_same_rows(layer.params, embedding_layer(model).params)
  for ids in (seen(key_dtype), unseen(key_dtype)):
    np.testing.assert_allclose(predictions(loaded, ids),
                               predictions(model, ids), rtol=1e-6)


# Training: N epochs, save, load, M epochs equals N + M epochs. ------------

def optimizer():
  return tf_keras.optimizers.Adam(0.05)


def data(key_dtype):
  """12 examples over 12 ids."""
  return ids_of(key_dtype, 12, seed=3), labels(12, seed=3)


def late_data(key_dtype):
  """8 examples whose ids are partly new after `data`."""
  return ids_of(key_dtype, 8, seed=4, offset=6), labels(8, seed=4)


def train_interrupted(kind, cls, key_dtype, save, load):
  """Trains 1 epoch, saves with `save(model)`, reloads with `load(saved)`,
  trains 1 more epoch and one on partly new ids. Returns the model trained
  so without interruption and the reloaded one."""
  reference = build(kind, cls, key_dtype, optimizer())
  interrupted = build(kind, cls, key_dtype, optimizer())
  fit(reference, *data(key_dtype), epochs=2)
  fit(reference, *late_data(key_dtype), epochs=1)
  fit(interrupted, *data(key_dtype), epochs=1)
  resumed = load(save(interrupted))
  assert int(resumed.optimizer.iterations) == 3
  fit(resumed, *data(key_dtype), epochs=1)
  fit(resumed, *late_data(key_dtype), epochs=1)
  return reference, resumed


def assert_trained_alike(resumed, reference, key_dtype):
  """Same step count, rows, slot tables and predictions."""
  assert int(resumed.optimizer.iterations) == int(
      reference.optimizer.iterations)
  assert_same_rows(embedding_layer(resumed).params,
                   embedding_layer(reference).params)
  expected_slots = slot_rows(reference)
  got_slots = slot_rows(resumed)
  assert sorted(got_slots) == sorted(expected_slots) and expected_slots
  for name, rows in expected_slots.items():
    assert_same_rows(got_slots[name], rows)
  ids = tf.concat([data(key_dtype)[0], late_data(key_dtype)[0]], 0)
  np.testing.assert_allclose(predictions(resumed, ids),
                             predictions(reference, ids), rtol=1e-5,
                             atol=1e-6)
