"""Dynamic embedding layers for tf_keras (Keras 2).

Each layer owns one `de.Variable` (`layer.params`, named after the layer)
and a `de.shadow_ops.ShadowVariable` over it (`layer.shadow`), the layer's
only trainable weight. A lookup loads the rows of the batch's distinct ids
into the shadow; wrap the tf_keras optimizer in
`de.DynamicEmbeddingOptimizer` so that its updates are written back to the
table.

Saving: checkpoints (`save_weights` in TF format, `tf.train.Checkpoint`) and
SavedModels (`model.save(dir)`, `tf.saved_model.save`) hold the table's
keys and rows as a dependency of the layer; tf_keras's own formats
(`model.save("x.keras")`, `save_weights("x.weights.h5")`) hold them through
`save_own_variables` (layout in _weights_store.py). The legacy HDF5 format
(`.h5`) holds Keras weights only, never a table: saving a layer to it (or
`get_weights()`) raises, naming the other formats (`_layer_ops.LayerShadow`).

Under a multi-replica `tf.distribute` strategy a layer trains through a row
buffer instead of a shadow (`shadow` is None; see row_buffer.py), because
every replica's gradient must have the same shape.

The layer logic is shared with the Keras 3 layers (_base.py, _layer_ops.py).
"""

import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _base
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _layer_ops as ops


class _ShadowState(_base.BufferState):
  """The tf_keras mechanism: lookups load rows into the layer's shadow; under
  a multi-replica strategy, a row buffer (as the Keras 3 layers)."""

  _KERAS = tf_keras
  _NO_AUTOCAST = {"experimental_autocast": False}

  def _init_state(self, args):
    super()._init_state(args)
    # A tracked tf.Variable: the layer's trainable weight.
    self.shadow = (None if _base.multi_replica() else
                   ops.create_shadow(self.params, self.name, args))

  def build(self, input_shape=None):
    if self.shadow is None:
      return super().build(input_shape)
    self.built = True
    return None

  def _rows(self, ids):
    if self.shadow is None:
      return super()._rows(ids)
    return ops.lookup(self.params, ids, self.shadow, self.shadow.lookup_name,
                      self.shadow.max_norm)

  def _own_variables(self):
    """The layer's variables in tf_keras's saving order."""
    return self._trainable_weights + self._non_trainable_weights

  def _is_step_state(self, variable):
    # The shadow (or row buffer) holds one batch's rows: nothing to save.
    return variable is self.shadow or super()._is_step_state(variable)


@tf_keras.saving.register_keras_serializable(package="TFRA")
class BasicEmbedding(_ShadowState, _base.EmbeddingBase, tf_keras.layers.Layer):
  """A dynamic embedding layer: ids of any value to `embedding_size` rows.

  Like `tf_keras.layers.Embedding`, but the table is a `de.Variable`: any
  int64/int32/string id is a valid key, and unseen ids read the
  `initializer`'s rows. The output has shape `ids.shape + [embedding_size]`
  for ids of any rank (ragged ids give ragged output).

  The layer owns `params` (its `de.Variable`, named after the layer; give
  layers in one model distinct names) and `shadow` (the
  `de.shadow_ops.ShadowVariable` that is its trainable weight from
  construction on). Train with an optimizer wrapped in
  `de.DynamicEmbeddingOptimizer`. In a `tf_keras.Sequential` model, start
  with `tf_keras.Input(shape, dtype=key_dtype)` or with no input at all (an
  `input_shape` argument would give float ids and is refused).

  Args:
    embedding_size: Row width, an int >= 1.
    key_dtype: Id dtype: `tf.int64`, `tf.int32` or `tf.string`.
    value_dtype: Row dtype: float32, float16, bfloat16 or float64.
    combiner: "sum", "mean" or "sqrtn"; used by `SquashedEmbedding` and
      `FieldWiseEmbedding` (checked but unused here).
    initializer: Rows of unseen ids, as for `de.Variable`: None (TFRA's
      default, `tf_keras.initializers.RandomNormal()`: mean 0, stddev
      0.05), a number, `embedding_size` numbers, a Keras initializer (or
      its name or config, e.g. "random_normal") or a callable.
    devices: Device(s) of the table shards; None for the current device.
    name: Layer name; also the name of `params`.
    with_unique: Accepted for TFRA compatibility: lookups always read each
      distinct id of a batch once.
    short_file_name: `params` writes hashed file names in
      `save_to_file_system`.
    **kwargs: `trainable` (default True), `bp_v2` (False),
      `restrict_policy` (None), `init_capacity` (the table's `init_size`,
      0), `partitioner` (None: `de.default_partition_fn`), `kv_creator`
      (None: `de.CuckooHashTableCreator()`), `max_norm` (None: rows whose
      L2 norm exceeds it are scaled down), `distribute_strategy` (passed to
      the shadow), `keep_distribution` (accepted for TFRA compatibility;
      checkpoints always re-route rows through the current `devices`),
      `checkpoint` (True: checkpoints save the table), `max_unique_ids`
      (sizes the Keras 3 layers' row buffer; accepted and unused here); and
      Keras layer arguments such as `dtype` (the output's dtype; rows are
      stored in `value_dtype`; float32 rows follow the global dtype policy,
      e.g. `mixed_float16` gives float16 outputs).

  Returns:
    Calling the layer returns `ids.shape + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; when called,
      ids of another dtype than `key_dtype`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers
    >>> layer = layers.BasicEmbedding(2, key_dtype=tf.string, name="words",
    ...                               initializer="zeros")
    >>> layer.params.upsert(["a"], [[1.0, 2.0]])
    >>> layer(tf.constant([["a", "b"]])).numpy().tolist()
    [[[1.0, 2.0], [0.0, 0.0]]]
    >>> [w.name for w in layer.trainable_weights]
    ['words/TrainableWrapper_words-shadow:0']
  """


