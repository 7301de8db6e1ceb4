"""Optimizer slots of dynamic embeddings: slot tables and their batch views.

A dense optimizer keeps, per model variable, slot variables of the same
shape (Adam's `m` and `v`). For a `de.TrainableWrapper`, which holds only
the rows of the latest batch, that becomes two things per slot:

* a slot table: a `de.Variable` with the embedding variable's key dtype,
  dim, devices, partitioner and table creator (so slot rows shard exactly
  like the rows they belong to), whose default row is the slot's initial
  value (zeros for Adam, `initial_accumulator_value` for Adagrad/Ftrl). One
  slot table exists per (embedding variable, optimizer, slot name), shared
  by every lookup (wrapper) of that variable;
* a slot wrapper: a non-trainable `TrainableWrapper` of the slot table that
  holds the slot rows of the wrapper's current ids during one step.

One optimizer step on a wrapper is then ("lazy" semantics):

    load:   slot_wrapper <- slot_table[ids]          for every slot
    update: the optimizer's own dense math on (wrapper, slot wrappers)
    store:  table[ids] <- wrapper;  slot_table[ids] <- slot_wrapper

Rows whose ids are not in the batch are neither read nor written: their
slots do not decay and weight decay does not shrink them, unlike a dense
`tf.Variable` under Adam, whose every row moves each step once its moments
are non-zero. With `bp_v2`, stores add deltas with `de.Variable.accum`
instead of overwriting, so several trainers sharing a table sum their
updates.
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable


class SlotTemplate:
  """Stands in for a wrapper while an optimizer builds its slots.

  Optimizers build slots from `var.shape` (e.g. Adagrad evaluates
  `initializer(shape=var.shape)`), which a wrapper of shape `[None, dim]`
  cannot give. The template has shape `[1, dim]`, so the optimizer's own
  build code computes one row of each slot's initial value, and the same
  variable key as the wrapper, so the optimizer indexes its slots by it.
  """

  def __init__(self, wrapper):
    self.wrapper = wrapper
    self.shape = tf.TensorShape([1, wrapper.params.dim])
    self.dtype = wrapper.dtype
    self.name = wrapper.name
    self._shared_name = wrapper._shared_name  # pylint: disable=protected-access
    self._unique_id = wrapper._unique_id  # pylint: disable=protected-access
    self.trainable = wrapper.trainable


class SlotTables(tf.Module):
  """The slot tables of one optimizer by name, each a checkpoint dependency
  of this object under its name (`optimizer/_de_slot_tables/<name>`).

  Not a dict: a Keras 3 optimizer turns a dict attribute into a Keras
  `TrackedDict`, whose later entries TF checkpoints never see (Adam's
  moments were silently left out). A `tf.Module` is tracked alike by tf_keras
  and Keras 3 optimizers, and restores tables created after `restore`.
  """

  def __init__(self):
    super().__init__()
    self._names = set()

  def __contains__(self, name):
    return name in self._names

  def __setitem__(self, name, table):
    self._names.add(name)
    setattr(self, name, table)


class SlotRegistry:
  """The slot tables and slot wrappers of one optimizer.

  A plain object (not tracked): the optimizer tracks the slot tables itself
  under stable string names (`tables`), so checkpoints save them; slot
  wrappers hold one batch and are not worth saving.

  Args:
    owner_name: The optimizer's name, used in slot table names.
    tables: The (tracked) `SlotTables` the slot tables are recorded in.
  """

  def __init__(self, owner_name, tables):
    self._owner_name = owner_name
    self._tables = tables
    self._by_params = {}      # (id(params), slot name) -> slot table
    self._by_wrapper = {}     # wrapper key -> [(slot name, slot wrapper)]
    # wrapper key -> its rows before this step (bp_v2), set per apply call
    self.old_rows = {}

  def slot_wrapper(self, optimizer, wrapper, slot_name, shape, initial_value):
    """Creates (or reuses) the slot table of `wrapper.params` for
    `slot_name` and returns a new slot wrapper for `wrapper`'s lookup."""
    params = wrapper.params
    if shape is not None and tf.TensorShape(shape) != tf.TensorShape([1, params.dim]):
      raise v.invalid(
          f"optimizer {type(optimizer).__name__}: slot {slot_name!r} has shape "
          f"{shape}, not the embedding's row shape; only per-row slots can "
          "train a de.Variable")
    dtype = (initial_value.dtype if initial_value is not None
             else wrapper.dtype)
    table = self.table(optimizer, params, slot_name, dtype,
                       default_row(slot_name, initial_value, params.dim))
    slot = TrainableWrapper(table, wrapper.lookup_name, trainable=False)
    self._by_wrapper.setdefault(wrapper._unique_id, []).append((slot_name, slot))  # pylint: disable=protected-access
    return slot

  def table(self, optimizer, params, slot_name, dtype, initial_row):
    """The slot table of `params` for `slot_name`, created on first use
    (default row `initial_row`: `params.dim` numbers, or None for zeros)."""
    key = (id(params), slot_name)
    table = self._by_params.get(key)
    if table is None:
      table = _slot_table(params, self._owner_name, slot_name, dtype,
                          initial_row)
      self._by_params[key] = table
      self._tables[self._unique_name(params, slot_name)] = table
      params._register_slot(optimizer, slot_name, table)  # pylint: disable=protected-access
    return table

  def slots_of(self, wrapper):
    """[(slot name, slot wrapper)] of `wrapper`, in creation order."""
    return self._by_wrapper.get(wrapper._unique_id, [])  # pylint: disable=protected-access

  def _unique_name(self, params, slot_name):
    base = f"{params.name}/{slot_name}"
    name, i = base, 1
    while name in self._tables:
      i += 1
      name = f"{base}_{i}"
    return name


