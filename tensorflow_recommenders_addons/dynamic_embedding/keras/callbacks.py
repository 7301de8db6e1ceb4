"""`de.keras.callbacks.ModelCheckpoint`: Keras's `ModelCheckpoint` for
models with dynamic embeddings, under TFRA's name.

Keras's own callback already saves the tables with the model (every format
but legacy HDF5 holds them, with a `de.FileSystemSaver` the rows go to its
side files); this subclass adds what a TFRA program relied on:

* a filepath in the legacy HDF5 format (`.h5`, not `.weights.h5`), which
  cannot hold a table, is refused when the callback is made, not at the end
  of the first epoch;
* a tf_keras SavedModel save gets `tf.saved_model.SaveOptions(
  namespace_whitelist=["TFRA"])` unless `options` is given.

`ModelCheckpoint` is the class of the Keras that `tf.keras` is (as for
`de.keras.layers`); `Keras3ModelCheckpoint` and `TfKerasModelCheckpoint`
name one flavour. TFRA's Horovod callbacks (`DEHvdModelCheckpoint`,
`DEHvdBroadcastGlobalVariablesCallback`) raise `NotImplementedError` naming
the alternative.
"""

import keras
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import unavailable
from tensorflow_recommenders_addons.dynamic_embedding.keras import layers as _layers


def _refuse_legacy_h5(filepath):
  path = str(filepath)
  if path.endswith(".h5") and not path.endswith(".weights.h5"):
    raise tf.errors.FailedPreconditionError(
        None, None, f"filepath: {path!r} is the legacy HDF5 format, which "
        "holds Keras weights only and would leave the dynamic tables out; "
        "use a .keras or .weights.h5 file or a SavedModel directory")


class _Checkpointing:
  """What both flavours add to Keras's ModelCheckpoint (module docstring)."""

  _tf_keras = False

  def __init__(self, filepath, **kwargs):
    _refuse_legacy_h5(filepath)
    if self._tf_keras and kwargs.get("options") is None and \
        not kwargs.get("save_weights_only", False) and \
        not str(filepath).endswith(".keras"):
      kwargs["options"] = tf.saved_model.SaveOptions(
          namespace_whitelist=["TFRA"])
    super().__init__(filepath, **kwargs)


class Keras3ModelCheckpoint(_Checkpointing, keras.callbacks.ModelCheckpoint):
  """`keras.callbacks.ModelCheckpoint` for Keras 3 models with dynamic
  embeddings (module docstring).

  Args:
    filepath: Where to save, as for Keras's ModelCheckpoint (`.keras`, or
      `.weights.h5` with `save_weights_only=True`).
    **kwargs: Keras's ModelCheckpoint arguments (`monitor`,
      `save_best_only`, `save_weights_only`, `save_freq`, ...).

  Raises:
    tf.errors.FailedPreconditionError: a legacy `.h5` filepath.

  Example:
    >>> import numpy as np, keras, tempfile, os
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> model = keras.Sequential([keras.Input((1,), dtype="int64"),
    ...                           keras3.Embedding(2, name="emb"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(1)])
    >>> model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam()), "mse")
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> callback = de.keras.callbacks.Keras3ModelCheckpoint(path)
    >>> _ = model.fit(np.array([[1], [2]]), np.array([[0.], [1.]]), verbose=0,
    ...               callbacks=[callback])
    >>> os.path.exists(path)
    True
  """


def _tf_keras_class():
  import tf_keras  # pylint: disable=import-outside-toplevel

  class TfKerasModelCheckpoint(_Checkpointing,
                               tf_keras.callbacks.ModelCheckpoint):
    """`tf_keras.callbacks.ModelCheckpoint` for tf_keras models with dynamic
    embeddings (module docstring).

    Args:
      filepath: Where to save, as for tf_keras's ModelCheckpoint (a
        SavedModel directory, `.keras`, or weights with
        `save_weights_only=True`).
      **kwargs: tf_keras's ModelCheckpoint arguments.

    Raises:
      tf.errors.FailedPreconditionError: a legacy `.h5` filepath.
    """

    _tf_keras = True

  return TfKerasModelCheckpoint


_TF_KERAS_CLASS = []


def __getattr__(name):
  if name == "TfKerasModelCheckpoint":
    if not _TF_KERAS_CLASS:
      _TF_KERAS_CLASS.append(_tf_keras_class())
    return _TF_KERAS_CLASS[0]
  if name == "ModelCheckpoint":
    # The class of the Keras tf.keras is, as de.keras.layers follows it.
    return (__getattr__("TfKerasModelCheckpoint")
            if _layers._tf_keras_is_legacy()  # pylint: disable=protected-access
            else Keras3ModelCheckpoint)
  unavailable.check("de.keras.callbacks", name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Keras3ModelCheckpoint", "ModelCheckpoint", "TfKerasModelCheckpoint"]
