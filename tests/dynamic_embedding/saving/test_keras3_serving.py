"""Keras 3 models with dynamic embedding tables as SavedModels:
`tf.saved_model.save(model)` and `model.export` (Keras's ExportArchive),
loaded with `tf.saved_model.load`, serve the model's predictions for seen
and unseen ids, in this process and in a fresh serving process that only
imports the package (which registers its ops)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras3_models as km
import serving_process

EXAMPLES = 8


def _trained(cls, key_dtype):
  model = km.build("functional", cls, key_dtype, keras.optimizers.Adam(0.05))
  km.fit(model, _seen(key_dtype), km.labels(EXAMPLES, seed=1))
  return model


def _seen(key_dtype):
  return km.ids_of(key_dtype, EXAMPLES, seed=1)


def _unseen(key_dtype):
  return km.ids_of(key_dtype, 3, seed=2, offset=1000)


def _serve(loaded, ids):
  """The output of the loaded object's serving signature."""
  signature = loaded.signatures["serving_default"]
  (name,) = signature.structured_input_signature[1]
  (out,) = signature(**{name: ids}).values()
  return out.numpy()


def _assert_serves_like(served, model, ids):
  expected = model.predict(ids, verbose=0)
  np.testing.assert_allclose(served, expected, rtol=1e-6, atol=1e-7)


def _assert_rows_were_trained(model, key_dtype):
  """The served predictions come from trained rows, not the initializer's
  (a SavedModel without the table would serve those)."""
  rows = km.embedding_layer(model).params.lookup(_seen(key_dtype)).numpy()
  assert not np.allclose(rows, np.broadcast_to(km.INITIAL_ROW, rows.shape))


@pytest.mark.parametrize("cls,key", [("Embedding", "int64"),
                                     ("FieldWiseEmbedding", "string")])
def test_tf_saved_model_save_serves_like_the_model(tmp_path, cls, key):
  key_dtype = km.KEY_DTYPES[key]
  model = _trained(cls, key_dtype)
  _assert_rows_were_trained(model, key_dtype)
  tf.saved_model.save(model, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  for ids in (_seen(key_dtype), _unseen(key_dtype)):
    _assert_serves_like(_serve(loaded, ids), model, ids)


def test_model_export_serves_like_the_model(tmp_path):
  model = _trained("SquashedEmbedding", tf.string)
  model.export(str(tmp_path / "export"), verbose=False)
  loaded = tf.saved_model.load(str(tmp_path / "export"))
  ids = tf.concat([_seen(tf.string), _unseen(tf.string)], 0)
  _assert_serves_like(loaded.serve(ids).numpy(), model, ids)


def test_a_fresh_serving_process_predicts_like_the_model(tmp_path):
  model = _trained("SquashedEmbedding", tf.int64)
  path = str(tmp_path / "sm")
  tf.saved_model.save(model, path)
  ids = tf.concat([_seen(tf.int64), _unseen(tf.int64)], 0)
  served = serving_process.serve(path, ids, tmp_path)["signature"]
  _assert_serves_like(np.array(served, np.float32), model, ids)