def default_row(slot_name, initial_value, dim):
  """The slot's initial row from the optimizer's `[1, dim]` initial value."""
  if initial_value is None:
    return None
  if isinstance(initial_value, np.ndarray):
    row = initial_value  # evaluated by the caller (TF1 graphs have no eager values)
  else:
    with tf.init_scope():  # optimizers may be built inside a tf.function
      row = np.asarray(tf.convert_to_tensor(initial_value))
  if row.shape != (1, dim):
    raise v.invalid(f"slot {slot_name!r}: initial value of shape {row.shape} "
                    f"is not one row of width {dim}")
  return [float(x) for x in row[0]]


def _slot_table(params, owner_name, slot_name, dtype, initial_row):
  """A `de.Variable` for one slot, sharded exactly like `params`."""
  with tf.init_scope():
    return Variable(
        key_dtype=params.key_dtype,
        value_dtype=dtype,
        dim=params.dim,
        devices=params.devices,
        partitioner=params.partition_fn,
        name=f"{params.name}-{owner_name}-{slot_name}",
        initializer=initial_row,
        trainable=False,
        checkpoint=params.checkpoint,
        init_size=params.init_size,
        # Slot rows follow their rows' evictions (tables/base.py).
        kv_creator=params.kv_creator.follower(),
        short_file_name=params.short_file_name)


def load_slots(slots, ids, ignored=()):
  """Loads the slot rows of `ids` into each slot wrapper.

  Slots named in `ignored` are ones whose previous value the optimizer
  multiplies by zero (plain SGD's momentum); they get zero rows without a
  table read and are not written back, so their tables stay empty.

  Returns:
    [(slot wrapper, rows read, exists)] for `store`.
  """
  return load_slots_with_ops(slots, ids, ignored)[0]


def load_slots_with_ops(slots, ids, ignored=()):
  """`load_slots`, also returning the slot wrappers' assign ops (empty when
  executing eagerly), which TF1 graph code orders before the update.

  Returns:
    `([(slot wrapper, rows read, exists)], [assign op])`.
  """
  loaded, ops = [], []
  for slot_name, slot in slots:
    if slot_name in ignored:
      zeros = tf.zeros(tf.concat([tf.shape(ids), [slot.params.dim]], 0),
                       slot.dtype)
      ops.extend(slot.load(ids, zeros))
      continue
    rows, exists = slot.params.lookup(ids, return_exists=True)
    ops.extend(slot.load(ids, rows))
    loaded.append((slot, rows, exists))
  return loaded, ops


def store(wrapper, ids, old_rows, loaded_slots, bp_v2):
  """Writes the updated rows of `wrapper` and its slots back to the tables.

  Args:
    wrapper: The trained `TrainableWrapper`.
    ids: The ids its rows belong to.
    old_rows: The wrapper's rows before this step (only used with bp_v2).
    loaded_slots: The result of `load_slots`.
    bp_v2: Add deltas (`accum`) instead of overwriting (`upsert`).

  Returns:
    The write ops (empty when executing eagerly).
  """
  return write_back(
      wrapper.params, ids, old_rows, wrapper.value(),
      [(slot.params, rows, slot.value(), exists)
       for slot, rows, exists in loaded_slots], bp_v2)


def write_back(params, ids, old_rows, new_rows, slot_rows, bp_v2):
  """Writes a step's rows of `ids` to `params` and its slot tables.

  Slots first: a bounded variable's write then removes the slot rows of the
  keys it refused or evicted, after the slots' own write.

  Args:
    params: The embedding `de.Variable`.
    ids: The ids written.
    old_rows, new_rows: The rows before and after the step.
    slot_rows: [(slot table, rows before, rows after, exists before)].
    bp_v2: Add deltas (`accum`) instead of overwriting (`upsert`).

  Returns:
    The write ops (empty when executing eagerly).
  """
  if bp_v2:
    _, exists = params.lookup(ids, return_exists=True)
    ops = [table.accum(ids, old, new, slot_exists)
           for table, old, new, slot_exists in slot_rows]
    ops.append(params.accum(ids, old_rows, new_rows, exists))
  else:
    ops = [table.upsert(ids, new) for table, _, new, _ in slot_rows]
    ops.append(params.upsert(ids, new_rows))
  return [op for op in ops if op is not None]
