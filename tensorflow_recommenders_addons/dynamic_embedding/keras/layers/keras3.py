"""Dynamic embedding layers for Keras 3 (the TensorFlow backend).

The same layers, arguments and outputs as the tf_keras ones (tf_keras.py),
for Keras 3 models. Keras 3 variables and optimizer slots need fully
defined shapes, so each layer's trainable weight is a row buffer of shape
`[max_unique_ids, embedding_size]` rather than a shadow of
dynamic shape: a lookup's gradient lands in the buffer positions of the
batch's distinct ids, and an optimizer wrapped in
`de.DynamicEmbeddingOptimizer` loads, updates and writes back exactly those
rows and their optimizer slots (row_buffer.py, optimizers/buffers.py).

Lookups write no table or buffer, so `predict`, `evaluate` and serving
threads only read the table, with any number of ids per call.

Keras's own formats hold the table: `model.save` (.keras),
`save_weights` (.weights.h5) and their loaders save and restore its rows
(`save_own_variables`, `load_own_variables`; layout in _weights_store.py).
`tf.saved_model.save(model)` and `model.export` can save the traced
lookups: SavedModels keep the row buffer state that they capture.
"""

import keras
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _base


class _BufferState(_base.BufferState):
  """Keras 3 layers always train through a row buffer."""

  _KERAS = keras
  _NO_AUTOCAST = {"autocast": False}

  def _init_state(self, args):
    super()._init_state(args)
    # Table ops have no XLA kernels: keep Keras's jit_compile="auto" (XLA on
    # GPUs) from compiling models that contain these layers.
    self.supports_jit = False

  @staticmethod
  def _output_shape(shape):
    return None if shape.rank is None else tuple(shape.as_list())

  def _rows(self, ids):
    rows = super()._rows(ids)
    if not tf.executing_eagerly():
      # A traced lookup writes the buffer's step flag and its gradient
      # function writes the batch variables; functions list only the
      # variables they read, and `model.export` (Keras's ExportArchive)
      # saves exactly those. Declare them read (the values go unused).
      for variable in self._buffer_state():
        variable.value()
    return rows

  def _buffer_state(self):
    """The row buffer's step flag and batch variables."""
    buffer = self._buffer
    fresh = buffer._fresh  # pylint: disable=protected-access
    return (fresh, buffer.batch, buffer.batch.ids)

  def _own_variables(self):
    """The layer's Keras variables in Keras's saving order."""
    return self._trainable_variables + self._non_trainable_variables

  def _trackable_children(self, save_type="checkpoint", **kwargs):
    """SavedModels also keep the row buffer's step flag and batch, which
    the exported functions capture (checkpoints leave them out: they only
    matter within a step)."""
    children = super()._trackable_children(save_type, **kwargs)
    if save_type == "savedmodel" and self._buffer is not None:
      for i, variable in enumerate(self._buffer_state()):
        children[f"_row_buffer_state/{i}"] = variable
    return children


_ARGS_DOC = """
  Args:
    embedding_size: Row width, an int >= 1.
    key_dtype: Id dtype: `tf.int64`, `tf.int32` or `tf.string`.
    value_dtype: Row dtype: float32, float16, bfloat16 or float64.
    combiner: "sum", "mean" or "sqrtn" (used by the combining layers).
    initializer: Rows of unseen ids, as for `de.Variable`: None (TFRA's
      default, `keras.initializers.RandomNormal()`: mean 0, stddev 0.05), a
      number, `embedding_size` numbers, a Keras initializer (or its name or
      config) or a callable.
    devices: Device(s) of the table shards; None for the current device.
    name: Layer name; also the name of `params` (give layers in one model
      distinct names).
    with_unique: Accepted for TFRA compatibility.
    short_file_name: `params` writes hashed file names.
    **kwargs: `max_unique_ids` (the most distinct ids one training call may
      look up: the buffer's rows; default 16384; inference calls take any
      number), and as for the tf_keras layers:
      `trainable`, `bp_v2`, `restrict_policy`, `init_capacity`,
      `partitioner`, `kv_creator`, `max_norm`, `distribute_strategy`,
      `keep_distribution`, `checkpoint`; and Keras layer arguments such as
      `dtype`.
"""


