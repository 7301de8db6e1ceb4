"""Declares the zoo's classes for one Keras (keras3.py, tf_keras.py).

Each class is a body of _blocks.py / _zoo.py / _retrieval.py mixed in front
of that Keras's `Layer` or `Model`, registered for deserialization under
the package "TFRA.models" (so `.keras` files name e.g. "TFRA.models>DeepFM"),
with the docstring of _docs.py written for that flavour.
"""

from tensorflow_recommenders_addons.models import _blocks
from tensorflow_recommenders_addons.models import _docs
from tensorflow_recommenders_addons.models import _retrieval
from tensorflow_recommenders_addons.models import _zoo

BLOCKS = (
    ("FieldEmbedding", _blocks.FieldEmbeddingBody),
    ("FM", _blocks.FMBody),
    ("SENET", _blocks.SENETBody),
    ("BilinearInteraction", _blocks.BilinearInteractionBody),
    ("Dice", _blocks.DiceBody),
    ("AttentionPooling", _blocks.AttentionPoolingBody),
    ("MLP", _blocks.MLPBody),
)

MODELS = (
    ("LogisticRegression", _zoo.LogisticRegressionBody),
    ("DeepFM", _zoo.DeepFMBody),
    ("FiBiNET", _zoo.FiBiNETBody),
    ("ESMM", _zoo.ESMMBody),
    ("MMoE", _zoo.MMoEBody),
    ("TwoTower", _retrieval.TwoTowerBody),
)

NAMES = tuple(name for name, _ in BLOCKS + MODELS)


def declare(keras, embedding, module, flavour):
  """The zoo's classes for `keras` (the module), by name.

  Args:
    keras: `keras` or `tf_keras`.
    embedding: That Keras's `de.keras.layers` `Embedding` class.
    module: `__name__` of the flavour module (the classes' `__module__`).
    flavour: "keras3" or "tf_keras" (written into the docstrings).

  Returns:
    A dict from class name to class.
  """
  classes = {}
  register = keras.saving.register_keras_serializable(package="TFRA.models")
  for name, body in BLOCKS + MODELS:
    base = keras.Model if (name, body) in MODELS else keras.layers.Layer
    namespace = {
        "__module__": module,
        "__qualname__": name,
        "__doc__": _docs.doc(name, flavour),
        "_KERAS": keras,
        "_BLOCKS": classes,
        "_EMBEDDING": embedding,
        "_DICE": None,
    }
    classes[name] = register(type(name, (body, base), namespace))
  classes["MLP"]._DICE = classes["Dice"]  # pylint: disable=protected-access
  return classes
