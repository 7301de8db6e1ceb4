"""Embedding layers over a `de.Variable` (tf_keras, i.e. Keras 2).

Each layer owns one `de.Variable` (`layer.params`, named after the layer)
and a `de.shadow_ops.ShadowVariable` over it (`layer.shadow`), the layer's
only trainable weight. A lookup loads the rows of the batch's distinct ids
into the shadow; wrap the Keras optimizer in `de.DynamicEmbeddingOptimizer`
so that its updates are written back to the table. Checkpoints
(`model.save_weights` in TF format, `tf.train.Checkpoint`) save the table's
keys and rows as a dependency of the layer.

The lookup and combining code is Keras-free (_layer_ops.py).
"""

import types

import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _layer_ops as ops
from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v


def serialize_fn(fn):
  """A Keras config entry for a function argument (None stays None).

  Named functions use Keras serialization (reload them with
  `tf_keras.saving.register_keras_serializable` or a custom object scope);
  objects Keras cannot serialize become `{"unserializable": repr}`, which
  `deserialize_fn` refuses, so the function must be passed again.
  """
  if fn is None:
    return None
  try:
    return tf_keras.saving.serialize_keras_object(fn)
  except (TypeError, ValueError, OSError):
    return {"unserializable": repr(fn)}


def deserialize_fn(arg, config):
  """Inverse of `serialize_fn`; callables pass through.

  Raises:
    ValueError: an entry Keras cannot resolve, naming `arg`.
  """
  if config is None or callable(config):
    return config
  if isinstance(config, dict) and "unserializable" in config:
    raise ValueError(
        f"{arg}: the layer was configured with {config['unserializable']}, "
        f"which Keras cannot serialize; pass it again: config[{arg!r}] = fn")
  try:
    return tf_keras.saving.deserialize_keras_object(config)
  except (TypeError, ValueError) as e:
    raise ValueError(
        f"{arg}: cannot deserialize {config!r}: register the function with "
        f"tf_keras.saving.register_keras_serializable, load inside "
        f"tf_keras.saving.custom_object_scope, or pass it again: "
        f"config[{arg!r}] = fn") from e


def _resolve_initializer(initializer):
  """A Keras identifier ("glorot_uniform" or a config dict) as its
  initializer object; anything else as is."""
  if not isinstance(initializer, (str, dict)):
    return initializer
  try:
    return tf_keras.initializers.get(initializer)
  except (TypeError, ValueError) as e:
    raise v.invalid(f"initializer: {initializer!r} is not a Keras "
                    f"initializer name or config") from e


def _serialize_initializer(initializer):
  if initializer is None or isinstance(initializer, (int, float, str)):
    return initializer
  if isinstance(initializer, tf_keras.initializers.Initializer):
    return tf_keras.initializers.serialize(initializer)
  if isinstance(initializer, (tf.Tensor, tf.Variable)):
    return initializer.numpy().tolist()
  if hasattr(initializer, "tolist"):
    return initializer.tolist()
  if isinstance(initializer, (list, tuple)):
    return list(initializer)
  return serialize_fn(initializer)


def _deserialize_initializer(config):
  if isinstance(config, dict) and "unserializable" not in config and \
      "class_name" in config and config.get("class_name") != "function":
    return tf_keras.initializers.deserialize(config)
  if isinstance(config, dict):
    return deserialize_fn("initializer", config)
  return config


