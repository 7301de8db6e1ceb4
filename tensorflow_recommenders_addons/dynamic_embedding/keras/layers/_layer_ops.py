"""Keras-free pieces of the embedding layers, in plain TensorFlow.

The layers (_base.py, with tf_keras.py and keras3.py) validate their
arguments, own a `de.Variable` and call the functions here; nothing here
imports a Keras.

  check_layer_args   argument validation, errors name the argument
  create_variable    the layer's de.Variable
  create_shadow      the ShadowVariable of a tf_keras layer
  lookup             ids -> `ids.shape + [dim]` through a shadow or buffer
  squash             combine the rows of the last id axis
  field_wise         combine rows per (batch row, field)
"""

import numbers

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import shadow_ops
from tensorflow_recommenders_addons.dynamic_embedding.lookup import COMBINERS
from tensorflow_recommenders_addons.dynamic_embedding.lookup import routed_lookup
from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator import KVCreator
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable

# Embedding rows must be trainable, so the layers take floating rows only.
VALUE_DTYPES = (tf.float32, tf.float16, tf.bfloat16, tf.float64)

# The layers' **kwargs that configure the de.Variable / ShadowVariable, with
# their TFRA defaults. Everything else in **kwargs goes to the Keras layer.
DE_KWARGS = {
    "trainable": True,
    "bp_v2": False,
    "restrict_policy": None,
    "init_capacity": 0,
    "partitioner": None,  # None: de.default_partition_fn
    "kv_creator": None,   # None: de.CuckooHashTableCreator()
    "max_norm": None,
    "distribute_strategy": None,
    "keep_distribution": False,
    "checkpoint": True,
    "max_unique_ids": None,  # Keras 3: rows of the buffer (None: default)
}

_BOOL_ARGS = ("trainable", "bp_v2", "keep_distribution", "checkpoint",
              "with_unique", "short_file_name")


def _check_bool(arg, value):
  if not isinstance(value, (bool, np.bool_)):
    raise v.invalid(f"{arg}: must be True or False, got {value!r}")
  return bool(value)


def check_layer_args(embedding_size, key_dtype, value_dtype, combiner,
                     devices, with_unique, short_file_name, de_kwargs):
  """Validates the common layer arguments; returns them normalized.

  Args:
    embedding_size, key_dtype, value_dtype, combiner, devices, with_unique,
    short_file_name: The layer's arguments.
    de_kwargs: The layer's `DE_KWARGS` entries (missing ones get defaults).

  Returns:
    A dict of every argument above and every `DE_KWARGS` key: dtypes as
    `tf.DType`, devices as None or a list of strings, the partitioner as
    given (None for the default).

  Raises:
    tf.errors.InvalidArgumentError: naming the first bad argument.
  """
  args = dict(DE_KWARGS)
  args.update(de_kwargs)
  args.update(
      embedding_size=v.check_int("embedding_size", embedding_size, 1),
      key_dtype=v.check_dtype("key_dtype", key_dtype, v.KEY_DTYPES),
      value_dtype=v.check_dtype("value_dtype", value_dtype, VALUE_DTYPES),
      with_unique=with_unique, short_file_name=short_file_name)
  if combiner not in COMBINERS:
    raise v.invalid(f"combiner: must be one of {COMBINERS}, got {combiner!r}")
  args["combiner"] = combiner
  if isinstance(devices, str):
    devices = [devices]
  if devices is not None:
    if not isinstance(devices, (list, tuple)) or not devices or \
        not all(isinstance(d, str) for d in devices):
      raise v.invalid(f"devices: must be None, a device string or a "
                      f"non-empty list of them, got {devices!r}")
    devices = list(devices)
  args["devices"] = devices
  for arg in _BOOL_ARGS:
    args[arg] = _check_bool(arg, args[arg])
  args["init_capacity"] = v.check_int("init_capacity", args["init_capacity"],
                                      0)
  max_norm = args["max_norm"]
  max_unique = args["max_unique_ids"]
  if max_unique is not None:
    args["max_unique_ids"] = v.check_int("max_unique_ids", max_unique, 1)
  if max_norm is not None and (
      isinstance(max_norm, (bool, np.bool_)) or
      not isinstance(max_norm, numbers.Real) or not max_norm > 0):
    raise v.invalid(f"max_norm: must be None or a number > 0, got "
                    f"{max_norm!r}")
  for arg in ("partitioner", "restrict_policy"):
    if args[arg] is not None and not callable(args[arg]):
      raise v.invalid(f"{arg}: must be callable or None, got {args[arg]!r}")
  if args["kv_creator"] is not None and \
      not isinstance(args["kv_creator"], KVCreator):
    raise v.invalid(f"kv_creator: must be a de.KVCreator or None, got "
                    f"{type(args['kv_creator']).__name__}")
  return args


