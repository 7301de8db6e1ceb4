"""tensorflow_recommenders_addons: dynamic embeddings for TensorFlow recommenders.

Public API:
  dynamic_embedding   hash-table backed embeddings (`de`)
  register_all        load every op library (serving processes)
  __version__

Importing the package registers its ops (loads its op libraries), so a
serving process can `tf.saved_model.load` a model holding `TFRA>` ops right
after `import tensorflow_recommenders_addons`.
"""

import warnings

from tensorflow_recommenders_addons.version import __version__
from tensorflow_recommenders_addons.register import register_all
from tensorflow_recommenders_addons.utils.resource_loader import OpLibraryError
from tensorflow_recommenders_addons import dynamic_embedding


def _register_at_import():
  """Loads the op libraries now. A library that cannot load (missing, or
  built for another TensorFlow) does not break the import: the loader keeps
  the error and raises it at the first table op or `register_all()`; a
  warning says so now."""
  try:
    register_all()
  except OpLibraryError as e:
    warnings.warn(f"tensorflow_recommenders_addons: {e} (raised again at the "
                  f"first use of an op)", RuntimeWarning, stacklevel=3)


_register_at_import()

__all__ = ["__version__", "dynamic_embedding", "register_all"]
