"""Embedding lookups on `de.Variable`s, mirroring `tf.nn`'s lookups.

Every lookup of a trainable variable takes the same path: deduplicate the
ids, read their rows from the tables once, load them into the lookup's
`de.TrainableWrapper` as well, and gather the output from the rows read,
routing the gradient to the wrapper (see trainable.py). The wrapper's
gradient is dense over the distinct ids, so duplicate ids accumulate exactly
as for a dense `tf.Variable`.
A non-trainable variable skips the wrapper; plain `embedding_lookup` then
also skips deduplication.

Numerics follow TensorFlow's own functions op for op (same clipping, same
combiner arithmetic, low-precision rows combined in float32), so results
match `tf.nn.embedding_lookup*` on a static variable holding the same rows.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.model_mode import is_inference
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.unique import segment_sum_rows
from tensorflow_recommenders_addons.dynamic_embedding.unique import unique as _unique
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable
from tensorflow_recommenders_addons.utils.autograph import run_as_is

COMBINERS = ("mean", "sqrtn", "sum")


@tf.custom_gradient
def _gather_rows(rows, idx):
  """`rows[idx]` whose gradient is dense `[len(rows), dim]`, duplicates summed."""
  def grad(dy):
    return segment_sum_rows(dy, idx, tf.shape(rows)[0]), None
  return tf.gather(rows, idx), grad


def _clip(rows, max_norm):
  """TF's max_norm rule: rows whose L2 norm exceeds max_norm are rescaled."""
  return rows if max_norm is None else tf.clip_by_norm(rows, max_norm, axes=[1])


def _variable(params, arg):
  if not isinstance(params, Variable):
    raise v.invalid(f"{arg}: must be a de.Variable, got {type(params).__name__}")
  return params


def _unique_rows(params, flat_ids, name, max_norm, wrapper=None,
                 with_wrapper=False):
  """`(rows [u, dim], idx [n], wrapper)` for flat ids.

  `rows` holds each distinct id once (first-seen order) and `idx` maps
  positions to rows. When the variable trains, the rows are also loaded into
  the lookup's wrapper, and their gradient is routed to it.
  """
  unique, idx = _unique(flat_ids)
  rows = params.lookup(unique)
  if is_inference():
    # Read-only (de.enable_inference_mode): no wrapper, shadow or row buffer
    # is created or assigned, so concurrent lookups share nothing mutable.
    return _clip(rows, max_norm), idx, None
  if wrapper is None and (with_wrapper or _trains(params)):
    wrapper = params._trainable(  # pylint: disable=protected-access
        name, lambda: TrainableWrapper(params, name, max_norm=max_norm,
                                       trainable=params.trainable))
  if wrapper is not None:
    rows = wrapper.route(unique, rows)
  return _clip(rows, max_norm), idx, wrapper


def _trains(params):
  return params.trainable and params.value_dtype.is_floating


def _dense_lookup(params, ids, name, max_norm, return_trainable, dedup,
                  wrapper=None):
  """Shared body of embedding_lookup(_unique) and shadow lookups."""
  if isinstance(ids, tf.RaggedTensor):
    out = _dense_lookup(params, ids.flat_values, name, max_norm,
                        return_trainable, dedup, wrapper)
    if return_trainable:
      return ids.with_flat_values(out[0]), out[1]
    return ids.with_flat_values(out)
  ids = v.to_tensor("ids", ids, params.key_dtype)
  with tf.name_scope(name):
    flat = v.reshape(ids, [-1])
    if dedup or wrapper is not None or return_trainable or _trains(params):
      rows, idx, wrapper = _unique_rows(params, flat, name, max_norm, wrapper,
                                        with_wrapper=return_trainable)
      out = _gather_rows(rows, idx)
    else:
      out = _clip(params.lookup(flat), max_norm)
    out = params._unflatten(out, ids)  # pylint: disable=protected-access
  return (out, wrapper) if return_trainable else out


@run_as_is
def routed_lookup(params, ids, router, name, max_norm=None):
  """Rows of `ids` (`ids.shape + [dim]`; ragged stays ragged), each distinct
  id read once, whose gradient goes through `router`: an object with
  `route(unique_ids, rows) -> rows` (a `TrainableWrapper`, or the row buffer
  of the Keras 3 layers)."""
  return _dense_lookup(params, ids, name, max_norm, False, True, router)