def create_variable(name, args, initializer):
  """The layer's own `de.Variable`, named `name`, of `dim=embedding_size`.

  Args:
    name: The layer name; the variable takes it.
    args: Normalized arguments from `check_layer_args`.
    initializer: As for `de.Variable`.
  """
  return Variable(
      key_dtype=args["key_dtype"],
      value_dtype=args["value_dtype"],
      dim=args["embedding_size"],
      devices=args["devices"],
      partitioner=args["partitioner"] or default_partition_fn,
      name=name,
      initializer=initializer,
      trainable=args["trainable"],
      checkpoint=args["checkpoint"],
      init_size=args["init_capacity"],
      kv_creator=args["kv_creator"],
      restrict_policy=args["restrict_policy"],
      bp_v2=args["bp_v2"],
      short_file_name=args["short_file_name"])


class LayerShadow(shadow_ops.ShadowVariable):
  """The shadow of a tf_keras layer: one batch's rows, never the table.

  Its `numpy()` raises: what reads a layer's weights as numbers
  (`save_weights("x.h5")` and `model.save("x.h5")`, the legacy HDF5 format,
  or `get_weights()`) would otherwise silently leave the table out. The
  shadow still reads as a tensor (`value()`, `read_value()`, printing).
  """

  def numpy(self):
    raise tf.errors.FailedPreconditionError(
        None, None,
        f"layer {self.params.name!r}: its weights are the rows of a dynamic "
        "table, which the legacy HDF5 format (save_weights('x.h5'), "
        "model.save('x.h5')) and get_weights() cannot hold; save with "
        "save_weights('x.weights.h5'), save_weights(prefix) (TF checkpoint), "
        "model.save('x.keras'), model.save(dir) or tf.train.Checkpoint, or "
        "read the table with layer.params.export()")


def create_shadow(params, name, args):
  """The `LayerShadow` (a `de.shadow_ops.ShadowVariable`) of a tf_keras
  layer's `params`."""
  return LayerShadow(
      params, name=f"{name}-shadow", max_norm=args["max_norm"],
      trainable=args["trainable"],
      distribute_strategy=args["distribute_strategy"])


def check_ids(ids, key_dtype, layer_name, min_rank=0):
  """`ids` as a tensor (or RaggedTensor) of `key_dtype`.

  Raises:
    tf.errors.InvalidArgumentError: another dtype, or a rank below
      `min_rank`, naming `ids` and the layer.
  """
  if not isinstance(ids, tf.RaggedTensor):
    if isinstance(ids, tf.SparseTensor):
      raise v.invalid(f"ids: layer {layer_name!r} takes dense or ragged ids, "
                      f"not a tf.SparseTensor")
    if not hasattr(ids, "dtype"):
      ids = v.to_tensor("ids", ids, key_dtype)
    ids = tf.convert_to_tensor(ids)
  if ids.dtype != key_dtype:
    raise v.invalid(f"ids: layer {layer_name!r} has key_dtype "
                    f"{key_dtype.name} but got {ids.dtype.name} ids; cast "
                    f"them or set key_dtype")
  rank = ids.shape.rank
  if rank is not None and rank < min_rank:
    raise v.invalid(f"ids: layer {layer_name!r} needs ids of rank >= "
                    f"{min_rank}, got shape {ids.shape}")
  return ids


def lookup(params, ids, router, name, max_norm):
  """Rows of `ids` through `router` (a layer's ShadowVariable or row
  buffer): `ids.shape + [dim]`, ragged stays ragged. Each distinct id is
  read once; gradients reach the router."""
  return routed_lookup(params, ids, router, name, max_norm)


def _combine_dtype(rows):
  """Low-precision rows are combined in float32, as TF's lookups do."""
  return tf.float32 if rows.dtype in (tf.float16, tf.bfloat16) else rows.dtype


def _divide(total, count, combiner):
  """sum -> total, mean -> total / count, sqrtn -> total / sqrt(count);
  a zero count gives zeros."""
  if combiner == "mean":
    return tf.math.divide_no_nan(total, count)
  if combiner == "sqrtn":
    return tf.math.divide_no_nan(total, tf.sqrt(count))
  return total


