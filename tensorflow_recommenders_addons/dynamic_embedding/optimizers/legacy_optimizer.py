"""Dynamic-embedding training for tf_keras legacy optimizers.

`tf_keras.optimizers.legacy.*` (`tf.keras.optimizers.legacy.*` with
`TF_USE_LEGACY_KERAS=1`, which TFRA's documentation recommends) are Keras's
`OptimizerV2`: they create slots with `add_slot(var, name, initializer)` in
`_create_slots` and update a variable with `_resource_apply_dense(grad, var,
apply_state)`. `DynamicEmbeddingOptimizer(opt)` gives such an optimizer a
subclass of its own class (e.g. `DynamicEmbeddingLegacyAdam(Adam)`) that
treats `de.TrainableWrapper`s specially and leaves every other variable to
the optimizer's own code:

* `add_slot` of a wrapper evaluates the slot's initializer for one row
  (Adagrad's `initial_accumulator_value`, zeros) and makes a slot table
  (the row is its default) plus a slot wrapper (slots.py), exactly as the
  tf_keras (v2) optimizers do;
* `_resource_apply_dense` of a wrapper loads the slot rows of the wrapper's
  ids into the slot wrappers, runs the optimizer's own update on the
  wrapper and slot wrappers, and writes rows and slots back (upsert, or
  accum of the deltas with bp_v2). Learning-rate schedules, `decay`,
  clipnorm/clipvalue/global_clipnorm are the optimizer's own code.

Slot wrappers hold one step's rows, so they stay out of checkpoints:
`get_slot(wrapper, name)` answers only while that wrapper is being updated
(which is when the optimizer's math asks), and checkpoints save the slot
tables instead, as dependencies of the optimizer (`_de_slot_tables`). Keras's
`.keras` format saves no state of a legacy optimizer (stock behaviour), and
its HDF5 format saves `optimizer.weights`, which hold no slot table.
"""

import inspect

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import buffers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import merge as _merge
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import settings
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.utils.autograph import run_as_is


def _is_wrapper(variable):
  return isinstance(variable, TrainableWrapper)


