"""`FieldWiseEmbedding`: ids combined per field (tf_keras layer).

The combining code is Keras-free (_layer_ops.field_wise).
"""

import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _layer_ops as ops
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import BasicEmbedding
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import deserialize_fn
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers.embedding import serialize_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v


@tf_keras.saving.register_keras_serializable(package="TFRA")
class FieldWiseEmbedding(BasicEmbedding):
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
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
    >>> layer = layers.FieldWiseEmbedding(1, nslots=2)
    >>> layer.params.upsert([1, 2, 3], [[1.0], [2.0], [3.0]])
    >>> layer(tf.constant([[1, 2, 3]], tf.int64)).numpy().tolist()
    [[[2.0], [4.0]]]
  """

  def __init__(self,
               embedding_size,
               nslots,
               slot_map_fn=None,
               key_dtype=tf.int64,
               value_dtype=tf.float32,
               combiner="sum",
               initializer=None,
               devices=None,
               name="SlotDynamicEmbeddingLayer",
               with_unique=True,
               **kwargs):
    nslots = ops.positive_int("nslots", nslots)
    if slot_map_fn is not None and not callable(slot_map_fn):
      raise v.invalid(f"slot_map_fn: must be callable or None, got "
                      f"{slot_map_fn!r}")
    super().__init__(embedding_size, key_dtype=key_dtype,
                     value_dtype=value_dtype, combiner=combiner,
                     initializer=initializer, devices=devices, name=name,
                     with_unique=with_unique, **kwargs)
    self.nslots = nslots
    self.slot_map_fn = slot_map_fn

  def _fields(self, ids):
    if self.slot_map_fn is None:
      return ops.default_field_fn(ids, self.nslots)
    return self.slot_map_fn(ids)

  def call(self, ids):  # pylint: disable=arguments-differ
    """Looks up and combines `[batch, n]` ids; see the class docstring."""
    ids = ops.check_ids(ids, self.key_dtype, self.name, min_rank=2)
    if ids.shape.rank != 2:
      raise v.invalid(f"ids: layer {self.name!r} needs [batch, n] ids, got "
                      f"shape {ids.shape}")
    out = ops.field_wise(self.shadow, ids, self._fields(ids), self.nslots,
                         self.combiner)
    if out.dtype != self.compute_dtype:
      out = tf.cast(out, self.compute_dtype)
    return out

  def compute_output_shape(self, input_shape):
    """`[batch, nslots, embedding_size]`."""
    input_shape = tf.TensorShape(input_shape)
    batch = input_shape[0] if input_shape.rank else None
    return tf.TensorShape([batch, self.nslots, self.embedding_size])

  def get_config(self):
    """`BasicEmbedding.get_config()` plus `nslots` and `slot_map_fn`."""
    config = super().get_config()
    config["nslots"] = self.nslots
    config["slot_map_fn"] = serialize_fn(self.slot_map_fn)
    return config

  @classmethod
  def from_config(cls, config):
    """Builds a layer from `get_config()` output.

    Raises:
      ValueError: a `slot_map_fn` (or `partitioner`) Keras cannot resolve;
        register it or pass it again: `config["slot_map_fn"] = fn`.
    """
    config = dict(config)
    config["slot_map_fn"] = deserialize_fn("slot_map_fn",
                                           config.get("slot_map_fn"))
    return super().from_config(config)