def squash(rows, combiner):
  """Combines rows `[..., n, dim]` over `n`: result `[..., dim]`.

  Args:
    rows: Dense or ragged (ragged in the `n` axis) embeddings.
    combiner: "sum", "mean" or "sqrtn"; an empty `n` gives zeros.

  Returns:
    The combined rows, in the dtype of `rows`.
  """
  dtype = _combine_dtype(rows)
  cast = tf.cast(rows, dtype)
  total = tf.reduce_sum(cast, axis=-2)
  if isinstance(rows, tf.RaggedTensor):
    ones = rows.with_flat_values(tf.ones_like(rows.flat_values[:, :1]))
    count = tf.reduce_sum(tf.cast(ones, dtype), axis=-2)
  else:
    count = tf.cast(tf.shape(rows)[-2], dtype)
  return tf.cast(_divide(total, count, combiner), rows.dtype)


def default_field_fn(ids, nslots):
  """Field of each id: `floormod(ids, nslots)` for integer ids, a stable
  `tf.strings.to_hash_bucket_fast` bucket for string ids."""
  if ids.dtype == tf.string:
    if isinstance(ids, tf.RaggedTensor):
      return ids.with_flat_values(
          tf.strings.to_hash_bucket_fast(ids.flat_values, nslots))
    return tf.strings.to_hash_bucket_fast(ids, nslots)
  return tf.math.floormod(ids, tf.cast(nslots, ids.dtype))


def _checked_fields(fields, ids, nslots):
  """Flat int64 fields, checked to be integers in `[0, nslots)`."""
  if isinstance(fields, tf.RaggedTensor) != isinstance(ids, tf.RaggedTensor):
    raise v.invalid("slot_map_fn: must return a tensor shaped like ids "
                    "(ragged for ragged ids)")
  flat = fields.flat_values if isinstance(fields, tf.RaggedTensor) else \
      tf.convert_to_tensor(fields)
  if not flat.dtype.is_integer:
    raise v.invalid(f"slot_map_fn: must return integer field numbers, got "
                    f"{flat.dtype.name}")
  flat_ids = ids.flat_values if isinstance(ids, tf.RaggedTensor) else ids
  if not flat.shape.is_compatible_with(flat_ids.shape):
    raise v.invalid(f"slot_map_fn: must return ids' shape {flat_ids.shape}, "
                    f"got {flat.shape}")
  flat = tf.cast(tf.reshape(flat, [-1]), tf.int64)
  checks = [
      tf.debugging.assert_equal(
          tf.size(flat, out_type=tf.int64),
          tf.size(flat_ids, out_type=tf.int64),
          message="slot_map_fn: must return one field per id"),
      tf.debugging.assert_non_negative(
          flat, message="slot_map_fn: returned a field < 0"),
      tf.debugging.assert_less(
          flat, tf.constant(nslots, tf.int64),
          message=f"slot_map_fn: returned a field >= nslots ({nslots})"),
  ]
  with tf.control_dependencies(checks):
    return tf.identity(flat)


def field_wise(rows_fn, ids, fields, nslots, combiner):
  """Embeddings of `[batch, n]` ids combined per field: `[batch, nslots,
  dim]`.

  Args:
    rows_fn: `fn(flat_ids) -> [n, dim]` rows (the layer's lookup).
    ids: `[batch, n]` ids (dense or ragged).
    fields: The field of each id, shaped like `ids`, in `[0, nslots)`.
    nslots: Number of fields.
    combiner: "sum", "mean" or "sqrtn"; a field without ids gives zeros.

  Returns:
    `[batch, nslots, dim]` embeddings.

  Raises:
    tf.errors.InvalidArgumentError: fields of another shape or out of range
      (naming `slot_map_fn`).
  """
  fields = _checked_fields(fields, ids, nslots)
  if isinstance(ids, tf.RaggedTensor):
    flat_ids = ids.flat_values
    rows_of = tf.cast(ids.value_rowids(), tf.int64)
    batch = tf.cast(ids.nrows(), tf.int64)
  else:
    flat_ids = tf.reshape(ids, [-1])
    shape = tf.shape(ids, out_type=tf.int64)
    batch = shape[0]
    rows_of = tf.repeat(tf.range(batch), shape[1])
  rows = rows_fn(flat_ids)
  dtype = _combine_dtype(rows)
  segments = rows_of * nslots + fields
  total = tf.math.unsorted_segment_sum(tf.cast(rows, dtype), segments,
                                       batch * nslots)
  count = tf.math.unsorted_segment_sum(tf.ones_like(segments, dtype=dtype),
                                       segments, batch * nslots)[:, None]
  out = tf.cast(_divide(total, count, combiner), rows.dtype)
  out = tf.reshape(out, tf.stack([batch, nslots, rows.shape[-1]]))
  static_batch = ids.shape[0] if ids.shape.rank else None
  out.set_shape([static_batch, nslots, rows.shape[-1]])
  return out
