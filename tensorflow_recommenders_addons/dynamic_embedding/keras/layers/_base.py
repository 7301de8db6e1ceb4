"""The Keras-agnostic bodies of the embedding layers.

The tf_keras layers (tf_keras.py) and the Keras 3 layers (keras3.py) are
these classes mixed in front of each Keras's `Layer`; they differ only in
the Keras module used for (de)serialization (`_KERAS`) and in how a lookup's
gradient reaches the table (`_init_state`, `_rows`):

  tf_keras   a ShadowVariable of dynamic shape (the layer's `shadow`); under
             a multi-replica tf.distribute strategy a row buffer, since
             replicas' gradients must have one shape
  Keras 3    a fixed-shape row buffer weight (row_buffer.py), since Keras 3
             variables and optimizer slots need fully defined shapes

Validation, configs, combining and output shapes are written once, here and
in the Keras-free _layer_ops.py.
"""

import types

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _layer_ops as ops
from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding import static_export
from tensorflow_recommenders_addons.dynamic_embedding.row_buffer import RowBuffer
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.autograph import run_as_is


def serialize_fn(keras, fn):
  """A Keras config entry for a function argument (None stays None).

  Named functions use the serialization of `keras` (the tf_keras or Keras 3
  module; reload them after `register_keras_serializable` or in a custom
  object scope);
  objects Keras cannot serialize become `{"unserializable": repr}`, which
  `deserialize_fn` refuses, so the function must be passed again.
  """
  if fn is None:
    return None
  try:
    return keras.saving.serialize_keras_object(fn)
  except (TypeError, ValueError, OSError):
    return {"unserializable": repr(fn)}


def deserialize_fn(keras, arg, config):
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
    return keras.saving.deserialize_keras_object(config)
  except (TypeError, ValueError) as e:
    raise ValueError(
        f"{arg}: cannot deserialize {config!r}: register the function with "
        f"{keras.__name__}.saving.register_keras_serializable, load inside "
        f"{keras.__name__}.saving.custom_object_scope, or pass it again: "
        f"config[{arg!r}] = fn") from e


def _resolve_initializer(keras, initializer):
  """A Keras identifier ("glorot_uniform" or a config dict) as its
  initializer object; anything else as is."""
  if not isinstance(initializer, (str, dict)):
    return initializer
  try:
    return keras.initializers.get(initializer)
  except (TypeError, ValueError) as e:
    raise v.invalid(f"initializer: {initializer!r} is not a Keras "
                    f"initializer name or config") from e


def _serialize_initializer(keras, initializer):
  if initializer is None or isinstance(initializer, (int, float, str)):
    return initializer
  if isinstance(initializer, keras.initializers.Initializer):
    return keras.initializers.serialize(initializer)
  if isinstance(initializer, (tf.Tensor, tf.Variable)):
    return initializer.numpy().tolist()
  if hasattr(initializer, "tolist"):
    return initializer.tolist()
  if isinstance(initializer, (list, tuple)):
    return list(initializer)
  return serialize_fn(keras, initializer)


def _deserialize_initializer(keras, config):
  if isinstance(config, dict) and "unserializable" not in config and \
      "class_name" in config and config.get("class_name") != "function":
    return keras.initializers.deserialize(config)
  if isinstance(config, dict):
    return deserialize_fn(keras, "initializer", config)
  return config