@tf_keras.saving.register_keras_serializable(package="TFRA")
class Embedding(BasicEmbedding):
  """TFRA's main name for `BasicEmbedding`: same arguments and behaviour.

  Args:
    embedding_size, key_dtype, value_dtype, combiner, initializer, devices,
    name, with_unique, short_file_name, **kwargs: As for `BasicEmbedding`.

  Returns:
    Calling the layer returns `ids.shape + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: as for `BasicEmbedding`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers
    >>> layer = layers.Embedding(3, initializer=0.5)
    >>> layer(np.array([7, 8, 9], np.int64)).shape.as_list()
    [3, 3]
  """


@tf_keras.saving.register_keras_serializable(package="TFRA")
class SquashedEmbedding(_base.SquashedBase, BasicEmbedding):
  """An embedding layer that combines the rows of each id list.

  Ids `[d0, ..., dk, n]` give `[d0, ..., dk, embedding_size]`: the rows of
  the last id axis are combined by `combiner` ("sum", "mean" = sum / n,
  "sqrtn" = sum / sqrt(n); an empty list gives zeros). Ragged ids
  `[batch, (n)]` combine each row's own ids.

  Args:
    embedding_size, key_dtype, value_dtype, combiner, initializer, devices,
    name, with_unique, short_file_name, **kwargs: As for `BasicEmbedding`.

  Returns:
    Calling the layer returns `ids.shape[:-1] + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: as for `BasicEmbedding`, and scalar ids.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers
    >>> layer = layers.SquashedEmbedding(1, combiner="mean")
    >>> layer.params.upsert([1, 2], [[1.0], [3.0]])
    >>> layer(tf.constant([[1, 2], [2, 2]], tf.int64)).numpy().tolist()
    [[2.0], [3.0]]
  """


@tf_keras.saving.register_keras_serializable(package="TFRA")
class FieldWiseEmbedding(_base.FieldWiseBase, BasicEmbedding):
  """An embedding layer that combines each example's ids per field.

  Ids `[batch, n]` (dense or ragged) give `[batch, nslots, embedding_size]`:
  `slot_map_fn(ids)` assigns each id a field in `[0, nslots)`, and entry
  `[b, f]` combines (by `combiner`) the rows of the ids of example `b` in
  field `f`; a field without ids gives zeros.

  Args:
    embedding_size: Row width, an int >= 1.
    nslots: Number of fields, an int >= 1.
    slot_map_fn: `fn(ids) -> integer fields` shaped like `ids`. None:
      `floormod(ids, nslots)` for integer ids, a stable hash bucket
      (`tf.strings.to_hash_bucket_fast`) for string ids. `get_config`
      serializes a named function with Keras (register it with
      `tf_keras.saving.register_keras_serializable` to reload the config);
      other callables must be passed again: `config["slot_map_fn"] = fn`.
    key_dtype, value_dtype, combiner, initializer, devices: As for
      `BasicEmbedding`.
    name: Layer name; also the name of `params`.
    with_unique: Accepted for TFRA compatibility (ids are always
      deduplicated).
    **kwargs: As for `BasicEmbedding` (including `short_file_name`).

  Returns:
    Calling the layer returns `[batch, nslots, embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; when called,
      ids of another dtype or rank than `[batch, n]` `key_dtype`, or
      `slot_map_fn` results outside `[0, nslots)`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as layers
    >>> layer = layers.FieldWiseEmbedding(1, nslots=2)
    >>> layer.params.upsert([1, 2, 3], [[1.0], [2.0], [3.0]])
    >>> layer(tf.constant([[1, 2, 3]], tf.int64)).numpy().tolist()
    [[[2.0], [4.0]]]
  """
