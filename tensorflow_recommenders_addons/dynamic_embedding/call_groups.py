"""Call groups: the lookups through one wrapper (or row buffer) whose
gradients one optimizer step applies together.

A `de.Variable` looked up twice in one training step (two
`de.embedding_lookup` calls with one name, or a layer called on history
and candidate ids) trains through one variable: a `TrainableWrapper` of
dynamic shape, or a Keras row buffer of fixed shape. The tape adds up the
gradients of every read of that variable, so every call's gradient must
describe the same rows. The calls of one step therefore form a *group*
whose wrapper holds the union of their distinct ids (first-seen order, so
a call's positions never move when a later call adds ids):

    call 1:  union = u1                    positions1 = 0..len(u1)-1
    call 2:  union = unique(union ++ u2)   positions2 = where u2 sits in it
    gradient of call k = its rows' gradient scattered to positions_k,
                         [len(union), dim]; the tape sums them, so an id in
                         both calls gets both gradients, as a dense
                         variable's row does

Each call's gradient also loads the group's ids and rows into the wrapper
(another lookup may have overwritten it since), so the optimizer updates
the union's rows once, with the summed gradient: SGD and stateful
optimizers (Adam, Adagrad) match a dense variable exactly.

Which calls share a group (one group per wrapper and step):

  eager       calls made while a `tf.GradientTape` is recording join the
              wrapper's open group; the group ends when its gradient is
              computed or when no tape holds any of its calls any more
              (so an eager evaluation loop, with or without a tape, never
              grows a union across steps). Calls no tape records (a
              lookup between the forward pass and the gradient, an
              evaluation step) form a group of their own.
  function    calls traced into one `tf.function` graph while a tape
              records join one group, which ends when a gradient of it is
              built (a function running several steps in a row starts a
              group per step). Other graphs (a tf.data map computing a
              metric, another function) have their own groups.
  TF1 graph   every call in the graph may be differentiated
              (`tf.gradients`): all join the graph's group.

A call that joins no group behaves as a group of one. A single call per
step adds no operation to the lookup.
"""

import weakref

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.unique import unique as _unique
from tensorflow_recommenders_addons.utils.tf_internal import could_possibly_record

# Attribute of a graph holding its `{(Groups, replica): CallGroup}`: the
# groups live and die with the graph whose tensors they hold (a weak-keyed
# dict would keep it alive: the groups reference it). Not a graph
# collection: `export_meta_graph` (every Saver/MonitoredTrainingSession
# checkpoint) would warn that it cannot serialise one, and nested graphs
# (a function traced inside another) copy the collections but not this.
_ATTRIBUTE = "_tfra_dynamic_embedding_call_groups"


class _Lease:
  """Held by a call's gradient function: while a tape keeps it, the call's
  eager group stays open."""

  def release(self):
    """Marks the gradient as computed (the group closes with it)."""


class CallGroup:
  """The calls of one step through one wrapper: their union of ids and rows.

  Attributes:
    ids: `[n]` distinct ids of every call so far (first-seen order).
    rows: `[n, dim]` their rows as the calls read them.
    calls: Number of calls.
  """

  def __init__(self):
    self.ids = None
    self.rows = None
    self.calls = 0
    self.closed = False
    self._leases = weakref.WeakSet()

  def add(self, unique_ids, rows):
    """Adds one call's distinct ids and rows.

    Returns:
      `(positions, lease)`: where the call's ids sit in the union (None for
      the first call: `0..len(unique_ids)-1`), and the lease its gradient
      function holds.
    """
    self.calls += 1
    lease = _Lease()
    self._leases.add(lease)
    if self.ids is None:
      self.ids, self.rows = unique_ids, rows
      return None, lease
    known = tf.shape(self.ids)[0]
    union, idx = _unique(tf.concat([self.ids, unique_ids], 0))
    # The first occurrence of each union id: an old id keeps its row, a new
    # one takes this call's row.
    first = tf.math.unsorted_segment_min(tf.range(tf.shape(idx)[0]), idx,
                                         tf.shape(union)[0])
    self.rows = tf.gather(tf.concat([self.rows, rows], 0), first)
    self.ids = union
    return idx[known:], lease

  def open_in_eager(self):
    """Whether a later eager call may still join: no gradient yet, and a
    tape still holds one of the calls."""
    return not self.closed and len(self._leases) > 0

  def gradient(self, dy, positions, size=None):
    """One call's row gradient `dy` (`[u, dim]`) placed at its positions in
    a `[size, dim]` gradient (`size`: the union's length by default).

    Closes the group: later calls start a new one.
    """
    self.closed = True
    dy = tf.convert_to_tensor(dy)
    if size is None:
      if self.calls == 1:
        return dy
      size = tf.shape(self.ids)[0]
    if positions is None:
      return tf.pad(dy, [[0, size - tf.shape(dy)[0]], [0, 0]])
    return tf.math.unsorted_segment_sum(dy, positions, size)


class Groups:
  """The open call groups of one wrapper or row buffer (module docstring)."""

  def __init__(self):
    self._eager = None

  def join(self, unique_ids, rows):
    """Adds a call to the group it belongs to.

    Returns:
      `(group, positions, lease)`, see `CallGroup.add`.
    """
    group = self._group()
    positions, lease = group.add(unique_ids, rows)
    return group, positions, lease

  def _group(self):
    if tf.executing_eagerly():
      if not could_possibly_record():
        return CallGroup()
      if self._eager is None or not self._eager.open_in_eager():
        self._eager = CallGroup()
      return self._eager
    if tf.inside_function() and not could_possibly_record():
      return CallGroup()
    graph = tf.compat.v1.get_default_graph()
    groups = getattr(graph, _ATTRIBUTE, None)
    if groups is None:
      groups = {}
      setattr(graph, _ATTRIBUTE, groups)
    # Replicas of a tf.distribute strategy trace into one graph; each has
    # its own group (their gradients gather each other's ids, row_buffer.py).
    ctx = tf.distribute.get_replica_context()
    key = (self, id(ctx) if ctx is not None and ctx.num_replicas_in_sync > 1
           else None)
    group = groups.get(key)
    if group is None or group.closed:
      group = groups[key] = CallGroup()
    return group
