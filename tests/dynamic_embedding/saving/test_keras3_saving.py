"""Keras 3 models with dynamic embedding tables in Keras's own formats:
`model.save` (.keras) + `keras.models.load_model`, and `save_weights` /
`load_weights` (.weights.h5). The table rows and the optimizer's slot
tables are saved with the model; each test compares the reloaded model
with the original (predictions for seen and unseen ids, table rows, slot
tables) or with training that was never interrupted."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras3_models as km
from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _weights_store

EXAMPLES = 8


def _seen(key_dtype):
  return km.ids_of(key_dtype, EXAMPLES, seed=1)


def _unseen(key_dtype):
  return km.ids_of(key_dtype, 3, seed=2, offset=1000)


def _adam():
  return keras.optimizers.Adam(0.05)


def _model(cls, key, compiled, kind="functional", **layer_kwargs):
  """A model whose table holds rows for the `_seen` ids: trained for one
  epoch when `compiled` (so the optimizer's slot tables hold rows too),
  else filled by `upsert`."""
  key_dtype = km.KEY_DTYPES[key]
  model = km.build(kind, cls, key_dtype, _adam() if compiled else None,
                   **layer_kwargs)
  if compiled:
    km.fit(model, _seen(key_dtype), km.labels(EXAMPLES, seed=1))
  else:
    keys = np.unique(_seen(key_dtype).numpy().reshape(-1))
    rows = np.random.default_rng(5).standard_normal((len(keys), km.DIM))
    km.embedding_layer(model).params.upsert(
        tf.constant(keys, key_dtype), tf.constant(rows, tf.float32))
  return model


def _assert_same_model(loaded, model, key_dtype):
  """Same table rows and predictions for seen and unseen ids; the rows are
  not the initializer's (a lost table would read those)."""
  table = km.rows_of(km.embedding_layer(model).params)
  assert len(table) >= 5
  assert not any(np.allclose(row, km.INITIAL_ROW) for row in table.values())
  km.assert_rows_close(km.rows_of(km.embedding_layer(loaded).params), table)
  for ids in (_seen(key_dtype), _unseen(key_dtype)):
    np.testing.assert_allclose(loaded.predict(ids, verbose=0),
                               model.predict(ids, verbose=0), rtol=1e-6,
                               atol=1e-7)


@pytest.mark.parametrize("compiled", [True, False],
                         ids=["trained", "uncompiled"])
@pytest.mark.parametrize("key", ["int64", "string"])
@pytest.mark.parametrize("cls", km.CLASSES)
def test_load_model_predicts_like_the_saved_model(tmp_path, cls, key,
                                                  compiled):
  model = _model(cls, key, compiled)
  model.save(tmp_path / "m.keras")
  loaded = keras.models.load_model(tmp_path / "m.keras")
  _assert_same_model(loaded, model, km.KEY_DTYPES[key])
  if compiled:
    assert km.slot_rows(loaded) == km.slot_rows(model)
    assert set(km.slot_rows(model)) == {"momentum", "velocity"}


@pytest.mark.parametrize("kind", ["sequential", "subclassed"])
def test_other_model_kinds_round_trip(tmp_path, kind):
  model = _model("SquashedEmbedding", "string", True, kind=kind)
  model.save(tmp_path / "m.keras")
  loaded = keras.models.load_model(tmp_path / "m.keras")
  _assert_same_model(loaded, model, tf.string)


def _resumed_equals_uninterrupted(resumed, key_dtype, cls):
  """Trains `resumed` (trained on the first half) on the second half and
  compares it with a model trained on both halves without a break."""
  first, second = _seen(key_dtype), km.ids_of(key_dtype, EXAMPLES, seed=3)
  y1, y2 = km.labels(EXAMPLES, seed=1), km.labels(EXAMPLES, seed=4)
  km.fit(resumed, second, y2)
  reference = km.build("functional", cls, key_dtype, _adam())
  km.fit(reference, first, y1)
  km.fit(reference, second, y2)
  km.assert_rows_close(km.rows_of(km.embedding_layer(resumed).params),
                       km.rows_of(km.embedding_layer(reference).params))
  expected_slots = km.slot_rows(reference)
  actual_slots = km.slot_rows(resumed)
  assert sorted(actual_slots) == sorted(expected_slots)
  for name, rows in expected_slots.items():
    km.assert_rows_close(actual_slots[name], rows)
  ids = tf.concat([second, _unseen(key_dtype)], 0)
  np.testing.assert_allclose(resumed.predict(ids, verbose=0),
                             reference.predict(ids, verbose=0), rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("cls,key", [("Embedding", "int64"),
                                     ("FieldWiseEmbedding", "string")])
def test_training_resumes_after_load_model(tmp_path, cls, key):
  """Train N steps, save, load, train M: the same as N + M steps."""
  model = _model(cls, key, compiled=True)
  model.save(tmp_path / "m.keras")
  loaded = keras.models.load_model(tmp_path / "m.keras")
  assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
  _resumed_equals_uninterrupted(loaded, km.KEY_DTYPES[key], cls)


@pytest.mark.parametrize("key", ["int64", "string"])
def test_load_weights_into_a_fresh_model_with_other_shards(tmp_path, key):
  """A fresh model of the same architecture, its table sharded over three
  devices (the saved one had one shard), loads the weights and the slot
  tables and trains on exactly like the saved one would have."""
  key_dtype = km.KEY_DTYPES[key]
  model = _model("SquashedEmbedding", key, compiled=True)
  model.save_weights(tmp_path / "m.weights.h5")
  fresh = km.build("functional", "SquashedEmbedding", key_dtype, _adam(),
                   devices=["/CPU:0", "/CPU:1", "/CPU:2"])
  fresh.optimizer.build(fresh.trainable_variables)
  fresh.load_weights(tmp_path / "m.weights.h5")
  assert km.embedding_layer(fresh).params.shard_num == 3
  _assert_same_model(fresh, model, key_dtype)
  _resumed_equals_uninterrupted(fresh, key_dtype, "SquashedEmbedding")


def test_load_weights_replaces_rows_written_after_the_save(tmp_path):
  model = _model("Embedding", "int64", compiled=True)
  saved = km.rows_of(km.embedding_layer(model).params)
  saved_slots = km.slot_rows(model)
  model.save_weights(tmp_path / "m.weights.h5")
  km.fit(model, km.ids_of(tf.int64, 4, seed=8, offset=500), km.labels(4, 9))
  assert len(km.rows_of(km.embedding_layer(model).params)) > len(saved)
  model.load_weights(tmp_path / "m.weights.h5")
  km.assert_rows_close(km.rows_of(km.embedding_layer(model).params), saved)
  assert km.slot_rows(model) == saved_slots


def test_bounded_table_keeps_its_bookkeeping(tmp_path):
  """A bounded table's write counts, clocks and scores survive, so
  eviction after loading ranks keys as before."""
  creator = de.CuckooHashTableCreator(
      de.CuckooHashTableConfig(max_capacity=64, evict_strategy="lfu"))
  model = _model("Embedding", "int64", compiled=True, kv_creator=creator)
  model.save_weights(tmp_path / "m.weights.h5")
  fresh = km.build("functional", "Embedding", tf.int64, _adam(),
                   kv_creator=creator, devices=["/CPU:0", "/CPU:1"])
  fresh.optimizer.build(fresh.trainable_variables)
  fresh.load_weights(tmp_path / "m.weights.h5")
  _assert_same_model(fresh, model, tf.int64)
  original = km.embedding_layer(model).params.export_keys_and_scores()
  restored = km.embedding_layer(fresh).params.export_keys_and_scores()
  assert sorted(zip(*[t.numpy().tolist() for t in restored])) == \
      sorted(zip(*[t.numpy().tolist() for t in original]))


@pytest.mark.parametrize("change,message", [
    ({"dim": 3}, r"layer 'emb'.* dim 4, but table 'emb' has dim 3"),
    ({"key": "string"}, r"layer 'emb'.* int64 keys, but table 'emb' has "
                        r"string keys"),
])
def test_loading_a_mismatched_table_fails_and_changes_nothing(
    tmp_path, change, message):
  model = _model("SquashedEmbedding", "int64", compiled=False)
  model.save_weights(tmp_path / "m.weights.h5")
  other = km.build("functional", "SquashedEmbedding",
                   km.KEY_DTYPES[change.get("key", "int64")],
                   dim=change.get("dim", km.DIM))
  var = km.embedding_layer(other).params
  keys = tf.constant([b"a"] if var.key_dtype == tf.string else [7],
                     var.key_dtype)
  var.upsert(keys, tf.ones([1, var.dim]))
  before = km.rows_of(var)
  # Keras reports a layer's load error as a ValueError quoting it.
  with pytest.raises(ValueError, match=message):
    other.load_weights(tmp_path / "m.weights.h5")
  assert km.rows_of(var) == before


@pytest.mark.parametrize("strings", [
    [b"", b"\x00", b"a\x00b\x00", b"\xff\xfe\x80", "é".encode()], []],
    ids=["odd_bytes", "empty"])
def test_string_codec_keeps_every_byte(strings):
  data, offsets = _weights_store.encode_strings(tf.constant(strings,
                                                            tf.string))
  assert data.dtype == np.uint8 and offsets.dtype == np.int64
  decoded = _weights_store.decode_strings(data, offsets)
  assert decoded.numpy().tolist() == strings


def test_string_codec_refuses_offsets_outside_the_bytes():
  with pytest.raises(tf.errors.InvalidArgumentError, match="offsets"):
    _weights_store.decode_strings(np.zeros([3], np.uint8), [0, 2, 5])