@tf_keras.saving.register_keras_serializable(package="TFRA")
class BasicEmbedding(tf_keras.layers.Layer):
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
    initializer: Rows of unseen ids, as for `de.Variable`: None (zeros), a
      number, `embedding_size` numbers, a Keras initializer (or its name
      or config, e.g. "random_normal") or a callable.
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
      `checkpoint` (True: checkpoints save the table); and Keras layer
      arguments such as `dtype` (the output's dtype; rows are stored in
      `value_dtype`).

  Returns:
    Calling the layer returns `ids.shape + [embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; when called,
      ids of another dtype than `key_dtype`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
    >>> layer = layers.BasicEmbedding(2, key_dtype=tf.string, name="words")
    >>> layer.params.upsert(["a"], [[1.0, 2.0]])
    >>> layer(tf.constant([["a", "b"]])).numpy().tolist()
    [[[1.0, 2.0], [0.0, 0.0]]]
    >>> [w.name for w in layer.trainable_weights]
    ['words/TrainableWrapper_words-shadow:0']
  """

  _MIN_RANK = 0

  def __init__(self,
               embedding_size,
               key_dtype=tf.int64,
               value_dtype=tf.float32,
               combiner="sum",
               initializer=None,
               devices=None,
               name="DynamicEmbeddingLayer",
               with_unique=True,
               short_file_name=False,
               **kwargs):
    de_kwargs = {k: kwargs.pop(k) for k in ops.DE_KWARGS if k in kwargs}
    args = ops.check_layer_args(embedding_size, key_dtype, value_dtype,
                                combiner, devices, with_unique,
                                short_file_name, de_kwargs)
    if not isinstance(name, str) or not name:
      raise v.invalid(f"name: must be a non-empty string, got {name!r}")
    for arg in ("input_shape", "batch_input_shape", "input_dim"):
      if arg in kwargs:
        raise v.invalid(
            f"{arg}: Keras would feed this layer {args['value_dtype'].name} "
            f"ids; begin the model with tf_keras.Input(shape, "
            f"dtype={args['key_dtype'].name!r}) instead")
    kwargs.setdefault("dtype", args["value_dtype"].name)
    super().__init__(name=name, trainable=args["trainable"], **kwargs)
    # Read-only views: Keras would track a list or dict attribute as a
    # checkpoint dependency.
    self._args = types.MappingProxyType(args)
    self.embedding_size = args["embedding_size"]
    self.key_dtype = args["key_dtype"]
    self.value_dtype = args["value_dtype"]
    self.combiner = args["combiner"]
    self.devices = None if args["devices"] is None else tuple(args["devices"])
    self.with_unique = args["with_unique"]
    self.short_file_name = args["short_file_name"]
    self.max_norm = args["max_norm"]
    self.distribute_strategy = args["distribute_strategy"]
    self.keep_distribution = args["keep_distribution"]
    resolved = _resolve_initializer(initializer)
    # A name stays a name (for the config); a list is kept as a tuple, since
    # Keras would track a list attribute.
    self.initializer = initializer if isinstance(initializer, str) else (
        tuple(resolved) if isinstance(resolved, list) else resolved)
    # Tracked attributes: params is a checkpoint dependency of the layer,
    # shadow (a tf.Variable) one of its trainable weights.
    self.params, self.shadow = ops.create_params(self.name, args, resolved)

  def _lookup(self, ids):
    """Rows `ids.shape + [dim]` of checked ids (subclasses combine them)."""
    return ops.lookup(self.shadow, ids)

  def call(self, ids):  # pylint: disable=arguments-differ
    """Looks up `ids`; see the class docstring."""
    ids = ops.check_ids(ids, self.key_dtype, self.name, self._MIN_RANK)
    out = self._lookup(ids)
    if out.dtype != self.compute_dtype:
      out = tf.cast(out, self.compute_dtype)
    return out

  def compute_output_shape(self, input_shape):
    """`input_shape + [embedding_size]`."""
    return tf.TensorShape(input_shape).concatenate([self.embedding_size])

  def get_config(self):
    """The layer's arguments; `from_config` rebuilds an equal layer.

    Initializers and functions use Keras serialization; a `kv_creator` or
    `restrict_policy` is kept as the object itself (not JSON-serializable;
    None when not given).
    """
    config = super().get_config()
    args = self._args
    partitioner = args["partitioner"]
    if partitioner is default_partition_fn:
      partitioner = None
    config.update({
        "embedding_size": self.embedding_size,
        "key_dtype": self.key_dtype.name,
        "value_dtype": self.value_dtype.name,
        "combiner": self.combiner,
        "initializer": _serialize_initializer(self.initializer),
        "devices": None if self.devices is None else list(self.devices),
        "with_unique": self.with_unique,
        "short_file_name": self.short_file_name,
        "bp_v2": args["bp_v2"],
        "restrict_policy": args["restrict_policy"],
        "init_capacity": args["init_capacity"],
        "partitioner": serialize_fn(partitioner),
        "kv_creator": args["kv_creator"],
        "max_norm": self.max_norm,
        "keep_distribution": self.keep_distribution,
        "checkpoint": args["checkpoint"],
    })
    return config

  @classmethod
  def from_config(cls, config):
    """Builds a layer from `get_config()` output.

    Raises:
      ValueError: a function entry (e.g. `partitioner`) Keras cannot
        resolve; register it or pass it again in `config`.
    """
    config = dict(config)
    config["initializer"] = _deserialize_initializer(config.get("initializer"))
    config["partitioner"] = deserialize_fn("partitioner",
                                           config.get("partitioner"))
    return cls(**config)


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
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
    >>> layer = layers.Embedding(3, initializer=0.5)
    >>> layer(np.array([7, 8, 9], np.int64)).shape.as_list()
    [3, 3]
  """


@tf_keras.saving.register_keras_serializable(package="TFRA")
class SquashedEmbedding(BasicEmbedding):
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
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras import layers
    >>> layer = layers.SquashedEmbedding(1, combiner="mean")
    >>> layer.params.upsert([1, 2], [[1.0], [3.0]])
    >>> layer(tf.constant([[1, 2], [2, 2]], tf.int64)).numpy().tolist()
    [[2.0], [3.0]]
  """

  _MIN_RANK = 1

  def _lookup(self, ids):
    return ops.squash(ops.lookup(self.shadow, ids), self.combiner)

  def compute_output_shape(self, input_shape):
    """`input_shape[:-1] + [embedding_size]`."""
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank is None:
      return tf.TensorShape(None)
    return input_shape[:-1].concatenate([self.embedding_size])