@keras.saving.register_keras_serializable(package="TFRA")
class BasicEmbedding(_BufferState, _base.EmbeddingBase, keras.layers.Layer):
  __doc__ = """A dynamic embedding layer for Keras 3: ids of any value to rows.

  Like `keras.layers.Embedding`, but the table is a `de.Variable` (the
  layer's `params`): any int64/int32/string id is a valid key, and unseen
  ids read the `initializer`'s rows. The output has shape
  `ids.shape + [embedding_size]` (ragged ids give ragged output). Train with
  a Keras 3 optimizer wrapped in `de.DynamicEmbeddingOptimizer`; one call of
  the layer per training step carries a gradient (use one layer per
  feature, or concatenate the ids).
""" + _ARGS_DOC + """
  Returns:
    Calling the layer returns `ids.shape + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; when called,
      ids of another dtype than `key_dtype`; when training, more distinct ids
      than `max_unique_ids` in one call.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> layer = keras3.BasicEmbedding(2, key_dtype=tf.string, name="words",
    ...                               initializer="zeros")
    >>> layer.params.upsert(["a"], [[1.0, 2.0]])
    >>> layer(tf.constant([["a", "b"]])).numpy().tolist()
    [[[1.0, 2.0], [0.0, 0.0]]]
    >>> [tuple(w.shape) for w in layer.trainable_weights]
    [(16384, 2)]
  """


@keras.saving.register_keras_serializable(package="TFRA")
class Embedding(BasicEmbedding):
  """TFRA's main name for `BasicEmbedding` (Keras 3).

  Args:
    embedding_size, key_dtype, value_dtype, combiner, initializer, devices,
    name, with_unique, short_file_name, **kwargs: As for `BasicEmbedding`.

  Returns:
    Calling the layer returns `ids.shape + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: as for `BasicEmbedding`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> layer = keras3.Embedding(3, initializer=0.5, max_unique_ids=64)
    >>> layer(np.array([7, 8, 9], np.int64)).shape.as_list()
    [3, 3]
  """


@keras.saving.register_keras_serializable(package="TFRA")
class SquashedEmbedding(_base.SquashedBase, BasicEmbedding):
  """A Keras 3 embedding layer that combines the rows of each id list.

  Ids `[d0, ..., dk, n]` give `[d0, ..., dk, embedding_size]`: the rows of
  the last id axis combined by `combiner` ("sum", "mean", "sqrtn"; an empty
  list gives zeros). Ragged ids `[batch, (n)]` combine each row's own ids.

  Args:
    embedding_size, key_dtype, value_dtype, combiner, initializer, devices,
    name, with_unique, short_file_name, **kwargs: As for `BasicEmbedding`.

  Returns:
    Calling the layer returns `ids.shape[:-1] + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: as for `BasicEmbedding`, and scalar ids.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> layer = keras3.SquashedEmbedding(1, combiner="mean")
    >>> layer.params.upsert([1, 2], [[1.0], [3.0]])
    >>> layer(tf.constant([[1, 2], [2, 2]], tf.int64)).numpy().tolist()
    [[2.0], [3.0]]
  """


@keras.saving.register_keras_serializable(package="TFRA")
class FieldWiseEmbedding(_base.FieldWiseBase, BasicEmbedding):
  """A Keras 3 embedding layer that combines each example's ids per field.

  Ids `[batch, n]` (dense or ragged) give `[batch, nslots, embedding_size]`:
  `slot_map_fn(ids)` gives each id a field in `[0, nslots)`, and entry
  `[b, f]` combines the rows of example `b`'s ids in field `f` (zeros for a
  field without ids).

  Args:
    embedding_size: Row width, an int >= 1.
    nslots: Number of fields, an int >= 1.
    slot_map_fn: `fn(ids) -> integer fields` shaped like `ids`; None:
      `floormod(ids, nslots)` for integer ids, a stable hash bucket for
      strings.
    key_dtype, value_dtype, combiner, initializer, devices, name,
    with_unique, **kwargs: As for `BasicEmbedding`.

  Returns:
    Calling the layer returns `[batch, nslots, embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: as for `BasicEmbedding`, ids not of
      rank 2, or fields outside `[0, nslots)`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> layer = keras3.FieldWiseEmbedding(1, nslots=2)
    >>> layer.params.upsert([1, 2, 3], [[1.0], [2.0], [3.0]])
    >>> layer(tf.constant([[1, 2, 3]], tf.int64)).numpy().tolist()
    [[[2.0], [4.0]]]
  """
