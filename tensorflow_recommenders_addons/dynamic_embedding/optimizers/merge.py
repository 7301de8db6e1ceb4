"""One update per `de.Variable` when several of its wrappers train together.

Lookups of one variable under different names (or a layer's shadow and a
`de.embedding_lookup` of its table) train through different wrappers. Each
wrapper's update alone would read the rows as the lookups saw them and
write them back, so for an id in two wrappers the second write would undo
the first (and a stateful optimizer would take two steps with two halves
of the gradient). A dense variable instead gets one gradient, the sum.

`merge_wrappers` gives the same result: before the optimizer runs, the
wrappers of one variable in one `apply_gradients` call are merged into the
first of them, which gets the union of their ids (first-seen order), their
rows and the sum of their gradients per id; the others get no rows and an
empty gradient (they stay in the list, so the optimizer builds and keeps
their slots as before and trains nothing through them). A wrapper listed
twice is trained once: the tape already gives a variable its whole
gradient.

Every optimizer family that trains wrappers calls it first, on its list of
`(gradient, variable)` pairs.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import settings
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.unique import unique as _unique


def prepare(grads_and_vars, synchronous, keep_merged=True):
  """What every optimizer family does first in `apply_gradients`: one
  update per `de.Variable` (`merge_wrappers`), then, with
  `synchronous=True`, the ordinary variables' gradients summed over
  Horovod workers (`settings.allreduce_dense`; wrappers stay local).

  Args:
    grads_and_vars: `(gradient, variable)` pairs.
    synchronous: The wrapper's `synchronous` setting.
    keep_merged: As in `merge_wrappers`.

  Returns:
    The list of `(gradient, variable)` pairs to apply.
  """
  grads_and_vars = merge_wrappers(grads_and_vars, keep_merged)
  if not synchronous:
    return grads_and_vars
  variables = [var for _, var in grads_and_vars]
  grads = settings.allreduce_dense([grad for grad, _ in grads_and_vars],
                                   variables,
                                   lambda var: isinstance(var,
                                                          TrainableWrapper))
  return list(zip(grads, variables))


def merge_wrappers(grads_and_vars, keep_merged=True):
  """Merges the wrappers of each `de.Variable` (module docstring).

  Args:
    grads_and_vars: `(gradient, variable)` pairs; other variables and None
      gradients pass through unchanged.
    keep_merged: Whether the wrappers merged into another stay in the list
      (with no rows and an empty gradient), for Keras optimizers that build
      their state per variable; TF1 optimizers leave them out (in a TF1
      graph nothing would order their emptying before their update).

  Returns:
    The pairs, with one merged wrapper per variable and duplicates dropped.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.optimizers.merge import merge_wrappers
    >>> var = de.Variable(dim=1, initializer=1.0)
    >>> with tf.GradientTape() as tape:
    ...   a, wa = de.embedding_lookup(var, [1, 2], name="a", return_trainable=True)
    ...   b, wb = de.embedding_lookup(var, [2, 3], name="b", return_trainable=True)
    ...   loss = tf.reduce_sum(a) + tf.reduce_sum(b)
    >>> pairs = merge_wrappers(zip(tape.gradient(loss, [wa, wb]), [wa, wb]))
    >>> wa.ids.numpy().tolist(), pairs[0][0].numpy().tolist()
    ([1, 2, 3], [[1.0], [2.0], [1.0]])
    >>> pairs[1][0].shape.as_list()
    [0, 1]
  """
  pairs, seen, by_params = [], set(), {}
  for grad, var in grads_and_vars:
    if isinstance(var, TrainableWrapper) and grad is not None:
      key = var._unique_id  # pylint: disable=protected-access
      if key in seen:
        continue
      seen.add(key)
      by_params.setdefault(id(var.params), []).append(len(pairs))
    pairs.append((grad, var))
  merged = set()
  for positions in by_params.values():
    if len(positions) > 1:
      _merge(pairs, positions, keep_merged)
      merged.update(positions[1:])
  if keep_merged:
    return pairs
  return [pair for i, pair in enumerate(pairs) if i not in merged]


def _merge(pairs, positions, keep_merged):
  """Merges `pairs[i]` for i in `positions` (wrappers of one variable)
  into the first of them; empties the others if `keep_merged`."""
  wrappers = [pairs[i][1] for i in positions]
  grads = tf.concat([tf.convert_to_tensor(pairs[i][0]) for i in positions],
                    0)
  # In a TF1 graph nothing orders a read after the lookups that filled the
  # wrappers but data: the gradients come after every forward lookup.
  with tf.control_dependencies([grads]):
    ids = tf.concat([w.ids.value() for w in wrappers], 0)
    rows = tf.concat([w.value() for w in wrappers], 0)
  union, idx = _unique(ids)
  # Not tf.shape(union): in a TF1 graph Grappler gives every value assigned
  # to a resource variable one shape, so with `union` loaded into the
  # wrapper below it would fold its length to that of the forward lookup's
  # ids. idx numbers the distinct ids 0..n-1 in first-seen order.
  size = tf.maximum(tf.reduce_max(idx) + 1, 0)
  first = tf.math.unsorted_segment_min(tf.range(tf.shape(idx)[0]), idx, size)
  lead = wrappers[0]
  loads = lead.load(union, tf.gather(rows, first))
  params = lead.params
  for w in wrappers[1:] if keep_merged else []:
    loads += w.load(tf.zeros([0], params.key_dtype),
                    tf.zeros([0, params.dim], w.dtype))
  with tf.control_dependencies(loads):
    pairs[positions[0]] = (tf.math.unsorted_segment_sum(grads, idx, size),
                           lead)
    for i, w in zip(positions[1:], wrappers[1:]):
      pairs[i] = (tf.zeros([0, params.dim], grads.dtype), w)
