"""The optimizer side of row buffers, shared by Keras 3 and tf_keras.

A row buffer (`row_buffer.py`) is a fixed-shape weight
`[capacity, dim]` whose position i stands for the i-th distinct id of the
batch, recorded (ids and rows) by the lookup's gradient. Keras 3 layers
always train through one; tf_keras layers do under a multi-replica
`tf.distribute` strategy. A wrapped optimizer pairs each slot it creates for
a buffer (Adam's momentum and velocity, both `[capacity, dim]`) with a slot
table (a `de.Variable` sharded like the embedding), and in each step, for
each buffer:

    load:   weight[:u] <- the batch's rows;  slot[:u] <- slot_table[ids]
    decay:  weight decay, as Keras applies it, on the loaded rows
    update: the optimizer's own update_step on the whole buffer
    store:  table[ids] <- weight[:u];  slot_table[ids] <- slot[:u]
            (upsert, or accum of the deltas with bp_v2)

Everything else is the optimizer's own code: gradient clipping (clipnorm,
clipvalue, global_clipnorm), learning-rate schedules, loss scaling with
skipped steps and the optimizer math, so a dynamic row trains exactly like
the same row of a dense weight with the same gradient (lazily: rows absent
from a batch are not touched).
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots
from tensorflow_recommenders_addons.dynamic_embedding.row_buffer import tf_variable
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v


def buffer_of(variable):
  """The `RowBuffer` a layer attached to its weight, or None."""
  return getattr(variable, "_de_row_buffer", None)


class Entries:
  """The buffers an optimizer trains, by the optimizer's variable key (a
  plain object: an attribute dict with int keys would be tracked and break
  checkpoints)."""

  def __init__(self):
    self.by_key = {}


class _Entry:
  """One buffer: its Keras weight, RowBuffer and [(slot, slot table)]."""

  def __init__(self, weight, buffer):
    self.weight = weight
    self.buffer = buffer
    self.slots = []


def register(optimizer, variables):
  """Records the buffers among `variables` (called when the optimizer is
  built), refusing settings that cannot train them.

  Raises:
    tf.errors.InvalidArgumentError: `use_ema` or
      `gradient_accumulation_steps` with buffers to train.
  """
  buffers = [var for var in variables if buffer_of(var) is not None]
  if buffers and optimizer.use_ema:
    raise v.invalid(
        f"use_ema: {type(optimizer).__name__} cannot keep moving averages of "
        "dynamic embeddings (their rows change every batch); create the "
        "optimizer with use_ema=False")
  if buffers and getattr(optimizer, "gradient_accumulation_steps", None):
    raise v.invalid(
        "gradient_accumulation_steps: dynamic embeddings cannot accumulate "
        "gradients across steps (a buffer position holds another id in every "
        "batch); use a larger batch instead")
  for var in buffers:
    optimizer._de_entries.by_key[optimizer._var_key(var)] = _Entry(  # pylint: disable=protected-access
        var, buffer_of(var))


def entry_of(optimizer, variable):
  """The buffer entry of `variable` (or of the buffer it is a copy of)."""
  return optimizer._de_entries.by_key.get(optimizer._var_key(variable))  # pylint: disable=protected-access


def pair_slot(optimizer, reference, slot, name, first_row):
  """Pairs the optimizer's new `slot` of buffer `reference` with a slot table
  whose default row is `first_row` (`[1, dim]`: the slot's initial row)."""
  entry = entry_of(optimizer, reference)
  params = entry.buffer.params
  table = optimizer._de_slots.table(  # pylint: disable=protected-access
      optimizer, params, name, tf.as_dtype(slot.dtype),
      _slots.default_row(name, first_row, params.dim))
  entry.slots.append((slot, table))


def without_buffers(optimizer, variables):
  """`variables` minus buffers (which `update` decays itself)."""
  return [var for var in variables if entry_of(optimizer, var) is None]


def update(optimizer, entry, variable, run_update):
  """One step of a buffer (module docstring).

  Args:
    optimizer: The wrapped optimizer.
    entry: The buffer's entry.
    variable: The buffer variable update_step got (under a strategy, one
      replica's copy).
    run_update: Runs the optimizer's own update_step on `variable`.

  Returns:
    The table writes (grouped), or None.
  """
  batch = entry.buffer.batch
  ids = batch.ids.value()
  rows = batch.value()
  positions = tf.range(tf.shape(ids)[0])
  variable.scatter_update(tf.IndexedSlices(rows, positions))
  # Keras's own decay (TF backend), on the rows just loaded; as there,
  # exclusions by name match the tf.Variable's name ("<layer>/rows:0").
  if optimizer.weight_decay is not None and \
      optimizer._use_weight_decay(variable):  # pylint: disable=protected-access
    lr = tf.cast(optimizer.learning_rate, variable.dtype)
    wd = tf.cast(optimizer.weight_decay, variable.dtype)
    variable.assign_sub(variable * wd * lr)
  loaded = []
  for slot, table in entry.slots:
    slot_rows, exists = table.lookup(ids, return_exists=True)
    tf_variable(slot).scatter_update(tf.IndexedSlices(slot_rows, positions))
    loaded.append((slot, table, slot_rows, exists))
  run_update()
  if not _writes_tables(optimizer, entry, variable):
    return None
  params = entry.buffer.params
  ops = _slots.write_back(
      params, ids, rows, variable.sparse_read(positions),
      [(table, slot_rows, _rows_of(slot, positions), exists)
       for slot, table, slot_rows, exists in loaded],
      optimizer._de_bp_v2 or params.bp_v2)  # pylint: disable=protected-access
  return tf.group(ops) if ops else None


def _rows_of(slot, positions):
  """Rows `positions` of a slot weight (under a strategy: of this device's
  copy, which is what reading the distributed variable gives in an update)."""
  return tf.gather(tf_variable(slot).value(), positions)


def _writes_tables(optimizer, entry, variable):
  """Under a strategy, update_step runs once per replica's copy of the
  buffer (all equal); only the first copy writes the tables."""
  strategy = optimizer._distribution_strategy  # pylint: disable=protected-access
  if strategy.num_replicas_in_sync == 1:
    return True
  copies = strategy.experimental_local_results(tf_variable(entry.weight))
  return variable is copies[0]
