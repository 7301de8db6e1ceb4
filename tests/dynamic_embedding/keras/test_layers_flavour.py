"""`de.keras.layers` follows `tf.keras`: the Keras 3 layers by default, the
tf_keras layers when TF_USE_LEGACY_KERAS=1 is set before TensorFlow is
imported; `.keras3` and `.tf_keras` name a flavour."""

import os
import subprocess
import textwrap

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

import pyproc

NAMES = ["BasicEmbedding", "Embedding", "SquashedEmbedding",
         "FieldWiseEmbedding"]


@pytest.mark.parametrize("name", NAMES)
def test_default_layers_are_the_keras3_layers(name):
  assert not tf.keras.layers.Layer.__module__.startswith("tf_keras")
  assert getattr(de.keras.layers, name) is \
      getattr(de.keras.layers.keras3, name)
  assert getattr(de.keras.layers, name) is not \
      getattr(de.keras.layers.tf_keras, name)


def test_legacy_keras_selects_the_tf_keras_layers():
  code = textwrap.dedent(f"""
      import tensorflow as tf
      from tensorflow_recommenders_addons import dynamic_embedding as de
      layers = de.keras.layers
      print(tf.keras.layers.Layer.__module__.split(".")[0])
      print(all(getattr(layers, n) is getattr(layers.tf_keras, n)
                for n in {NAMES!r}))
  """)
  env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
  result = subprocess.run(pyproc.python("-c", code), env=env,
                          capture_output=True, text=True, timeout=300,
                          check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == ["tf_keras", "True"]