@run_as_is
def embedding_lookup(params,
                     ids,
                     partition_strategy=None,
                     name=None,
                     validate_indices=None,
                     max_norm=None,
                     return_trainable=False):
  """Looks up `ids` in a `de.Variable`, like `tf.nn.embedding_lookup`.

  Args:
    params: A `de.Variable` (or a `de.shadow_ops.ShadowVariable`).
    ids: Ids of any shape (or a `tf.RaggedTensor`), of the key dtype.
    partition_strategy: Ignored (the variable's partitioner routes ids).
    name: Lookup name; also names the `de.TrainableWrapper`. Two lookups of
      one variable in one training step may share it: an id in both gets
      the sum of both gradients (see `de.TrainableWrapper`).
    validate_indices: Ignored, as in TensorFlow.
    max_norm: If set, rows with a larger L2 norm are scaled down to it.
    return_trainable: Also return the `de.TrainableWrapper`.

  Returns:
    Rows of shape `ids.shape + [dim]` (ragged for ragged ids), and the
    wrapper if `return_trainable`.

  Raises:
    tf.errors.InvalidArgumentError: `params` is not a variable, or `ids`
      has another dtype than its keys.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=2, initializer=0.5)
    >>> de.embedding_lookup(var, [[1, 2, 1]]).shape.as_list()
    [1, 3, 2]
  """
  del partition_strategy, validate_indices
  if isinstance(params, TrainableWrapper):
    out = _dense_lookup(params.params, ids, name or params.lookup_name,
                        max_norm or params.max_norm, False, True, params)
    return (out, params) if return_trainable else out
  params = _variable(params, "params")
  return _dense_lookup(params, ids, name or "embedding_lookup", max_norm,
                       return_trainable, dedup=False)


@run_as_is
def embedding_lookup_unique(params,
                            ids,
                            partition_strategy=None,
                            name=None,
                            validate_indices=None,
                            max_norm=None,
                            return_trainable=False):
  """`embedding_lookup` that touches the tables once per distinct id.

  Faster than `embedding_lookup` for batches with many repeated ids (e.g.
  Zipf-distributed features); `max_norm` applies to each distinct row.
  Arguments and results are those of `embedding_lookup`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1)
    >>> var.upsert([5], [[3.0]])
    >>> de.embedding_lookup_unique(var, [5, 5, 6], max_norm=2.0).numpy().tolist()
    [[2.0], [2.0], [0.0]]
  """
  del partition_strategy, validate_indices
  params = _variable(params, "params")
  return _dense_lookup(params, ids, name or "embedding_lookup_unique",
                       max_norm, return_trainable, dedup=True)


def _sparse(arg, value):
  if isinstance(value, tf.RaggedTensor):
    return value.to_sparse()
  if not isinstance(value, tf.SparseTensor):
    raise v.invalid(f"{arg}: must be a tf.SparseTensor or tf.RaggedTensor, "
                    f"got {type(value).__name__}")
  return value


def _check_combiner(combiner):
  if combiner is None:
    return "mean"
  if combiner not in COMBINERS:
    raise v.invalid(f"combiner: must be one of {COMBINERS}, got {combiner!r}")
  return combiner


def _weights_for(sp_ids, sp_weights, arg):
  """Validates that `sp_weights` pairs one float weight with each id."""
  if sp_weights is None:
    return None
  sp_weights = _sparse(arg, sp_weights)
  if not sp_weights.dtype.is_floating:
    raise v.invalid(f"{arg}: weights must be floating point, got "
                    f"{sp_weights.dtype.name}")
  for part in ("values", "indices", "dense_shape"):
    ids_shape = getattr(sp_ids, part).shape
    w_shape = getattr(sp_weights, part).shape
    if not ids_shape.is_compatible_with(w_shape):
      raise v.invalid(f"{arg}: {part} shape {w_shape} differs from the ids' "
                      f"{ids_shape}")
  if not sp_weights.values.shape.is_fully_defined() or \
      not sp_ids.values.shape.is_fully_defined():
    check = tf.debugging.assert_equal(
        tf.shape(sp_weights.values), tf.shape(sp_ids.values),
        message=f"{arg}: must hold one weight per id")
    with tf.control_dependencies([check]):
      sp_weights = tf.SparseTensor(sp_weights.indices,
                                   tf.identity(sp_weights.values),
                                   sp_weights.dense_shape)
  return sp_weights


