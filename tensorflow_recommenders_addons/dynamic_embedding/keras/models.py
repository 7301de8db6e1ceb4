"""`de.keras.models.save_model`: TFRA's save function for Keras models
with dynamic embeddings."""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.keras import callbacks as _callbacks


def _whitelisted(options):
  """`options` with the TFRA op namespace allowed in a SavedModel."""
  if options is None:
    return tf.saved_model.SaveOptions(namespace_whitelist=["TFRA"])
  whitelist = list(options.namespace_whitelist or [])
  if "TFRA" not in whitelist:
    options.namespace_whitelist = whitelist + ["TFRA"]
  return options


def _is_keras3(model):
  import keras  # pylint: disable=import-outside-toplevel
  return isinstance(model, keras.Model)


def save_model(model, filepath, overwrite=True, include_optimizer=True,
               signatures=None, options=None, save_traces=True, *args,
               **kwargs):
  """Saves `model` with its tables (and the optimizer's slot tables).

  A `.keras` path is the Keras file (`model.save`, with the optimizer);
  any other path but legacy `.h5` is a SavedModel directory: tf_keras
  `model.save(..., save_format="tf")` with the "TFRA" op namespace added
  to `options`; for a Keras 3 model the serving SavedModel of
  `model.export` (endpoint `serve`; `signatures`, `options` and
  `save_traces` do not apply). Tables of a `de.FileSystemSaver` go to its
  side files, as in every checkpoint.

  Args:
    model: A tf_keras or Keras 3 model.
    filepath: `.keras` file or SavedModel directory.
    overwrite: Whether to replace an existing file (tf_keras and `.keras`).
    include_optimizer: Whether to save the optimizer (tf_keras).
    signatures: SavedModel signatures (SavedModel directories).
    options: `tf.saved_model.SaveOptions` (SavedModel directories).
    save_traces: As tf_keras's `model.save` (SavedModel directories).
    *args: Refused (TypeError): pass extra arguments by keyword.
    **kwargs: Passed on to tf_keras's `model.save`.

  Raises:
    tf.errors.FailedPreconditionError: a legacy `.h5` filepath, which
      cannot hold a table.

  Example:
    >>> import numpy as np, keras, tempfile, os
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> model = keras.Sequential([keras.Input((1,), dtype="int64"),
    ...                           keras3.Embedding(2, name="emb")])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> de.keras.models.save_model(model, path)
    >>> int(keras.models.load_model(path).layers[0].params.size())
    0
  """
  _callbacks._refuse_legacy_h5(filepath)  # pylint: disable=protected-access
  if args:
    raise TypeError(f"save_model: pass the {len(args)} extra positional "
                    "argument(s) by keyword")
  path = str(filepath)
  if _is_keras3(model):
    if path.endswith(".keras"):
      model.save(path, overwrite=overwrite)
    else:
      # A serving SavedModel (endpoint `serve`), as `model.export` writes.
      model.export(path)
    return
  if path.endswith(".keras"):
    model.save(path, overwrite=overwrite)  # always with the optimizer
    return
  model.save(path, overwrite=overwrite, save_format="tf",
             include_optimizer=include_optimizer, signatures=signatures,
             options=_whitelisted(options), save_traces=save_traces,
             **kwargs)


# TFRA's names of the same function (its de_hvd_save_model only calls
# de_save_model).
de_save_model = save_model
de_hvd_save_model = save_model
