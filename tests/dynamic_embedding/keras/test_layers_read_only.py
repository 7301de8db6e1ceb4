"""Lookups outside training only read the table: `predict`, `evaluate`,
plain calls (eager or in a tf.function) insert no keys and change no rows,
in tf_keras and Keras 3; only a training step writes."""

import numpy as np
import pytest
import tensorflow as tf

from layer_flavours import embedding_layer, flavour  # pylint: disable=unused-import
from tensorflow_recommenders_addons import dynamic_embedding as de

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

KNOWN = [3, 5]
IDS = np.array([[3, 5, 7], [9, 3, 11]], np.int64)   # 7, 9, 11 are unknown
LABELS = np.ones((2, 1), np.float32)


def _model(flavour, cls):
  keras = flavour.keras
  kwargs = dict(nslots=2) if cls == "FieldWiseEmbedding" else {}
  ids = keras.Input(shape=(3,), dtype="int64")
  # Random rows for unknown ids: an inserting lookup would store them.
  layer = getattr(flavour.layers, cls)(
      2, initializer=keras.initializers.RandomNormal(seed=1),
      max_unique_ids=8, **kwargs)
  out = keras.layers.Dense(1)(keras.layers.Flatten()(layer(ids)))
  model = keras.Model(ids, out)
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.1)),
                "mse")
  layer.params.upsert(tf.constant(KNOWN, tf.int64), [[1.0, 2.0], [3.0, 4.0]])
  return model


def _content(params):
  keys, rows = params.export()
  return dict(zip(keys.numpy().tolist(), rows.numpy().tolist()))


ENTRIES = {
    "predict": lambda model: model.predict(IDS, verbose=0),
    "evaluate": lambda model: model.evaluate(IDS, LABELS, verbose=0),
    "call": lambda model: model(tf.constant(IDS)),
    "layer_call": lambda model: embedding_layer(model)(tf.constant(IDS)),
    "function": lambda model: tf.function(model)(tf.constant(IDS)),
}


@pytest.mark.parametrize("cls", ["Embedding", "SquashedEmbedding",
                                 "FieldWiseEmbedding"])
@pytest.mark.parametrize("entry", ENTRIES)
def test_lookups_outside_training_write_nothing(flavour, entry, cls):
  model = _model(flavour, cls)
  params = embedding_layer(model).params
  ENTRIES[entry](model)
  ENTRIES[entry](model)
  assert _content(params) == {3: [1.0, 2.0], 5: [3.0, 4.0]}


def test_a_new_layer_stays_empty_under_predict_and_evaluate(flavour):
  keras = flavour.keras
  ids = keras.Input(shape=(3,), dtype="int64")
  layer = flavour.layers.SquashedEmbedding(2, initializer=0.5,
                                           max_unique_ids=8)
  model = keras.Model(ids, layer(ids))
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.SGD(0.1)),
                "mse")
  model.predict(IDS, verbose=0)
  model.evaluate(IDS, np.ones((2, 2), np.float32), verbose=0)
  assert int(layer.params.size()) == 0


def test_training_writes_the_rows_of_its_batch(flavour):
  model = _model(flavour, "Embedding")
  params = embedding_layer(model).params
  model.fit(IDS[:1], LABELS[:1], epochs=1, verbose=0)
  content = _content(params)
  assert sorted(content) == [3, 5, 7]
  assert content[3] != [1.0, 2.0] and content[5] != [3.0, 4.0]