class EmbeddingBase:
  """The body of `BasicEmbedding` (see its docstring in tf_keras.py).

  Subclasses set `_KERAS` (the Keras module) and implement `_init_state`
  (called at the end of `__init__`) and `_rows(ids)` (rows
  `ids.shape + [dim]` whose gradient trains `params`).
  """

  _KERAS = None
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
            f"ids; begin the model with Input(shape, "
            f"dtype={args['key_dtype'].name!r}) instead")
    if args["value_dtype"] != tf.float32:
      # float32 rows follow the global dtype policy (mixed_float16 computes
      # in float16); other row dtypes compute in their own dtype.
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
    if initializer is None:  # TFRA's default: random rows, not zeros
      initializer = self._KERAS.initializers.RandomNormal()
    resolved = _resolve_initializer(self._KERAS, initializer)
    # A name stays a name (for the config); a list is kept as a tuple, since
    # Keras would track a list attribute.
    self.initializer = initializer if isinstance(initializer, str) else (
        tuple(resolved) if isinstance(resolved, list) else resolved)
    # A tracked attribute: the table is a checkpoint dependency of the layer.
    self.params = ops.create_variable(self.name, args, resolved)
    self._init_state(args)

  def _init_state(self, args):
    raise NotImplementedError

  def _rows(self, ids):
    """Rows `ids.shape + [dim]` of checked ids; gradients train `params`."""
    raise NotImplementedError

  @staticmethod
  def _output_shape(shape):
    """A `tf.TensorShape` as this Keras's output shapes are written."""
    return shape

  def _table_rows(self, ids):
    """`_rows(ids)`, or while `de.export_static` traces the model, the rows
    of the layer's frozen table (static_export.py)."""
    frozen = static_export.frozen_rows(self, ids)
    return self._rows(ids) if frozen is None else frozen

  def _lookup(self, ids):
    """The layer's output before the dtype cast (subclasses combine)."""
    return self._table_rows(ids)

  def _check(self, ids):
    return ops.check_ids(ids, self.key_dtype, self.name, self._MIN_RANK)

  def call(self, ids):  # pylint: disable=arguments-differ
    """Looks up `ids`; see the class docstring."""
    return self._output(ids)

  @run_as_is
  def _output(self, ids):
    # `call` stays unmarked: tf_keras reads its signature (run_as_is).
    out = self._lookup(self._check(ids))
    if out.dtype != self.compute_dtype:
      out = tf.cast(out, self.compute_dtype)
    return out

  def compute_output_shape(self, input_shape):
    """`input_shape + [embedding_size]`."""
    return self._output_shape(
        tf.TensorShape(input_shape).concatenate([self.embedding_size]))

  def get_config(self):
    """The layer's arguments; `from_config` rebuilds an equal layer.

    Initializers and functions use Keras serialization; a
    `de.CuckooHashTableCreator` (with its bounds and `de.FileSystemSaver`)
    and a built-in `restrict_policy` become plain data (_object_configs.py);
    other creators and policies stay objects (None when not given).
    """
    # Imported here: _object_configs imports this module.
    from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _object_configs as oc  # pylint: disable=import-outside-toplevel
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
        "initializer": _serialize_initializer(self._KERAS, self.initializer),
        "devices": None if self.devices is None else list(self.devices),
        "with_unique": self.with_unique,
        "short_file_name": self.short_file_name,
        "bp_v2": args["bp_v2"],
        "restrict_policy": oc.serialize_policy(args["restrict_policy"]),
        "init_capacity": args["init_capacity"],
        "partitioner": serialize_fn(self._KERAS, partitioner),
        "kv_creator": oc.serialize_creator(self._KERAS, args["kv_creator"]),
        "max_norm": self.max_norm,
        "keep_distribution": self.keep_distribution,
        "checkpoint": args["checkpoint"],
        "max_unique_ids": args["max_unique_ids"],
    })
    return config

  @classmethod
  def from_config(cls, config):
    """Builds a layer from `get_config()` output.

    Raises:
      ValueError: a function entry (e.g. `partitioner`) Keras cannot
        resolve; register it or pass it again in `config`.
    """
    from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _object_configs as oc  # pylint: disable=import-outside-toplevel
    config = dict(config)
    config["initializer"] = _deserialize_initializer(
        cls._KERAS, config.get("initializer"))
    config["kv_creator"] = oc.deserialize_creator(cls._KERAS,
                                                  config.get("kv_creator"))
    config["restrict_policy"] = oc.deserialize_policy(
        config.get("restrict_policy"))
    config["partitioner"] = deserialize_fn(cls._KERAS, "partitioner",
                                           config.get("partitioner"))
    # Keras's own from_config turns a serialized dtype policy back into one.
    return super().from_config(config)


class SquashedBase(EmbeddingBase):
  """The body of `SquashedEmbedding`: rows of the last id axis combined."""

  _MIN_RANK = 1

  def _lookup(self, ids):
    return ops.squash(self._table_rows(ids), self.combiner)

  def compute_output_shape(self, input_shape):
    """`input_shape[:-1] + [embedding_size]`."""
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank is None:
      return self._output_shape(tf.TensorShape(None))
    return self._output_shape(
        input_shape[:-1].concatenate([self.embedding_size]))


