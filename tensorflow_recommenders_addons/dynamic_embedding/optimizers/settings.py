"""What every optimizer wrapped by `de.DynamicEmbeddingOptimizer` carries,
for Keras 3 and tf_keras alike: the `bp_v2` and `synchronous` settings (in
the constructor and the config) and the slot registry."""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import buffers
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots


class SettingsMixin:
  """Constructor and config of a dynamic-embedding optimizer subclass."""

  def __init__(self, *args, bp_v2=False, synchronous=False, **kwargs):
    super().__init__(*args, **kwargs)
    init_state(self, bp_v2, synchronous)

  def get_config(self):
    config = super().get_config()
    config.update(bp_v2=self._de_bp_v2, synchronous=self._de_synchronous)
    return config


def init_state(optimizer, bp_v2, synchronous):
  """Sets the dynamic-embedding settings of an optimizer; gives it a slot
  registry unless it has one (wrapping a wrapped optimizer again keeps the
  slots it already trains with)."""
  if synchronous:
    horovod()  # fail now, not at the first step
  optimizer._de_bp_v2 = bool(bp_v2)  # pylint: disable=protected-access
  optimizer._de_synchronous = bool(synchronous)  # pylint: disable=protected-access
  if getattr(optimizer, "_de_slots", None) is not None:
    return
  # Tracked: checkpoints save the slot tables under "<variable name>/<slot
  # name>" and restore them when they are created.
  optimizer._de_slot_tables = _slots.SlotTables()  # pylint: disable=protected-access
  optimizer._de_slots = _slots.SlotRegistry(  # pylint: disable=protected-access
      optimizer.name, optimizer._de_slot_tables)  # pylint: disable=protected-access
  optimizer._de_entries = buffers.Entries()  # pylint: disable=protected-access


def horovod():
  try:
    import horovod.tensorflow as hvd  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise tf.errors.FailedPreconditionError(
        None, None, "synchronous=True all-reduces dense gradients with "
        "Horovod, which is not installed (pip install horovod)") from e
  return hvd




def allreduce_dense(grads, variables, is_dynamic):
  """Sums the gradients of ordinary variables over Horovod workers.

  Gradients of what `is_dynamic(var)` names (lookup wrappers, row buffers)
  stay local: each worker writes its own rows (TFRA's rule), and with bp_v2
  the writes add up in the shared table.
  """
  hvd = horovod()
  return [grad if grad is None or is_dynamic(var)
          else hvd.allreduce(grad, op=hvd.Sum)
          for grad, var in zip(grads, variables)]