@run_as_is
class LegacyMixin(settings.SettingsMixin):
  """Dynamic-embedding behaviour mixed in front of a tf_keras legacy
  optimizer (`tf_keras.optimizers.legacy.Optimizer`)."""

  @property
  def name(self):
    """The optimizer's name (used in slot table names), as the v2
    optimizers give it."""
    return self._name

  def __setattr__(self, name, value):
    super().__setattr__(name, value)
    if name == "_de_slot_tables":
      # OptimizerV2 tracks only what it is told to: the slot tables are
      # saved, and restored when created after `restore`, under this name.
      self._track_trackable(value, name, overwrite=True)

  def apply_gradients(self, grads_and_vars, *args, **kwargs):
    # One update per de.Variable, whatever its number of wrappers.
    grads_and_vars = _merge.prepare(grads_and_vars, self._de_synchronous)
    return super().apply_gradients(grads_and_vars, *args, **kwargs)

  def _create_all_weights(self, var_list):
    row_buffers = [var.name for var in var_list
                   if buffers.buffer_of(var) is not None]
    if row_buffers:
      raise v.invalid(
          f"self: {type(self).__name__} is a tf_keras legacy optimizer, which "
          f"cannot train the row buffers {row_buffers} of dynamic embedding "
          "layers under a multi-replica strategy; use the "
          f"tf_keras.optimizers.{_stock_class(self).__name__} of the same "
          "name")
    return super()._create_all_weights(var_list)

  def add_slot(self, var, slot_name, initializer="zeros", shape=None):
    if not _is_wrapper(var):
      return super().add_slot(var, slot_name, initializer, shape)
    existing = _find(self._de_slots.slots_of(var), slot_name)
    if existing is not None:
      return existing
    first_row = self._de_first_row(var, slot_name, initializer, shape)
    if slot_name not in self._slot_names:
      self._slot_names.append(slot_name)
    return self._de_slots.slot_wrapper(self, var, slot_name, first_row.shape,
                                       first_row)

  def _de_first_row(self, wrapper, slot_name, initializer, shape):
    """The slot's initial value for one row, `[1, dim]`.

    Raises:
      tf.errors.InvalidArgumentError: the slot is not per row (another
        shape, or a fixed initial value instead of an initializer).
    """
    dim = wrapper.params.dim
    if shape is not None and not tf.TensorShape(shape).is_compatible_with(
        [None, dim]):
      raise v.invalid(
          f"self: cannot train dynamic embeddings with {type(self).__name__}: "
          f"its slot {slot_name!r} has shape {list(shape)}, not one row of "
          f"width {dim} per id (only per-row slots can live in slot tables)")
    if not (isinstance(initializer, str) or callable(initializer)):
      raise v.invalid(
          f"self: cannot train dynamic embeddings with {type(self).__name__}: "
          f"its slot {slot_name!r} has a fixed initial value, not an "
          "initializer that gives each new id's row")
    import tf_keras  # pylint: disable=import-outside-toplevel
    init = tf_keras.initializers.get(initializer)
    with tf.init_scope():  # optimizers may create slots in a tf.function
      return tf.convert_to_tensor(init(shape=[1, dim], dtype=wrapper.dtype))

  def get_slot(self, var, slot_name):
    if not _is_wrapper(var):
      return super().get_slot(var, slot_name)
    if getattr(self, "_de_updating", None) != var._unique_id:  # pylint: disable=protected-access
      # Outside its update a slot wrapper holds a stale batch; keeping it out
      # of here keeps it out of checkpoints, which call get_slot.
      raise KeyError(
          f"the slot {slot_name!r} of dynamic embedding {var.name!r} lives in "
          "a slot table: var.params.get_slot_variables(optimizer)")
    slot = _find(self._de_slots.slots_of(var), slot_name)
    if slot is None:
      raise KeyError(f"no slot {slot_name!r} for {var.name!r}")
    return slot

  def _create_or_restore_slot_variable(self, slot_variable_position,
                                       slot_name, variable,
                                       slot_variable_shape=None):
    if _is_wrapper(variable):
      return None  # slot wrappers are never saved (get_slot)
    return super()._create_or_restore_slot_variable(
        slot_variable_position, slot_name, variable, slot_variable_shape)

  @property
  def _dense_apply_args(self):
    # What the optimizer's own _resource_apply_dense takes (apply_state or
    # not), not the (grad, var, **kwargs) of the override below.
    return list(inspect.signature(super()._resource_apply_dense).parameters)

  def _resource_apply_dense(self, grad, var, **kwargs):
    if not _is_wrapper(var):
      return super()._resource_apply_dense(grad, var, **kwargs)
    return self._de_update(
        var, lambda: super(LegacyMixin, self)._resource_apply_dense(
            grad, var, **kwargs))

  def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices,
                                               **kwargs):
    if not _is_wrapper(handle):
      return super()._resource_apply_sparse_duplicate_indices(
          grad, handle, indices, **kwargs)
    return self._de_update(
        handle,
        lambda: super(LegacyMixin, self)._resource_apply_sparse_duplicate_indices(
            grad, handle, indices, **kwargs))

  def _de_update(self, wrapper, run_update):
    """load slots -> the optimizer's own update -> store (module
    docstring)."""
    bp_v2 = self._de_bp_v2 or wrapper.params.bp_v2
    ids = wrapper.ids.value()
    old_rows = wrapper.value() if bp_v2 else None
    loaded = _slots.load_slots(self._de_slots.slots_of(wrapper), ids)
    self._de_updating = wrapper._unique_id  # pylint: disable=protected-access
    try:
      update = run_update()
    finally:
      self._de_updating = None
    ops = _slots.store(wrapper, ids, old_rows, loaded, bp_v2=bp_v2)
    return tf.group(ops) if ops else update


def _stock_class(optimizer):
  """The optimizer class the dynamic-embedding subclass was made from."""
  return next(cls for cls in type(optimizer).__mro__
              if not issubclass(cls, settings.SettingsMixin))


def _find(slots, slot_name):
  """The slot wrapper named `slot_name` in `[(name, slot wrapper)]`."""
  for name, slot in slots:
    if name == slot_name:
      return slot
  return None
