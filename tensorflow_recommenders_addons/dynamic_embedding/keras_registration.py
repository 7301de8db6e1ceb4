"""Makes the package's Keras classes known to Keras deserialization as soon
as the package and that Keras are both imported, without importing Keras.

A saved model names our layers (`"TFRA>Embedding"`) and wrapped optimizers
(`"TFRA>DynamicEmbeddingAdam"`); `load_model` resolves those names only
once the classes are registered (`register_keras_serializable`), which
happens when their modules are imported (the layers) or when
`optimizers.wrap.register_optimizers` runs (the optimizer subclasses).

`register_when_imported()`, called when `de` is imported, does this for each
Keras: at once if the program has imported it already (TensorFlow 2.21's own
import brings in Keras 3), otherwise right after the program imports it,
through an import hook: a `sys.meta_path` finder that answers for that one
module name only and runs the registration after the module has executed.
No Keras code is patched, and importing the package never imports tf_keras
(about 1 s) for a program that does not use it.
"""

import importlib
import importlib.abc
import sys
import threading
import warnings

# Keras module -> our layer module registering its layer classes.
_LAYER_MODULES = {
    "keras": "tensorflow_recommenders_addons.dynamic_embedding.keras.layers.keras3",
    "tf_keras": "tensorflow_recommenders_addons.dynamic_embedding.keras.layers.tf_keras",
}
_registered = set()
_lock = threading.RLock()


def register(keras_name):
  """Registers our layers and optimizer subclasses with Keras `keras_name`
  ("keras" or "tf_keras"), once; imports that Keras if needed.

  Args:
    keras_name: "keras" (Keras 3) or "tf_keras".

  Raises:
    ValueError: another `keras_name`.
    ImportError: that Keras is not installed.

  Example:
    >>> from tensorflow_recommenders_addons.dynamic_embedding import keras_registration
    >>> keras_registration.register("keras")
    >>> import keras
    >>> keras.saving.get_registered_object("TFRA>DynamicEmbeddingAdam").__name__
    'DynamicEmbeddingAdam'
  """
  if keras_name not in _LAYER_MODULES:
    raise ValueError(f"keras_name: must be one of {sorted(_LAYER_MODULES)}, "
                     f"got {keras_name!r}")
  with _lock:
    if keras_name in _registered:
      return
    _registered.add(keras_name)
    try:
      importlib.import_module(_LAYER_MODULES[keras_name])
      # Imported here: wrap.py imports Keras-dependent optimizer modules.
      from tensorflow_recommenders_addons.dynamic_embedding.optimizers import wrap  # pylint: disable=import-outside-toplevel
      wrap.register_optimizers((keras_name,))
    except BaseException:
      _registered.discard(keras_name)
      raise


def register_when_imported():
  """Registers with each Keras now if it is imported, else after its
  import (see the module docstring).

  Returns:
    The Keras module names whose registration waits for their import.

  Example:
    >>> from tensorflow_recommenders_addons.dynamic_embedding import keras_registration
    >>> "keras" in keras_registration.register_when_imported()
    False
  """
  waiting = []
  for keras_name in _LAYER_MODULES:
    if keras_name in _registered:
      continue
    module = sys.modules.get(keras_name)
    if module is not None and not _initializing(module):
      register(keras_name)
    elif not any(isinstance(f, _AfterImport) and f.name == keras_name
                 for f in sys.meta_path):
      sys.meta_path.insert(0, _AfterImport(keras_name))
      waiting.append(keras_name)
    else:
      waiting.append(keras_name)
  return waiting


def _initializing(module):
  spec = getattr(module, "__spec__", None)
  return bool(getattr(spec, "_initializing", False))


def _after_import(keras_name):
  try:
    register(keras_name)
  except Exception as e:  # pylint: disable=broad-except
    # The program's own `import` must not fail because of ours; the classes
    # stay unregistered, which a load reports as an unknown class.
    warnings.warn(f"tensorflow_recommenders_addons: could not register its "
                  f"layers and optimizers with {keras_name}: {e!r}; import "
                  f"tensorflow_recommenders_addons.dynamic_embedding.keras "
                  f"before loading a model", RuntimeWarning, stacklevel=2)


class _AfterImport(importlib.abc.MetaPathFinder):
  """Finds module `name` with the other finders and wraps its loader so
  that `_after_import(name)` runs once the module has executed."""

  def __init__(self, name):
    self.name = name

  def find_spec(self, fullname, path=None, target=None):
    """The spec of `name` as the other finders give it, loader wrapped."""
    if fullname != self.name:
      return None
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, "find_spec"):
        continue
      spec = finder.find_spec(fullname, path, target)
      if spec is not None:
        break
    else:
      return None
    if spec.loader is None or not hasattr(spec.loader, "exec_module"):
      return spec
    spec.loader = _RegisteringLoader(spec.loader, self)
    return spec


class _RegisteringLoader(importlib.abc.Loader):
  """A module's own loader, followed by the registration."""

  def __init__(self, loader, finder):
    self._loader = loader
    self._finder = finder

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    module.__loader__ = self._loader  # the module sees its own loader
    if module.__spec__ is not None:
      module.__spec__.loader = self._loader
    self._loader.exec_module(module)
    if self._finder in sys.meta_path:
      sys.meta_path.remove(self._finder)
    _after_import(self._finder.name)

  def __getattr__(self, name):
    return getattr(self._loader, name)
