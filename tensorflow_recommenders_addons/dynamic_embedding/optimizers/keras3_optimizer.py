"""Dynamic-embedding training for Keras 3 optimizers.

A Keras 3 dynamic layer trains through a fixed-shape row buffer
(`keras/layers/_row_buffer.py`): a `[capacity, dim]` weight whose position i
stands for the i-th distinct id of the batch, recorded (ids and rows) by the
lookup's gradient. `DynamicEmbeddingOptimizer(opt)` gives a Keras 3
optimizer a subclass of its own class, which pairs each slot the optimizer
creates for a buffer (Adam's momentum and velocity, both `[capacity, dim]`)
with a slot table (a `de.Variable` sharded like the embedding), and in each
step, for each buffer:

    load:   weight[:u] <- the batch's rows;  slot[:u] <- slot_table[ids]
    decay:  weight decay, as Keras applies it, on the loaded rows
    update: the optimizer's own update_step on the whole buffer
    store:  table[ids] <- weight[:u];  slot_table[ids] <- slot[:u]
            (upsert, or accum of the deltas with bp_v2)

Everything else is Keras's own code: gradient clipping (clipnorm,
clipvalue, global_clipnorm), learning-rate schedules, loss scaling with
skipped steps (`LossScaleOptimizer`) and the optimizer math, so a dynamic
row trains exactly like the same row of a dense weight with the same
gradient (lazily: rows absent from a batch are not touched).
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import tf_keras_optimizer
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper


def buffer_of(variable):
  """The `RowBuffer` a Keras 3 layer attached to its weight, or None."""
  return getattr(variable, "_de_row_buffer", None)


class _Entries:
  """The buffers an optimizer trains, by the optimizer's variable key (a
  plain object: an attribute dict with int keys would be tracked and break
  checkpoints)."""

  def __init__(self):
    self.by_key = {}


class _Entry:
  """One buffer the optimizer trains: the Keras weight, its RowBuffer and
  [(slot weight, slot table)]."""

  def __init__(self, weight, buffer):
    self.weight = weight
    self.buffer = buffer
    self.slots = []


class Keras3Mixin:
  """Dynamic-embedding behaviour mixed in front of a Keras 3 optimizer."""

  def __init__(self, *args, bp_v2=False, synchronous=False, **kwargs):
    super().__init__(*args, **kwargs)
    init_state(self, bp_v2, synchronous)

  def get_config(self):
    config = super().get_config()
    config.update(bp_v2=self._de_bp_v2, synchronous=self._de_synchronous)
    return config

  def build(self, variables):
    if self.built:
      return super().build(variables)
    buffers = [var for var in variables if buffer_of(var) is not None]
    wrappers = [var.name for var in variables
                if isinstance(var, TrainableWrapper)]
    if wrappers:
      raise v.invalid(
          f"var_list: {type(self).__name__} is a Keras 3 optimizer, which "
          f"trains the de.keras.layers of Keras 3 models; the lookup wrappers "
          f"{wrappers} (de.embedding_lookup, tf_keras layers) need a tf_keras "
          f"optimizer wrapped in de.DynamicEmbeddingOptimizer")
    if buffers and self.use_ema:
      raise v.invalid(
          f"use_ema: {type(self).__name__} cannot keep moving averages of "
          "dynamic embeddings (their rows change every batch); create the "
          "optimizer with use_ema=False")
    if buffers and self.gradient_accumulation_steps:
      raise v.invalid(
          "gradient_accumulation_steps: dynamic embeddings cannot accumulate "
          "gradients across steps (a buffer position holds another id in "
          "every batch); use a larger batch instead")
    for var in buffers:
      self._de_entries.by_key[self._var_key(var)] = _Entry(var, buffer_of(var))
    return super().build(variables)

  def add_variable_from_reference(self, reference_variable, name=None,
                                  initializer="zeros"):
    slot = super().add_variable_from_reference(
        reference_variable, name=name, initializer=initializer)
    buffer = buffer_of(reference_variable)
    if buffer is not None:
      dim = buffer.params.dim
      import keras  # pylint: disable=import-outside-toplevel
      with tf.init_scope():  # the optimizer may be built inside a tf.function
        first_row = np.asarray(keras.initializers.get(initializer)(
            shape=(1, dim), dtype=slot.dtype))
      table = self._de_slots.table(
          self, buffer.params, name or "var", tf.as_dtype(slot.dtype),
          _slots.default_row(name, first_row, dim))
      self._de_entries.by_key[self._var_key(reference_variable)].slots.append(
          (slot, table))
    return slot

  def apply(self, grads, trainable_variables=None):
    if self._de_synchronous:
      variables = (trainable_variables if trainable_variables is not None
                   else self._trainable_variables)
      grads = _allreduce_dense(grads, variables)
    return super().apply(grads, trainable_variables)

  def _apply_weight_decay(self, variables):
    # Buffers are decayed in update_step, after their rows are loaded.
    super()._apply_weight_decay(
        [var for var in variables if self._entry(var) is None])

  def _entry(self, variable):
    return self._de_entries.by_key.get(self._var_key(variable))

  def _bp_v2(self, entry):
    """bp_v2 applies when the optimizer or the variable asks for it."""
    return self._de_bp_v2 or entry.buffer.params.bp_v2

  def update_step(self, gradient, variable, learning_rate):
    entry = self._entry(variable)
    if entry is None:
      return super().update_step(gradient, variable, learning_rate)
    batch = entry.buffer.batch
    ids = batch.ids.value()
    rows = batch.value()
    positions = tf.range(tf.shape(ids)[0])
    variable.scatter_update(tf.IndexedSlices(rows, positions))
    if self.weight_decay is not None and self._use_weight_decay(entry.weight):
      # Keras's own decay (TF backend), on the rows just loaded.
      lr = tf.cast(self.learning_rate, variable.dtype)
      wd = tf.cast(self.weight_decay, variable.dtype)
      variable.assign_sub(variable * wd * lr)
    loaded = []
    for slot, table in entry.slots:
      slot_rows, exists = table.lookup(ids, return_exists=True)
      slot.value.scatter_update(tf.IndexedSlices(slot_rows, positions))
      loaded.append((slot, table, slot_rows, exists))
    super().update_step(gradient, variable, learning_rate)
    if not self._writes_tables(entry, variable):
      return None
    params = entry.buffer.params
    new_rows = variable.sparse_read(positions)
    if self._bp_v2(entry):
      _, exists = params.lookup(ids, return_exists=True)
      ops = [params.accum(ids, rows, new_rows, exists)]
      ops += [table.accum(ids, slot_rows, slot.value.sparse_read(positions),
                          slot_exists)
              for slot, table, slot_rows, slot_exists in loaded]
    else:
      ops = [params.upsert(ids, new_rows)]
      ops += [table.upsert(ids, slot.value.sparse_read(positions))
              for slot, table, _, _ in loaded]
    ops = [op for op in ops if op is not None]
    return tf.group(ops) if ops else None

  def _writes_tables(self, entry, variable):
    """Under a strategy, update_step runs once per replica's copy of the
    buffer (all equal); only the first copy writes the tables."""
    strategy = self._distribution_strategy
    if strategy.num_replicas_in_sync == 1:
      return True
    copies = strategy.experimental_local_results(entry.weight.value)
    return variable is copies[0]


def init_state(optimizer, bp_v2, synchronous):
  """Sets the dynamic-embedding settings of a Keras 3 optimizer; gives it a
  slot registry unless it has one."""
  tf_keras_optimizer.init_state(optimizer, bp_v2, synchronous)
  if getattr(optimizer, "_de_entries", None) is None:
    optimizer._de_entries = _Entries()  # pylint: disable=protected-access


def _allreduce_dense(grads, variables):
  """Sums the gradients of ordinary variables over Horovod workers; buffer
  gradients stay local (each worker writes its own rows)."""
  hvd = tf_keras_optimizer.horovod()
  return [grad if grad is None or buffer_of(var) is not None
          else hvd.allreduce(grad, op=hvd.Sum)
          for grad, var in zip(grads, variables)]
