"""`de.shadow_ops`: a persistent trainable view of a `de.Variable`.

A `ShadowVariable` is a `TrainableWrapper` the user creates (typically in a
Keras layer's constructor or a `tf.Module`), so it is tracked and reused by
every call; `shadow_ops.embedding_lookup(shadow, ids)` loads the rows of
`ids` into it and returns their embeddings, with gradients that reach the
shadow exactly as for `de.embedding_lookup(..., return_trainable=True)`.
"""

from tensorflow_recommenders_addons.dynamic_embedding import lookup as _lookup
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable


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
