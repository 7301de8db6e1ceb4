"""`TrainableWrapper`: the variable through which gradients reach a table.

A hash table is not a `tf.Variable`, so `tf.GradientTape` cannot
differentiate with respect to it. A lookup therefore copies the rows it
needs into a small trainable variable, the wrapper, and routes the output's
gradient to it. Layout, for a lookup of flat ids `x`:

    unique_ids, idx = unique(x)          # each id once, in first-seen order
    rows     = table rows of unique_ids  # shape [len(unique_ids), dim]
    wrapper  <- rows;  wrapper.ids <- unique_ids
    output   = rows[idx]                 # shape [len(x), dim]

The output's values come from the call's own table read (`rows`), never
from the wrapper variable, which other calls with the same lookup name may
be overwriting at the same moment (serving threads); only the gradient
travels through the wrapper.

The gradient with respect to the wrapper is a dense `[len(unique_ids), dim]`
tensor: row i is the sum of the output gradients of every position holding
`unique_ids[i]`, i.e. duplicate ids accumulate exactly as they do for
`tf.nn.embedding_lookup` on a dense variable (densified). An optimizer
updates the wrapper and writes it back with `update_op()`.

Computing that gradient loads the call's ids and rows into the wrapper
again: another call with the same lookup name made after this one's forward
pass (a metric's lookup inside a tf.data map, an evaluation step) may have
overwritten the wrapper, and the optimizer must update the rows the gradient
belongs to.

One wrapper exists per (variable, lookup name): it is created once, outside
any `tf.function` (so functions may retrace, and an eager loop of lookups
creates no variables), and reassigned by every lookup with that name.

Two lookups of one variable in one training step need no distinct names
(TFRA requires them):

* the same name (or the default name): both calls join the wrapper's call
  group (call_groups.py). The wrapper holds the union of their distinct
  ids, each call's gradient lands at its ids' positions in it, and the
  tape sums them: an id in both lookups gets both gradients, as a dense
  variable's row does;
* different names: two wrappers of one variable. `de.DynamicEmbeddingOptimizer`
  merges the wrappers of one variable that one `apply_gradients` call
  receives into one update of their union (optimizers/merge.py), so again
  an id in both gets the summed gradient (and a stateful optimizer one
  step), not one write per wrapper.
"""

import contextlib

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import call_groups
from tensorflow_recommenders_addons.utils.autograph import run_as_is
from tensorflow_recommenders_addons.utils.tf_internal import ResourceVariable


class _PlainConstruction(type(ResourceVariable)):
  """Constructs subclasses like ordinary classes.

  `tf.Variable`'s metaclass first binds constructor arguments to
  `tf.Variable`'s own signature (`initial_value`, `trainable`, ...), which
  breaks positional calls such as `ShadowVariable(var, "name",
  trainable=False)`; our wrappers have their own signatures.
  """

  def __call__(cls, *args, **kwargs):
    return type.__call__(cls, *args, **kwargs)


