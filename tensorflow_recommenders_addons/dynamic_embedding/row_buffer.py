"""Row buffers: fixed-shape weights through which gradients reach a
`de.Variable`.

Keras 3 variables must have a fully defined shape, and Keras 3 optimizers
create their slots from that shape when they are built; under a
multi-replica `tf.distribute` strategy every replica's gradient must also
have the same shape. A Keras 3 layer (and a tf_keras layer under such a
strategy) therefore owns a trainable weight of shape `[capacity, dim]` whose
position `i` stands for the i-th distinct id of the batch being trained:

    forward (any number of ids; no table or buffer write; any thread):
        unique, idx = unique(ids);  rows = table[unique];  out = rows[idx]
        the tape also records a read of the weight, which is where the
        gradient goes
    backward (the gradient function of one call):
        batch.ids <- unique;  batch rows <- rows   (`batch` holds both)
        d weight = [capacity, dim], dense: row i is the summed gradient of
        every position holding batch.ids[i] (duplicates merged exactly as a
        dense variable merges them); rows >= len(unique) are zero
    optimizer step (de.DynamicEmbeddingOptimizer, optimizers/buffers.py):
        weight[:u] <- batch rows;  slot[:u] <- slot_table[batch.ids]
        the optimizer's own update_step over the whole weight
        table[batch.ids] <- weight[:u];  slot_table[batch.ids] <- slot[:u]

Positions >= u hold stale rows; their gradient is zero and they are never
written back, so whatever the optimizer does to them is irrelevant.

A layer called several times in one training step (a shared embedding of
history and candidate ids) trains like a shared dense weight: the calls
form one call group (call_groups.py), the batch is the union of their
distinct ids, and each call's gradient lands at its ids' positions in it,
so an id in several calls gets the sum of their gradients. Each forward
pass sets a counter to the number of its group's calls and each gradient
function consumes one, so a gradient taken twice, or one gradient over
calls of two groups (calls before and after a gradient), fails instead of
silently mixing two batches' positions.

Under a `tf.distribute` strategy with several replicas, the gradient
function gathers every replica's distinct ids and rows, so that a position
means the same id on every replica; each replica places its own gradient
there, and the optimizer's all-reduce then sums the gradients of an id seen
by several replicas, exactly like duplicates within one batch.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import call_groups
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.unique import unique as _unique
from tensorflow_recommenders_addons.utils.tf_internal import ResourceVariable


def tf_variable(weight):
  """The tf.Variable of a Keras 3 weight (a tf_keras weight is one)."""
  value = getattr(type(weight), "value", None)
  return weight.value if isinstance(value, property) else weight


class RowBuffer:
  """Routes the gradient of a layer's lookups to its `[capacity, dim]`
  weight and records the ids it belongs to.

  Args:
    params: The layer's `de.Variable`.
    weight: The layer's trainable weight (Keras 3 or tf_keras),
      `[capacity, dim]`, created without autocasting (rows are read in the
      table's dtype).
    name: The layer name (names the batch state and errors).
  """

  def __init__(self, params, weight, name):
    self.params = params
    self.weight = weight
    self.capacity = int(weight.shape[0])
    self.layer_name = name
    # The ids and rows of the gradient being applied: a non-trainable
    # wrapper, i.e. two plain variables of dynamic shape.
    self.batch = TrainableWrapper(params, f"{name}-batch", trainable=False)
    self._calls = call_groups.Groups()
    with tf.init_scope():
      # The gradients the latest group's calls still owe (module docstring).
      self._fresh = ResourceVariable(
          initial_value=0, trainable=False, name=f"{name}-fresh")

  def route(self, unique_ids, rows):
    """Returns this call's `rows` (of `unique_ids`); their gradient becomes
    the weight's dense gradient, recorded with its ids (module docstring)."""
    group, positions, lease = self._calls.join(unique_ids, rows)
    if self._single_replica():
      mark = self._fresh.assign(group.calls, read_value=False)
      with tf.control_dependencies([] if mark is None else [mark]):
        rows = tf.identity(rows)

    @tf.custom_gradient
    def route(rows, weight_value):
      del weight_value

      def grad(dy):
        lease.release()
        return None, self._weight_gradient(group, positions, dy)
      return tf.identity(rows), grad

    return route(rows, self._read_weight())

  def _read_weight(self):
    """The weight's current value, read where the tape sees it.

    Resolved per call: a Keras 3 weight created while Keras builds a model
    symbolically (a subclassed model's first `fit` or `predict`) has a
    tensor, not a tf.Variable, as its value there."""
    value = tf_variable(self.weight)
    return value.value() if isinstance(value, tf.Variable) else value

  @staticmethod
  def _single_replica():
    ctx = tf.distribute.get_replica_context()
    return ctx is None or ctx.num_replicas_in_sync == 1

  def _weight_gradient(self, group, positions, dy):
    """Records the group's batch and returns one call's dense
    `[capacity, dim]` gradient."""
    dy = tf.convert_to_tensor(dy)
    unique_ids, rows = group.ids, group.rows
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      unique_ids, rows, global_positions = _gather_replicas(ctx, unique_ids,
                                                            rows)
      if positions is None:
        positions = tf.range(tf.shape(dy)[0])
      gradient = group.gradient(dy, tf.gather(global_positions, positions),
                                self.capacity)
      checks = [tf.debugging.Assert(
          tf.shape(unique_ids)[0] <= self.capacity,
          [f"ids: the replicas of layer {self.layer_name!r} together got "
           f"more distinct ids than max_unique_ids={self.capacity}; create "
           f"it with a larger max_unique_ids"])]
    else:
      count = tf.shape(unique_ids)[0]
      # Asserts on scalar conditions: 3 graph ops each, traced into every
      # train step (tf.debugging.assert_less_equal/assert_positive build ~12
      # for any shape).
      checks = [
          tf.debugging.Assert(
              count <= self.capacity,
              [f"ids: layer {self.layer_name!r} trained on more distinct ids "
               f"in one step than max_unique_ids={self.capacity} (the rows "
               f"of its buffer); create it with a larger max_unique_ids"]),
          tf.debugging.Assert(
              self._fresh.read_value() > 0,
              [f"layer {self.layer_name!r}: a second gradient in one "
               f"training step (the gradient was taken twice, or over calls "
               f"made before and after another gradient); take one "
               f"gradient of the step's calls"]),
      ]
      with tf.control_dependencies(checks):
        checks.append(self._fresh.assign_sub(1, read_value=False))
        gradient = group.gradient(dy, positions, self.capacity)
    with tf.control_dependencies([c for c in checks if c is not None]):
      loads = self.batch.load(unique_ids, rows)
    with tf.control_dependencies(loads):
      return tf.identity(gradient)


def _gather_replicas(ctx, unique_ids, rows):
  """Every replica's distinct ids, deduplicated in replica order.

  Returns:
    `(ids [g], rows [g, dim], positions [u])`: the global distinct ids and
    their rows (as the first replica holding each read it), and the global
    position of each of this replica's ids.
  """
  sizes = ctx.all_gather(tf.shape(unique_ids)[:1], axis=0)
  all_ids = (_all_gather_strings(ctx, unique_ids)
             if unique_ids.dtype == tf.string
             else ctx.all_gather(unique_ids, axis=0))
  all_rows = ctx.all_gather(rows, axis=0)
  global_ids, global_idx = _unique(all_ids)
  offset = tf.reduce_sum(sizes[:ctx.replica_id_in_sync_group])
  positions = global_idx[offset:offset + tf.shape(unique_ids)[0]]
  first = tf.math.unsorted_segment_min(
      tf.range(tf.shape(global_idx)[0]), global_idx,
      tf.shape(global_ids)[0])
  return global_ids, tf.gather(all_rows, first), positions


# Byte value -> the one-byte string, to rebuild gathered strings.
_BYTES = [bytes([i]) for i in range(256)]


def _all_gather_strings(ctx, strings):
  """`ctx.all_gather` for a 1-D string tensor (collectives move numbers
  only): each string travels as its bytes, zero-padded to the longest
  string of any replica, plus its length."""
  lengths = tf.strings.length(strings)
  all_lengths = ctx.all_gather(lengths, axis=0)
  width = tf.maximum(tf.reduce_max(all_lengths), 1)
  codes = tf.cast(tf.io.decode_raw(strings, tf.uint8, fixed_length=width),
                  tf.int32)
  all_codes = ctx.all_gather(codes, axis=0)
  chars = tf.gather(tf.constant(_BYTES), all_codes)
  chars = tf.where(tf.range(width)[None, :] < all_lengths[:, None], chars, "")
  return tf.strings.reduce_join(chars, axis=1)
