"""tf_keras models holding a dynamic embedding layer, for the saving tests
(model_kit.py, with the tf_keras layers), and the round-trip checks they
share."""

import numpy as np
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers

import model_kit
from model_kit import CLASSES, DIM, INITIAL_ROW, KEY_DTYPES, KINDS, N  # pylint: disable=unused-import
from model_kit import fit, ids_of, labels, rows_of  # pylint: disable=unused-import
from model_kit import assert_rows_close as assert_same_rows  # pylint: disable=unused-import

_KIT = model_kit.ModelKit(tf_keras, layers)
Subclassed = _KIT.Subclassed
embedding = _KIT.embedding
build = _KIT.build
embedding_layer = _KIT.embedding_layer
slot_rows = _KIT.slot_rows


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
