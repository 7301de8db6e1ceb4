"""Dynamic-embedding training for tf_keras (Keras 2) optimizers.

`DynamicEmbeddingOptimizer(opt)` gives `opt` a subclass of its own class
(made once per optimizer class, e.g. `DynamicEmbeddingAdam(Adam)`), so only
that optimizer object changes; nothing in TensorFlow or tf_keras is patched.
The subclass treats `de.TrainableWrapper`s specially and leaves every other
variable to the optimizer's own code:

* `build` hands the optimizer a `SlotTemplate` of shape `[1, dim]` per
  wrapper, so the optimizer's own build computes each slot's initial row,
  and `add_variable_from_reference` turns that into a slot table plus a slot
  wrapper (slots.py);
* `update_step` loads the slot rows of the wrapper's ids, runs the
  optimizer's own dense update on the wrapper and slot wrappers, and writes
  rows and slots back (upsert, or accum with bp_v2). Learning-rate
  schedules, clipnorm/clipvalue/global_clipnorm and weight decay are the
  optimizer's own code, applied to the batch's rows.

Checkpoints (`save_weights` in TF format, `tf.train.Checkpoint`, the
variables of a SavedModel) hold the slot tables as dependencies of the
optimizer. tf_keras's own formats (`model.save("x.keras")`,
`save_weights("x.weights.h5")`) hold them too: `save_own_variables` writes
each slot table under the index of its slot wrapper (own_variables.py).
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import buffers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import merge as _merge
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import own_variables
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import settings
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.utils.autograph import run_as_is


def _is_wrapper(variable):
  return isinstance(variable, TrainableWrapper)


@run_as_is
class TfKerasMixin(own_variables.OwnVariablesMixin, settings.SettingsMixin):
  """Dynamic-embedding behaviour mixed in front of a tf_keras optimizer."""

  def build(self, var_list):
    if getattr(self, "_built", False):
      return super().build(var_list)
    if self.use_ema and any(_is_wrapper(var) for var in var_list):
      raise v.invalid(
          f"use_ema: {type(self).__name__} cannot keep moving averages of "
          "dynamic embeddings (their rows change every batch); create the "
          "optimizer with use_ema=False")
    buffers.register(self, var_list)
    super().build([_slots.SlotTemplate(var) if _is_wrapper(var) else var
                   for var in var_list])

  def add_variable_from_reference(self, model_variable, variable_name,
                                  shape=None, initial_value=None):
    if not isinstance(model_variable, _slots.SlotTemplate):
      slot = super().add_variable_from_reference(
          model_variable, variable_name, shape=shape,
          initial_value=initial_value)
      buffer = buffers.buffer_of(model_variable)
      if buffer is not None and variable_name not in self._de_ignored_slots():
        first_row = (tf.zeros([1, buffer.params.dim], slot.dtype)
                     if initial_value is None else initial_value[:1])
        buffers.pair_slot(self, model_variable, slot, variable_name,
                          first_row)
      return slot
    slot = self._de_slots.slot_wrapper(self, model_variable.wrapper,
                                       variable_name, shape, initial_value)
    self._variables.append(slot)
    return slot

  def apply_gradients(self, grads_and_vars, *args, **kwargs):
    # One update per de.Variable, whatever its number of wrappers.
    grads_and_vars = _merge.prepare(grads_and_vars, self._de_synchronous)
    # With bp_v2 the store needs each wrapper's rows as the lookup read them,
    # before weight decay (applied ahead of update_step) changes them.
    self._de_slots.old_rows = {
        var._unique_id: var.read_value()  # pylint: disable=protected-access
        for grad, var in grads_and_vars
        if grad is not None and _is_wrapper(var) and self._bp_v2(var)}
    try:
      return super().apply_gradients(grads_and_vars, *args, **kwargs)
    finally:
      self._de_slots.old_rows = {}

  def _de_ignored_slots(self):
    """Slots whose old value this optimizer multiplies by zero: tf_keras's
    SGD keeps a momentum slot even with momentum 0."""
    import tf_keras  # pylint: disable=import-outside-toplevel
    momentum = getattr(self, "momentum", None)
    if isinstance(self, tf_keras.optimizers.SGD) and \
        isinstance(momentum, (int, float)) and momentum == 0:
      return ("m",)
    return ()

  def _bp_v2(self, wrapper):
    """bp_v2 applies when the optimizer or the variable asks for it."""
    return self._de_bp_v2 or wrapper.params.bp_v2

  def _apply_weight_decay(self, variables):
    # Buffers are decayed in update_step, after their rows are loaded.
    super()._apply_weight_decay(buffers.without_buffers(self, variables))

  def _update_step_xla(self, gradient, variable, key):
    # Table ops cannot be XLA-compiled; wrappers and buffers take the plain
    # path.
    if _is_wrapper(variable) or buffers.entry_of(self, variable) is not None:
      return self._update_step(gradient, variable)
    return super()._update_step_xla(gradient, variable, key)

  def update_step(self, gradient, variable):
    entry = buffers.entry_of(self, variable)
    if entry is not None:
      return buffers.update(
          self, entry, variable,
          lambda: super(TfKerasMixin, self).update_step(gradient, variable))
    if not _is_wrapper(variable):
      return super().update_step(gradient, variable)
    ids = variable.ids.value()
    loaded = _slots.load_slots(self._de_slots.slots_of(variable), ids,
                               ignored=self._de_ignored_slots())
    super().update_step(gradient, variable)
    old_rows = self._de_slots.old_rows.get(variable._unique_id)  # pylint: disable=protected-access
    ops = _slots.store(variable, ids, old_rows, loaded,
                       bp_v2=self._bp_v2(variable))
    return tf.group(ops) if ops else None
