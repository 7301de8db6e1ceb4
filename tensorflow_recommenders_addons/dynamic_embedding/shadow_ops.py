"""`de.shadow_ops`: a persistent trainable view of a `de.Variable`.

A `ShadowVariable` is a `TrainableWrapper` the user creates (typically in a
Keras layer's constructor or a `tf.Module`), so it is tracked and reused by
every call; `shadow_ops.embedding_lookup(shadow, ids)` loads the rows of
`ids` into it and returns their embeddings, with gradients that reach the
shadow exactly as for `de.embedding_lookup(..., return_trainable=True)`.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import lookup as _lookup
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable
from tensorflow_recommenders_addons.utils.autograph import run_as_is


@run_as_is
class ShadowVariable(TrainableWrapper):
  """A trainable wrapper bound to a `de.Variable` for eager / Keras use.

  Args:
    params: The `de.Variable` to shadow.
    name: Name of the shadow (and of its lookup).
    max_norm: If set, looked-up rows with a larger L2 norm are scaled down.
    trainable: Whether the tape and optimizers see it.
    distribute_strategy: Accepted for TFRA compatibility; the shadow is an
      ordinary variable of the strategy in scope.
    **kwargs: Accepted and ignored (TFRA compatibility).

  Raises:
    tf.errors.InvalidArgumentError: `params` is not a `de.Variable`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1, initializer=2.0)
    >>> shadow = de.shadow_ops.ShadowVariable(var, name="user_emb")
    >>> with tf.GradientTape() as tape:
    ...   loss = tf.reduce_sum(de.shadow_ops.embedding_lookup(shadow, [7, 7]))
    >>> tape.gradient(loss, shadow).numpy().tolist()
    [[2.0]]
  """

  def __init__(self, params, name="ShadowVariable", max_norm=None,
               trainable=True, distribute_strategy=None, **kwargs):
    del distribute_strategy, kwargs
    if not isinstance(params, Variable):
      raise v.invalid(f"params: must be a de.Variable, got "
                      f"{type(params).__name__}")
    super().__init__(params, name, max_norm=max_norm, trainable=trainable)

  def embedding_lookup(self, ids, name=None, max_norm=None):
    """`de.shadow_ops.embedding_lookup(self, ids, name=name)`, rows clipped
    to `max_norm` (default: the shadow's).

    Args:
      ids: Ids of any shape (or ragged), of the variable's key dtype.
      name: Optional name scope (defaults to the shadow's name).
      max_norm: If set, rows with a larger L2 norm are scaled down to it.

    Returns:
      The embeddings, `ids.shape + [dim]`; gradients flow to the shadow.

    Raises:
      tf.errors.InvalidArgumentError: ids of another dtype.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> shadow = de.shadow_ops.ShadowVariable(de.Variable(dim=2,
      ...                                                   initializer=1.0))
      >>> shadow.embedding_lookup([3]).numpy().tolist()
      [[1.0, 1.0]]
    """
    return _lookup.embedding_lookup(self, ids, name=name, max_norm=max_norm)

  def value(self, do_prefetch=False):
    """The shadow's rows; with `do_prefetch`, first reloaded from the table
    for the current ids (`prefetch_values()`).

    Args:
      do_prefetch: Reload the rows of the current ids before reading.

    Returns:
      `[len(ids), dim]` rows.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> shadow = de.shadow_ops.ShadowVariable(var)
      >>> _ = shadow.embedding_lookup([2])
      >>> var.upsert([2], [[7.0]])
      >>> shadow.value().numpy().tolist(), shadow.value(True).numpy().tolist()
      ([[0.0]], [[7.0]])
    """
    if not do_prefetch:
      return super().value()
    assign = self.assign(self.prefetch_values(), read_value=False)
    with tf.control_dependencies([] if assign is None else [assign]):
      return super().value()


@run_as_is
def embedding_lookup(shadow, ids, partition_strategy=None, name=None,
                     validate_indices=None):
  """Looks up `ids` through `shadow`; output `ids.shape + [dim]`.

  Args:
    shadow: A `ShadowVariable`.
    ids: Ids of any shape (or ragged), of the variable's key dtype.
    partition_strategy: Ignored.
    name: Optional name scope (defaults to the shadow's name).
    validate_indices: Ignored.

  Returns:
    The embeddings; gradients flow to `shadow`.

  Raises:
    tf.errors.InvalidArgumentError: `shadow` is not a `TrainableWrapper`,
      or ids of another dtype.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=2)
    >>> shadow = de.shadow_ops.ShadowVariable(var)
    >>> de.shadow_ops.embedding_lookup(shadow, [[1], [2]]).shape.as_list()
    [2, 1, 2]
  """
  del partition_strategy, validate_indices
  if not isinstance(shadow, TrainableWrapper):
    raise v.invalid(f"shadow: must be a de.shadow_ops.ShadowVariable, got "
                    f"{type(shadow).__name__}")
  return _lookup.embedding_lookup(shadow, ids, name=name)


@run_as_is
def embedding_lookup_unique(shadow, ids, embedding_size, with_unique=True,
                            name=None):
  """Looks up `ids` through `shadow`, each distinct id read once (TFRA's
  lookup of the Keras layers); output `ids.shape + [embedding_size]`.

  Args:
    shadow: A `ShadowVariable`.
    ids: Ids of any shape, of the variable's key dtype.
    embedding_size: The variable's `dim` (checked).
    with_unique: Accepted for TFRA compatibility: ids are always
      deduplicated before the table read.
    name: Optional name scope.

  Returns:
    The embeddings; gradients flow to `shadow`.

  Raises:
    tf.errors.InvalidArgumentError: `shadow` is not a `TrainableWrapper`,
      `embedding_size` is not its `dim`, or ids of another dtype.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> shadow = de.shadow_ops.ShadowVariable(de.Variable(dim=2))
    >>> de.shadow_ops.embedding_lookup_unique(shadow, [[1, 1]], 2).shape
    TensorShape([1, 2, 2])
  """
  del with_unique
  if isinstance(shadow, TrainableWrapper) and \
      embedding_size != shadow.params.dim:
    raise v.invalid(f"embedding_size: the shadowed variable has dim "
                    f"{shadow.params.dim}, got {embedding_size!r}")
  return embedding_lookup(shadow, ids, name=name)