def _combine(rows, idx, segment_ids, num_rows, weights, combiner):
  """Combines `rows[idx]` per segment exactly as TF's sparse lookup does,
  but always returning `num_rows` rows (trailing empty rows are zeros)."""
  if weights is None:
    reduce = {"sum": tf.sparse.segment_sum, "mean": tf.sparse.segment_mean,
              "sqrtn": tf.sparse.segment_sqrt_n}[combiner]
    return reduce(rows, idx, segment_ids, num_segments=num_rows)
  segment_ids = tf.cast(segment_ids, tf.int32)
  embeddings = _gather_rows(rows, idx)
  original_dtype = embeddings.dtype
  if original_dtype in (tf.float16, tf.bfloat16):
    embeddings = tf.cast(embeddings, tf.float32)
  weights = tf.cast(weights, embeddings.dtype)[:, None]
  embeddings *= weights
  total = tf.math.unsorted_segment_sum(embeddings, segment_ids, num_rows)
  if combiner == "mean":
    total = tf.math.divide_no_nan(
        total, tf.math.unsorted_segment_sum(weights, segment_ids, num_rows))
  elif combiner == "sqrtn":
    total = tf.math.divide_no_nan(total, tf.sqrt(
        tf.math.unsorted_segment_sum(tf.pow(weights, 2), segment_ids,
                                     num_rows)))
  return tf.cast(total, original_dtype)


@run_as_is
def embedding_lookup_sparse(params,
                            sp_ids,
                            sp_weights,
                            partition_strategy=None,
                            name="embedding_lookup_sparse",
                            combiner="mean",
                            max_norm=None,
                            return_trainable=False):
  """Combined embeddings of sparse ids, like `tf.nn.embedding_lookup_sparse`.

  Row i of the result combines the rows of the ids in row i of `sp_ids`
  (weighted by `sp_weights`). Unlike TensorFlow, the result always has
  `sp_ids.dense_shape[0]` rows: trailing rows without ids are zeros instead
  of missing.

  Args:
    params: A `de.Variable`.
    sp_ids: `[N, M]` `tf.SparseTensor` (canonical order) or 2-D
      `tf.RaggedTensor` of ids.
    sp_weights: None (all weights 1) or weights with the same indices.
    partition_strategy: Ignored.
    name: Lookup name (also names the wrapper).
    combiner: "mean", "sqrtn" or "sum".
    max_norm: If set, rows with a larger L2 norm are scaled down to it.
    return_trainable: Also return the `de.TrainableWrapper`.

  Returns:
    `[N, dim]` combined rows (and the wrapper if `return_trainable`).

  Raises:
    tf.errors.InvalidArgumentError: unknown combiner, non-sparse inputs,
      ids of another dtype, weights whose shape differs from the ids.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1)
    >>> var.upsert([1, 2], [[1.0], [3.0]])
    >>> ids = tf.ragged.constant([[1, 2], [2]], dtype=tf.int64)
    >>> de.embedding_lookup_sparse(var, ids, None).numpy().tolist()
    [[2.0], [3.0]]
  """
  del partition_strategy
  params = _variable(params, "params")
  combiner = _check_combiner(combiner)
  sp_ids = _sparse("sp_ids", sp_ids)
  if sp_ids.dense_shape.shape.is_fully_defined() and \
      sp_ids.dense_shape.shape[0] != 2:
    raise v.invalid(f"sp_ids: must be 2-D, got rank "
                    f"{sp_ids.dense_shape.shape[0]} (safe_embedding_lookup_"
                    f"sparse accepts higher ranks)")
  ids = v.to_tensor("sp_ids", sp_ids.values, params.key_dtype)
  sp_weights = _weights_for(sp_ids, sp_weights, "sp_weights")
  name = name or "embedding_lookup_sparse"
  with tf.name_scope(name):
    rows, idx, wrapper = _unique_rows(params, ids, name, max_norm,
                                      with_wrapper=return_trainable)
    out = _combine(rows, idx, sp_ids.indices[:, 0], sp_ids.dense_shape[0],
                   None if sp_weights is None else sp_weights.values,
                   combiner)
    out.set_shape([tf.get_static_value(sp_ids.dense_shape[0]), params.dim])
  return (out, wrapper) if return_trainable else out