@run_as_is
class TrainableWrapper(ResourceVariable, metaclass=_PlainConstruction):
  """A trainable variable holding the rows of one lookup of a `de.Variable`.

  Returned by the lookup functions when `return_trainable=True`; users do
  not construct it. Its value has shape `[n, dim]` for the `n` distinct ids
  of the latest lookup (`ids`), in first-seen order.

  Args:
    params: The `de.Variable` looked up.
    name: Lookup name this wrapper serves.
    max_norm: The lookup's `max_norm` (recorded for optimizers).
    trainable: Whether the tape and optimizers see it.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=2, initializer=1.0)
    >>> with tf.GradientTape() as tape:
    ...   out, tw = de.embedding_lookup(var, [3, 4, 3], return_trainable=True)
    ...   loss = tf.reduce_sum(out)
    >>> tw.ids.numpy().tolist(), tape.gradient(loss, tw).numpy().tolist()
    ([3, 4], [[2.0, 2.0], [1.0, 1.0]])
  """

  def __init__(self, params, name, max_norm=None, trainable=True):
    self.params = params
    self.max_norm = max_norm
    self.lookup_name = name
    self._calls = call_groups.Groups()
    var_name = _variable_name(f"{params.name}/TrainableWrapper_{name}")
    with tf.init_scope():
      initial_rows = tf.zeros([0, params.dim], params.value_dtype)
      with _worker_local(initial_rows):
        super().__init__(
            initial_value=initial_rows,
            shape=tf.TensorShape([None, params.dim]),
            dtype=params.value_dtype,
            trainable=trainable,
            collections=_COLLECTIONS,
            name=var_name)
        # Built directly (not through tf.Variable) like the wrapper itself:
        # under a tf.distribute strategy both stay single variables that
        # every replica's gradient writes the same global ids into.
        self._ids = ResourceVariable(
            initial_value=tf.zeros([0], params.key_dtype),
            shape=tf.TensorShape([None]), trainable=False,
            collections=_COLLECTIONS,
            name=var_name + "_ids")
    params._register_trainable(name, self)  # pylint: disable=protected-access

  @property
  def ids(self):
    """The distinct ids whose rows the wrapper holds (a variable)."""
    return self._ids

  def assign_rows(self, unique_ids, rows):
    """Loads `rows` (for `unique_ids`) and returns the wrapper's value.

    The returned tensor is read after the assignment and recorded on any
    active gradient tape, so gradients flow to this wrapper.
    """
    with tf.control_dependencies(self.load(unique_ids, rows)):
      return self.value()

  def load(self, unique_ids, rows):
    """Assigns `unique_ids` and their `rows`; returns the assign ops (an
    empty list when executing eagerly)."""
    updates = [self._ids.assign(unique_ids, read_value=False),
               self.assign(rows, read_value=False)]
    return [op for op in updates if op is not None]

  def route(self, unique_ids, rows):
    """Loads `rows` (of `unique_ids`) and returns this call's `rows`, whose
    gradient goes to the wrapper.

    The call joins the wrapper's group of this step (call_groups.py): the
    wrapper holds the union of the group's ids, and this call's gradient is
    placed at its ids' positions in it.
    The output values come from the call's own table read, never from the
    shared wrapper variable, so concurrent calls (serving threads) cannot
    see each other's rows; the wrapper read only connects the gradient tape.
    The gradient reloads the group's ids and rows before it is used: any
    other call with the same wrapper since this forward pass (e.g. a lookup
    inside a tf.data map computing a metric in the same step) has
    overwritten them, and the optimizer must update the group's rows.
    """
    group, positions, lease = self._calls.join(unique_ids, rows)

    @tf.custom_gradient
    def route(rows, wrapper_rows):
      del wrapper_rows

      def grad(dy):
        lease.release()
        gradient = group.gradient(dy, positions)
        with tf.control_dependencies(self.load(group.ids, group.rows)):
          return None, tf.identity(gradient)
      return tf.identity(rows), grad

    return route(rows, self.assign_rows(group.ids, group.rows))

  def update_op(self, v0=None, name=None):
    """Writes the wrapper's rows back into the table.

    Call after changing the wrapper (e.g. an optimizer step) to persist the
    new rows under their ids.

    Args:
      v0: The rows before the change (TFRA's `bp_v2` argument). When given,
        rows the table holds receive the difference `value - v0`
        (`de.Variable.accum`), so several trainers' updates add up; without
        it the rows are overwritten (an upsert).
      name: Optional op name.

    Returns:
      The write op (None when executing eagerly).

    Example:
      >>> import tensorflow as tf
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1, initializer=1.0)
      >>> _, tw = de.embedding_lookup(var, [4], return_trainable=True)
      >>> tw.assign_add([[2.0]]).numpy().tolist()
      [[3.0]]
      >>> tw.update_op()
      >>> var.lookup([4]).numpy().tolist()
      [[3.0]]
    """
    ids, rows = self._ids.value(), self.value()
    if v0 is None:
      return self.params.upsert(ids, rows, name=name)
    _, exists = self.params.lookup(ids, return_exists=True)
    return self.params.accum(ids, v0, rows, exists, name=name)

  def prefetch_values(self, update=False):
    """The rows of the wrapper's ids as the table holds them now.

    Args:
      update: Accepted for TFRA compatibility (TFRA caches the read op
        unless it is set); the rows are read at every call here.

    Returns:
      `[len(ids), dim]` rows, clipped to the lookup's `max_norm`.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> _, tw = de.embedding_lookup(var, [4], return_trainable=True)
      >>> var.upsert([4], [[5.0]])
      >>> tw.prefetch_values().numpy().tolist()
      [[5.0]]
    """
    del update
    return self.transform(self.params.lookup(self._ids.value()))

  def size(self):
    """The number of rows of the variable (`params.size()`), as in TFRA.

    Returns:
      A scalar int64 tensor.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> var.upsert([1, 2], [[1.0], [2.0]])
      >>> _, tw = de.embedding_lookup(var, [1], return_trainable=True)
      >>> int(tw.size())
      2
    """
    return self.params.size()

  def transform(self, result):
    """`result` rows (last axis `dim`) clipped to the lookup's `max_norm`.

    Args:
      result: Rows of shape `[..., dim]`.

    Returns:
      The rows, rescaled where their L2 norm exceeds `max_norm` (as is when
      `max_norm` is None).

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=2)
      >>> _, tw = de.embedding_lookup(var, [1], max_norm=1.0,
      ...                             return_trainable=True)
      >>> tw.transform([[3.0, 4.0]]).numpy().tolist()
      [[0.6000000238418579, 0.800000011920929]]
    """
    result = tf.convert_to_tensor(result, self.dtype)
    if self.max_norm is None:
      return result
    return tf.clip_by_norm(result, self.max_norm, axes=[-1])


# TF1 graphs: wrappers are LOCAL variables (trainable ones are also in
# TRAINABLE_VARIABLES, so v1 optimizers find them). They hold only the
# current batch's rows of one worker, so every session initialises its own
# (the Scaffold's local_init_op) and no Saver stores them: a non-chief
# worker never waits for the chief to initialise them, and a checkpoint
# holds the rows once, in the tables. (Ignored when executing eagerly.)
_COLLECTIONS = (tf.compat.v1.GraphKeys.LOCAL_VARIABLES,)


def _worker_local(anchor):
  """TF1 graphs: places the wrapper where `anchor` (an op built in the
  caller's device scope) runs, i.e. on the worker doing the lookup, not on a
  parameter server that `tf.compat.v1.train.replica_device_setter` would pick
  for variables: each worker's wrapper is its own, as its batch is. A no-op
  when executing eagerly."""
  if tf.executing_eagerly():
    return contextlib.nullcontext()
  scope = contextlib.ExitStack()
  scope.enter_context(tf.compat.v1.device(None))  # drops device functions
  scope.enter_context(tf.device(anchor.device))
  return scope


def _variable_name(name):
  """A valid variable name: TF names allow [A-Za-z0-9_.\\-/] only."""
  cleaned = "".join(c if c.isalnum() or c in "_.-/" else "_" for c in name)
  return cleaned.strip("/") or "TrainableWrapper"
