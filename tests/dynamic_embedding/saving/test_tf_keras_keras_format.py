"""tf_keras's own file formats with dynamic embedding tables inside:
`model.save("x.keras")` + `tf_keras.models.load_model`, and
`save_weights("x.weights.h5")` + `load_weights`. The layers and the wrapped
optimizer write their tables through `save_own_variables`; each test
compares with the original model or with uninterrupted training."""

import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tf_keras_models as tm

CASES = [("sequential", "Embedding", "string"),
         ("sequential", "SquashedEmbedding", "int64"),
         ("functional", "BasicEmbedding", "int32"),
         ("functional", "FieldWiseEmbedding", "string"),
         ("subclassed", "SquashedEmbedding", "string"),
         ("subclassed", "FieldWiseEmbedding", "int64")]


@pytest.mark.parametrize("kind,cls,key", CASES)
def test_keras_file_predicts_like_the_original(tmp_path, kind, cls, key):
  key_dtype = tm.KEY_DTYPES[key]
  model = tm.filled(kind, cls, key_dtype)
  path = str(tmp_path / "model.keras")
  model.save(path)
  tm.assert_predicts_alike(tf_keras.models.load_model(path), model,
                           key_dtype)


def _keras_file(tmp_path):
  path = str(tmp_path / "model.keras")

  def save(model):
    model.save(path)
    return path
  return save, tf_keras.models.load_model


def _weights_file(tmp_path, kind, cls, key_dtype):
  """`.weights.h5` into a model built alike, whose optimizer is built
  first (tf_keras skips the optimizer's variables otherwise)."""
  path = str(tmp_path / "model.weights.h5")

  def save(model):
    model.save_weights(path)
    return path

  def load(path):
    model = tm.build(kind, cls, key_dtype, tm.optimizer())
    model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return model
  return save, load


@pytest.mark.parametrize("kind,cls,key", [
    ("functional", "FieldWiseEmbedding", "string"),
    ("sequential", "Embedding", "int64"),
    ("subclassed", "SquashedEmbedding", "string")])
def test_keras_file_resumes_training_like_uninterrupted(tmp_path, kind, cls,
                                                        key):
  key_dtype = tm.KEY_DTYPES[key]
  reference, resumed = tm.train_interrupted(kind, cls, key_dtype,
                                            *_keras_file(tmp_path))
  tm.assert_trained_alike(resumed, reference, key_dtype)


@pytest.mark.parametrize("kind,cls,key", [
    ("functional", "Embedding", "string"),
    ("subclassed", "FieldWiseEmbedding", "int64")])
def test_weights_file_resumes_training_like_uninterrupted(tmp_path, kind, cls,
                                                          key):
  key_dtype = tm.KEY_DTYPES[key]
  reference, resumed = tm.train_interrupted(
      kind, cls, key_dtype, *_weights_file(tmp_path, kind, cls, key_dtype))
  tm.assert_trained_alike(resumed, reference, key_dtype)


def test_weights_file_replaces_rows_written_after_the_save(tmp_path):
  model = tm.filled("functional", "Embedding", tf.int64)
  saved = tm.rows_of(tm.embedding_layer(model).params)
  path = str(tmp_path / "model.weights.h5")
  model.save_weights(path)
  params = tm.embedding_layer(model).params
  params.upsert(tf.constant([10**6], tf.int64), [[9.0] * tm.DIM])
  model.load_weights(path)
  tm.assert_same_rows(params, saved)


def test_save_after_predict_round_trips(tmp_path):
  model = tm.build("sequential", "FieldWiseEmbedding", tf.string,
                   tm.optimizer())
  tm.fit(model, *tm.data(tf.string), epochs=1)
  tm.predictions(model, tm.unseen(tf.string))
  path = str(tmp_path / "model.keras")
  model.save(path)
  tm.assert_predicts_alike(tf_keras.models.load_model(path), model,
                           tf.string)


@pytest.mark.parametrize("change,match", [
    ({"embedding_size": 2}, "dim 4"),
    ({"key_dtype": tf.string}, "int64 keys")])
def test_weights_of_another_table_are_refused_naming_the_layer(
    tmp_path, change, match):
  model = tm.filled("functional", "Embedding", tf.int64)
  path = str(tmp_path / "model.weights.h5")
  model.save_weights(path)
  key_dtype = change.get("key_dtype", tf.int64)
  ids = tf_keras.Input([tm.N], dtype=key_dtype)
  kwargs = {"embedding_size": tm.DIM, **change, "key_dtype": key_dtype}
  layer = tm.layers.Embedding(name="emb", **kwargs)
  other = tf_keras.Model(ids, tf_keras.layers.Dense(1, name="head")(
      tf_keras.layers.Flatten()(layer(ids))))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=f"layer 'emb'.*{match}"):
    other.load_weights(path)
  assert int(layer.params.size()) == 0


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_keras_file_raises(tmp_path, damage):
  path = str(tmp_path / "model.keras")
  tm.filled("functional", "Embedding", tf.string).save(path)
  with open(path, "r+b") as f:
    if damage == "truncated":
      f.truncate(200)
    else:  # the middle of the file: the weights' bytes, under a CRC
      content = bytearray(f.read())
      middle = len(content) // 2
      content[middle:middle + 64] = bytes(64)
      f.seek(0)
      f.write(bytes(content))
  with pytest.raises((zipfile.BadZipFile, OSError)):
    tf_keras.models.load_model(path)


def test_damaged_weights_file_raises(tmp_path):
  model = tm.filled("functional", "Embedding", tf.string)
  path = str(tmp_path / "model.weights.h5")
  model.save_weights(path)
  with open(path, "r+b") as f:
    f.truncate(100)
  before = tm.rows_of(tm.embedding_layer(model).params)
  with pytest.raises(OSError):
    model.load_weights(path)
  tm.assert_same_rows(tm.embedding_layer(model).params, before)


@pytest.mark.parametrize("save", [
    lambda model, path: model.save_weights(path),
    lambda model, path: model.save(path),
], ids=["save_weights", "save"])
def test_legacy_h5_refuses_a_dynamic_table(tmp_path, save):
  """The legacy HDF5 format holds Keras weights only: saving a model with a
  dynamic table to it fails, naming the formats that hold the table,
  instead of silently writing a file without the table's rows."""
  model = tm.filled("functional", "Embedding", tf.int64)
  with pytest.raises(tf.errors.FailedPreconditionError,
                     match=r"x\.weights\.h5.*x\.keras"):
    save(model, str(tmp_path / "model.h5"))


def test_get_weights_refuses_a_dynamic_table():
  model = tm.filled("functional", "Embedding", tf.int64)
  with pytest.raises(tf.errors.FailedPreconditionError, match="get_weights"):
    model.get_weights()