@run_as_is
def safe_embedding_lookup_sparse(embedding_weights,
                                 sparse_ids,
                                 sparse_weights=None,
                                 combiner="mean",
                                 default_id=None,
                                 name="safe_embedding_lookup_sparse",
                                 partition_strategy=None,
                                 max_norm=None,
                                 return_trainable=False):
  """`embedding_lookup_sparse` for ids of any rank, with empty rows handled.

  Like `tf.nn.safe_embedding_lookup_sparse`: `sparse_ids` of shape
  `[d0, ..., dn, M]` gives `[d0, ..., dn, dim]`; for combiners other than
  "sum", ids with weight <= 0 are dropped; rows without ids get the row of
  `default_id`, or zeros when `default_id` is None. Every id is a valid key
  (negative ids are not dropped, unlike TensorFlow's vocabulary indices).

  Args:
    embedding_weights: A `de.Variable`.
    sparse_ids: `tf.SparseTensor` or `tf.RaggedTensor` of ids.
    sparse_weights: None or weights with the same indices.
    combiner: "mean", "sqrtn" or "sum".
    default_id: Id whose row fills empty rows, or None for zeros.
    name: Lookup name (also names the wrapper).
    partition_strategy: Ignored.
    max_norm: If set, rows with a larger L2 norm are scaled down to it.
    return_trainable: Also return the `de.TrainableWrapper`.

  Returns:
    Combined rows of shape `sparse_ids.dense_shape[:-1] + [dim]`.

  Raises:
    tf.errors.InvalidArgumentError: as for `embedding_lookup_sparse`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1, initializer=1.0)
    >>> ids = tf.ragged.constant([[4], []], dtype=tf.int64)
    >>> de.safe_embedding_lookup_sparse(var, ids).numpy().tolist()
    [[1.0], [0.0]]
  """
  del partition_strategy
  params = _variable(embedding_weights, "embedding_weights")
  combiner = _check_combiner(combiner)
  sparse_ids = _sparse("sparse_ids", sparse_ids)
  v.to_tensor("sparse_ids", sparse_ids.values, params.key_dtype)
  sparse_weights = _weights_for(sparse_ids, sparse_weights, "sparse_weights")
  name = name or "safe_embedding_lookup_sparse"
  with tf.name_scope(name):
    original_shape = sparse_ids.dense_shape
    flat_shape = tf.stack([tf.reduce_prod(original_shape[:-1]),
                           original_shape[-1]])
    sparse_ids = tf.sparse.reshape(sparse_ids, flat_shape)
    if sparse_weights is not None:
      sparse_weights = tf.SparseTensor(sparse_ids.indices,
                                       sparse_weights.values,
                                       sparse_ids.dense_shape)
      if combiner != "sum":
        keep = sparse_weights.values > 0
        sparse_ids = tf.sparse.retain(sparse_ids, keep)
        sparse_weights = tf.sparse.retain(sparse_weights, keep)
    filler = default_id if default_id is not None else (
        b"" if params.key_dtype == tf.string else 0)
    sparse_ids, is_row_empty = tf.sparse.fill_empty_rows(
        sparse_ids, v.to_tensor("default_id", filler, params.key_dtype))
    if sparse_weights is not None:
      sparse_weights, _ = tf.sparse.fill_empty_rows(
          sparse_weights, tf.cast(1.0, sparse_weights.dtype))
    result = embedding_lookup_sparse(
        params, sparse_ids, sparse_weights, name=name, combiner=combiner,
        max_norm=max_norm, return_trainable=return_trainable)
    wrapper = None
    if return_trainable:
      result, wrapper = result
    if default_id is None:
      result = tf.where(is_row_empty[:, None], tf.zeros_like(result), result)
    out_shape = tf.concat(
        [tf.cast(original_shape[:-1], tf.int32), [params.dim]], 0)
    result = tf.reshape(result, out_shape)
    result.set_shape(_leading_shape(original_shape).concatenate([params.dim]))
  return (result, wrapper) if return_trainable else result


def _leading_shape(dense_shape):
  """Static `dense_shape[:-1]` as far as it is known."""
  known = tf.get_static_value(dense_shape)
  if known is not None:
    return tf.TensorShape([int(d) for d in known[:-1]])
  rank = tf.compat.dimension_value(dense_shape.shape[0])
  return tf.TensorShape(None if rank is None else [None] * (rank - 1))
