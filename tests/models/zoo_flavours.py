"""The `zoo` fixture of the model zoo tests: each test runs with the Keras 3
classes (models.keras3, in Keras 3) and the tf_keras ones (models.tf_keras).

Test modules import it (`from zoo_flavours import zoo`); a conftest.py here
would replace the suite's own module `conftest`."""

import types
from typing import NamedTuple

import keras
import pytest
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.models import keras3 as keras3_zoo
from tensorflow_recommenders_addons.models import tf_keras as tf_keras_zoo


class Zoo(NamedTuple):
  """The zoo classes of one Keras and that Keras."""

  name: str
  models: types.ModuleType
  keras: types.ModuleType

  def adam(self, learning_rate):
    """An Adam optimizer of this Keras, wrapped for dynamic embeddings."""
    return de.DynamicEmbeddingOptimizer(
        self.keras.optimizers.Adam(learning_rate))


@pytest.fixture(params=["keras3", "tf_keras"])
def zoo(request):
  if request.param == "keras3":
    return Zoo("keras3", keras3_zoo, keras)
  return Zoo("tf_keras", tf_keras_zoo, tf_keras)
