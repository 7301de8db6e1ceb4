"""`tf.saved_model.save` / `tf.saved_model.load` of tf_keras models with
dynamic embedding tables: the loaded object's serving signature and
`__call__` predict like the model, in this process and in a fresh serving
process that imports only the package (and registers its ops)."""


import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import serving_process
import tf_keras_models as tm


def _filled_model(kind, cls, key_dtype):
  """A model whose table holds rows for `_seen` ids, after one training
  epoch (so its optimizer and slot tables exist too)."""
  model = tm.build(kind, cls, key_dtype, tf_keras.optimizers.Adagrad(0.1))
  tm.fit(model, _seen(key_dtype), tm.labels(8, seed=1), epochs=1)
  return model


def _seen(key_dtype):
  return tm.ids_of(key_dtype, 8, seed=1)


def _serve(loaded, ids):
  """The output of the loaded object's serving signature."""
  signature = loaded.signatures["serving_default"]
  (name,) = signature.structured_input_signature[1]
  (out,) = signature(**{name: ids}).values()
  return out.numpy()


@pytest.mark.parametrize("kind,cls,key", [
    ("functional", "Embedding", "string"),
    ("functional", "BasicEmbedding", "int64"),
    ("sequential", "SquashedEmbedding", "string"),
    ("functional", "FieldWiseEmbedding", "int32")])
def test_signature_and_call_predict_like_the_model(tmp_path, kind, cls, key):
  key_dtype = tm.KEY_DTYPES[key]
  model = _filled_model(kind, cls, key_dtype)
  tf.saved_model.save(model, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  for ids in (_seen(key_dtype), tm.unseen(key_dtype)):
    expected = model.predict(ids, verbose=0)
    np.testing.assert_allclose(_serve(loaded, ids), expected, rtol=1e-6)
    np.testing.assert_allclose(loaded(ids).numpy(), expected, rtol=1e-6)


def test_tf_keras_model_save_serves_through_tf_saved_model_load(tmp_path):
  model = _filled_model("subclassed", "SquashedEmbedding", tf.string)
  model.save(str(tmp_path / "model"))
  loaded = tf.saved_model.load(str(tmp_path / "model"))
  ids = tf.concat([_seen(tf.string), tm.unseen(tf.string)], 0)
  np.testing.assert_allclose(loaded(ids).numpy(),
                             model.predict(ids, verbose=0), rtol=1e-6)


def test_serving_reads_the_rows_saved_not_the_initializer(tmp_path):
  """A model whose table was not saved would serve the initializer's row
  for every id: the served outputs differ per id."""
  model = _filled_model("functional", "Embedding", tf.int64)
  tf.saved_model.save(model, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  layer = tm.embedding_layer(model)
  ids = _seen(tf.int64)
  rows = layer.params.lookup(ids).numpy()
  assert not np.allclose(rows, tm.INITIAL_ROW)
  head = next(layer for layer in model.layers if layer.name == "head")
  expected = head(tf.reshape(rows, [len(rows), -1])).numpy()
  np.testing.assert_allclose(_serve(loaded, ids), expected, rtol=1e-6)


@pytest.mark.parametrize("save", ["tf.saved_model.save", "model.save"])
def test_a_fresh_serving_process_predicts_like_the_model(tmp_path, save):
  model = _filled_model("functional", "FieldWiseEmbedding", tf.string)
  path = str(tmp_path / "sm")
  if save == "model.save":
    model.save(path)
  else:
    tf.saved_model.save(model, path)
  ids = tf.concat([_seen(tf.string), tm.unseen(tf.string)], 0)
  served = serving_process.serve(path, ids, tmp_path)
  expected = model.predict(ids, verbose=0)
  np.testing.assert_allclose(served["signature"], expected, rtol=1e-6)
  np.testing.assert_allclose(served["call"], expected, rtol=1e-6)
