"""Training bookkeeping of `de.Variable`: lookup wrappers, optimizer slots,
restrict policies.

Kept out of checkpoints: wrappers hold only the latest batch's rows and are
rebuilt by the next lookup; slots are `de.Variable`s saved by whoever tracks
them (the optimizer).
"""

import weakref

import tensorflow as tf

from tensorflow_recommenders_addons.utils.autograph import run_as_is


class Untracked:
  """Per-variable bookkeeping kept out of checkpoints (a plain object is not
  tracked by `tf.Module`): lookup wrappers and optimizer slots."""

  def __init__(self):
    self.trainables = {}
    self.slots = {}
    # A slot variable's primary (weakref), and a bounded primary's slots
    # restored since its last lookup ({id: slot}; bounds.py prunes them).
    self.primary = None
    self.prune_pending = {}


@run_as_is
class TrainingHooks:
  """Mixed into `de.Variable`; expects `self._store` to be an `Untracked`."""

  @property
  def trainable_store(self):
    """{lookup name: `de.TrainableWrapper`} of this variable's lookups."""
    return dict(self._store.trainables)

  def get_trainable_by_name(self, name):
    """The `de.TrainableWrapper` of the lookup called `name`, or None.

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> var = de.Variable(dim=1)
      >>> _ = de.embedding_lookup(var, [1], name="user")
      >>> var.get_trainable_by_name("user").ids.numpy().tolist()
      [1]
    """
    return self._store.trainables.get(name)

  def _trainable(self, name, factory):
    """The wrapper of lookup `name`, created by `factory()` on first use."""
    wrapper = self._store.trainables.get(name)
    return wrapper if wrapper is not None else factory()

  def _register_trainable(self, name, wrapper):
    """Records a new wrapper (lookup or shadow) under its lookup name."""
    self._store.trainables[name] = wrapper

  def _register_slot(self, optimizer, slot_name, slot_variable):
    """Records `slot_variable` (a `de.Variable`) as `optimizer`'s slot."""
    self._store.slots[(id(optimizer), slot_name)] = (optimizer, slot_variable)
    slot_variable._store.primary = weakref.ref(self)  # pylint: disable=protected-access

  def get_slot_variables(self, optimizer):
    """The slot `de.Variable`s `optimizer` keeps for this variable.

    Args:
      optimizer: An optimizer wrapped by `de.DynamicEmbeddingOptimizer`.

    Returns:
      A list (empty when `optimizer` never trained this variable).

    Example:
      >>> from tensorflow_recommenders_addons import dynamic_embedding as de
      >>> de.Variable(dim=1).get_slot_variables(object())
      []
    """
    return [slot for (opt, slot) in self._store.slots.values()
            if opt is optimizer]

  def restrict(self, num_reserved, trigger=None, **kwargs):
    """Shrinks the variable to `num_reserved` rows via its restrict policy.

    Args:
      num_reserved: Rows to keep.
      trigger: Restrict only when the size exceeds `trigger`.
      **kwargs: Passed to the policy.

    Raises:
      tf.errors.FailedPreconditionError: the variable has no
        `restrict_policy`.
    """
    if self.restrict_policy is None:
      raise tf.errors.FailedPreconditionError(
          None, None, f"restrict: variable {self.name!r} was created without "
          "a restrict_policy; pass restrict_policy=<policy class> to "
          "de.Variable")
    return self.restrict_policy.apply_restriction(
        num_reserved, trigger=trigger, **kwargs)
