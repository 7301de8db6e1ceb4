"""`de.keras.callbacks.ModelCheckpoint` and `de.keras.models.save_model`
(TFRA's names): what they save reloads with the same tables and
predictions, in both Kerases; legacy `.h5` paths are refused up front."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as k3_layers
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as tfk_layers

IDS = np.array([[1, 2], [3, 1], [2, 9], [7, 7]], np.int64)
TARGETS = np.array([[0.5], [-1.0], [2.0], [0.0]], np.float32)
SEEN = np.array([[1, 2], [9, 3]], np.int64)  # unseen ids read random rows


def _model(flavour, saver=None):
  kv = {} if saver is None else {
      "kv_creator": de.CuckooHashTableCreator(saver=saver)}
  if flavour == "keras3":
    import keras  # pylint: disable=import-outside-toplevel
    model = keras.Sequential([keras.Input((2,), dtype="int64"),
                              k3_layers.Embedding(3, name="emb", **kv),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    opt = keras.optimizers.Adam(0.05)
  else:
    model = tf_keras.Sequential([tf_keras.Input((2,), dtype=tf.int64),
                                 tfk_layers.Embedding(3, name="emb", **kv),
                                 tf_keras.layers.Flatten(),
                                 tf_keras.layers.Dense(1)])
    opt = tf_keras.optimizers.Adam(0.05)
  model.compile(de.DynamicEmbeddingOptimizer(opt), "mse")
  return model


def _load(flavour, path):
  if flavour == "keras3":
    import keras  # pylint: disable=import-outside-toplevel
    return keras.models.load_model(path)
  return tf_keras.models.load_model(path)


def _callback(flavour, path, **kwargs):
  cls = (de.keras.callbacks.Keras3ModelCheckpoint if flavour == "keras3"
         else de.keras.callbacks.TfKerasModelCheckpoint)
  return cls(path, **kwargs)


def _rows(model):
  keys, values = model.get_layer("emb").params.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


@pytest.mark.parametrize("flavour,name", [("keras3", "model.keras"),
                                          ("tf_keras", "model.keras"),
                                          ("tf_keras", "saved_model")])
def test_model_checkpoint_saves_a_model_that_reloads_alike(tmp_path, flavour,
                                                           name):
  model = _model(flavour)
  path = str(tmp_path / name)
  model.fit(IDS, TARGETS, epochs=2, verbose=0,
            callbacks=[_callback(flavour, path)])
  loaded = _load(flavour, path)
  assert _rows(loaded) == _rows(model) and len(_rows(model)) == 5
  np.testing.assert_allclose(loaded.predict(SEEN, verbose=0),
                             model.predict(SEEN, verbose=0), rtol=1e-6)


def test_model_checkpoint_with_a_file_system_saver_writes_side_files(
    tmp_path):
  saver = de.FileSystemSaver(save_path=str(tmp_path / "tables"))
  model = _model("tf_keras", saver)
  path = str(tmp_path / "ckpt" / "weights")
  model.fit(IDS, TARGETS, epochs=1, verbose=0,
            callbacks=[_callback("tf_keras", path, save_weights_only=True)])
  assert saver.generations(model.get_layer("emb").params)
  fresh = _model("tf_keras", de.FileSystemSaver(
      save_path=str(tmp_path / "tables")))
  fresh.load_weights(path)
  assert _rows(fresh) == _rows(model)


@pytest.mark.parametrize("flavour,name", [("keras3", "model.keras"),
                                          ("tf_keras", "model.keras"),
                                          ("tf_keras", "saved_model")])
def test_save_model_round_trip(tmp_path, flavour, name):
  model = _model(flavour)
  model.fit(IDS, TARGETS, epochs=2, verbose=0)
  path = str(tmp_path / name)
  de.keras.models.save_model(model, path)
  loaded = _load(flavour, path)
  assert _rows(loaded) == _rows(model)
  np.testing.assert_allclose(loaded.predict(SEEN, verbose=0),
                             model.predict(SEEN, verbose=0), rtol=1e-6)


def test_save_model_of_a_keras3_model_to_a_saved_model_serves(tmp_path):
  model = _model("keras3")
  model.fit(IDS, TARGETS, epochs=1, verbose=0)
  de.keras.models.save_model(model, str(tmp_path / "sm"))
  loaded = tf.saved_model.load(str(tmp_path / "sm"))
  np.testing.assert_allclose(loaded.serve(tf.constant(SEEN)),
                             model.predict(SEEN, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_legacy_h5_paths_are_refused_up_front(tmp_path, flavour):
  path = str(tmp_path / "model.h5")
  with pytest.raises(tf.errors.FailedPreconditionError, match="filepath: "):
    _callback(flavour, path)
  with pytest.raises(tf.errors.FailedPreconditionError, match="legacy HDF5"):
    de.keras.models.save_model(_model(flavour), path)
  assert not os.path.exists(path)


def test_model_checkpoint_follows_tf_keras():
  assert de.keras.callbacks.ModelCheckpoint is (
      de.keras.callbacks.TfKerasModelCheckpoint
      if tf.keras.layers.Layer.__module__.startswith("tf_keras")
      else de.keras.callbacks.Keras3ModelCheckpoint)