class FieldWiseBase(EmbeddingBase):
  """The body of `FieldWiseEmbedding`: rows combined per field."""

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
    nslots = v.check_int("nslots", nslots, 1)
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

  def _check(self, ids):
    ids = ops.check_ids(ids, self.key_dtype, self.name, min_rank=2)
    if ids.shape.rank != 2:
      raise v.invalid(f"ids: layer {self.name!r} needs [batch, n] ids, got "
                      f"shape {ids.shape}")
    return ids

  def _lookup(self, ids):
    return ops.field_wise(self._table_rows, ids, self._fields(ids), self.nslots,
                          self.combiner)

  def compute_output_shape(self, input_shape):
    """`[batch, nslots, embedding_size]`."""
    input_shape = tf.TensorShape(input_shape)
    batch = input_shape[0] if input_shape.rank else None
    return self._output_shape(
        tf.TensorShape([batch, self.nslots, self.embedding_size]))

  def get_config(self):
    """The base config plus `nslots` and `slot_map_fn`."""
    config = super().get_config()
    config["nslots"] = self.nslots
    config["slot_map_fn"] = serialize_fn(self._KERAS, self.slot_map_fn)
    return config

  @classmethod
  def from_config(cls, config):
    """Builds a layer from `get_config()` output.

    Raises:
      ValueError: a `slot_map_fn` (or `partitioner`) Keras cannot resolve;
        register it or pass it again: `config["slot_map_fn"] = fn`.
    """
    config = dict(config)
    config["slot_map_fn"] = deserialize_fn(cls._KERAS, "slot_map_fn",
                                           config.get("slot_map_fn"))
    return super().from_config(config)


# Rows of a row buffer when `max_unique_ids` is not given: every batch of up
# to 16384 ids fits (e.g. 2048 examples x 8 ids).
DEFAULT_MAX_UNIQUE_IDS = 16384


def multi_replica():
  """Whether layers are being created under a multi-replica strategy."""
  return tf.distribute.get_strategy().num_replicas_in_sync > 1


# Name prefix of the table's entries in a layer's Keras weights store.
_TABLE_ENTRY = "table:"


class BufferState:
  """Layers training through a row buffer weight created in `build`
  (row_buffer.py). Subclasses set `_NO_AUTOCAST`: their Keras's `add_weight`
  argument that keeps the weight in the table's dtype."""

  _NO_AUTOCAST = {}

  def _init_state(self, args):
    self.max_unique_ids = args["max_unique_ids"] or DEFAULT_MAX_UNIQUE_IDS
    self._buffer = None

  def build(self, input_shape=None):
    """Creates the row buffer weight `[max_unique_ids, embedding_size]`."""
    del input_shape
    if self._buffer is None:
      # Not autocast: under mixed precision the buffer is read and trained in
      # the table's dtype; the output is cast to the compute dtype.
      weight = self.add_weight(
          name="rows", shape=(self.max_unique_ids, self.embedding_size),
          dtype=self.value_dtype.name, initializer="zeros",
          trainable=self.trainable, **self._NO_AUTOCAST)
      self._buffer = RowBuffer(self.params, weight, self.name)
      # How de.DynamicEmbeddingOptimizer recognizes the buffer among the
      # model's trainable variables.
      weight._de_row_buffer = self._buffer  # pylint: disable=protected-access
      # A checkpoint dependency of the layer: else it is reachable only
      # through the optimizer's variable list, which a restored optimizer
      # creates after `restore`, so the weight is never matched (restore
      # warns and `assert_consumed` fails).
      self._rows_weight = weight
    self.built = True

  def _rows(self, ids):
    if self._buffer is None:
      self.build()
    return ops.lookup(self.params, ids, self._buffer, self.name,
                      self.max_norm)

  # Keras weights files (.keras, .weights.h5) -------------------------------

  def _own_variables(self):
    """The layer's Keras variables in its Keras's saving order."""
    raise NotImplementedError

  def _is_step_state(self, variable):
    """Whether `variable` holds only one training step's rows (the row
    buffer, or tf_keras's shadow): not saved."""
    return self._buffer is not None and variable is self._buffer.weight

  def save_own_variables(self, store):
    """Saves the table's rows (and bookkeeping) into a Keras weights store.

    Called by `model.save("x.keras")` and `save_weights("x.weights.h5")`.
    Variables holding one training step's rows are not saved.

    Args:
      store: The layer's weights store (name -> numpy array).
    """
    # Imported here: _weights_store is needed only by Keras's file formats.
    from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _weights_store  # pylint: disable=import-outside-toplevel
    _weights_store.save_state(store, self._own_variables(),
                              self._is_step_state,
                              {_TABLE_ENTRY: self.params})

  def load_own_variables(self, store):
    """Replaces the table's content with what `save_own_variables` saved.

    Called by `load_model` and `load_weights`. Rows are routed through the
    table's current partitioner; keys not in the file are gone afterwards.
    Everything is checked before the table is written.

    Args:
      store: The layer's weights store.

    Raises:
      tf.errors.InvalidArgumentError: the file holds no table for this
        layer, or one of another key dtype or dim (naming the layer); the
        table is unchanged.
    """
    from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _weights_store  # pylint: disable=import-outside-toplevel
    _weights_store.load_state(store, self._own_variables(),
                              self._is_step_state,
                              {_TABLE_ENTRY: self.params},
                              f"layer {self.name!r}")

