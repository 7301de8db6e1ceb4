"""Dynamic-embedding training for Keras 3 optimizers.

A Keras 3 dynamic layer trains through a fixed-shape row buffer
(`row_buffer.py`). `DynamicEmbeddingOptimizer(opt)` gives a
Keras 3 optimizer a subclass of its own class that pairs each slot it
creates for a buffer with a slot table and, per step, loads the batch's rows
and slots, runs the optimizer's own `update_step` and writes both back
(buffers.py, shared with tf_keras).

Keras's own formats (`model.save`, `save_weights`) hold the slot tables:
each one is saved under the index of the buffer slot it pairs with, in
place of that slot's content, which matters only within a step
(`save_own_variables`; layout in keras/layers/_weights_store.py).
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import buffers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import own_variables
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import settings
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.utils.autograph import run_as_is


@run_as_is
class Keras3Mixin(own_variables.OwnVariablesMixin, settings.SettingsMixin):
  """Dynamic-embedding behaviour mixed in front of a Keras 3 optimizer."""

  def build(self, variables):
    if self.built:
      return super().build(variables)
    wrappers = [var.name for var in variables
                if isinstance(var, TrainableWrapper)]
    if wrappers:
      raise v.invalid(
          f"var_list: {type(self).__name__} is a Keras 3 optimizer, which "
          f"trains the de.keras.layers of Keras 3 models; the lookup wrappers "
          f"{wrappers} (de.embedding_lookup, tf_keras layers) need a tf_keras "
          f"optimizer wrapped in de.DynamicEmbeddingOptimizer")
    buffers.register(self, variables)
    return super().build(variables)

  def add_variable_from_reference(self, reference_variable, name=None,
                                  initializer="zeros"):
    slot = super().add_variable_from_reference(
        reference_variable, name=name, initializer=initializer)
    buffer = buffers.buffer_of(reference_variable)
    if buffer is not None:
      import keras  # pylint: disable=import-outside-toplevel
      with tf.init_scope():  # the optimizer may be built inside a tf.function
        first_row = keras.initializers.get(initializer)(
            shape=(1, buffer.params.dim), dtype=slot.dtype)
      buffers.pair_slot(self, reference_variable, slot, name or "var",
                        first_row)
    return slot

  def apply(self, grads, trainable_variables=None):
    if self._de_synchronous:
      variables = (trainable_variables if trainable_variables is not None
                   else self._trainable_variables)
      grads = settings.allreduce_dense(
          grads, variables, lambda var: buffers.buffer_of(var) is not None)
    return super().apply(grads, trainable_variables)

  def _apply_weight_decay(self, variables):
    # Buffers are decayed in update_step, after their rows are loaded.
    super()._apply_weight_decay(buffers.without_buffers(self, variables))

  def update_step(self, gradient, variable, learning_rate):
    entry = buffers.entry_of(self, variable)
    if entry is None:
      return super().update_step(gradient, variable, learning_rate)
    return buffers.update(
        self, entry, variable,
        lambda: super(Keras3Mixin, self).update_step(gradient, variable,
                                                     learning_rate))
