"""Restrict policies: shrink a `de.Variable` to its most valuable rows.

TFRA's API: pass the policy class as `de.Variable(restrict_policy=...)`
(or a `de.keras.layers` layer's `restrict_policy=`), then call
`var.restrict(num_reserved, trigger=None)` (e.g. once per epoch): when the
variable holds more than `trigger` rows (default `num_reserved`) it keeps
the `num_reserved` best ranked and removes the rest, from the variable and
from every optimizer slot table of it, consistently.

Unlike TFRA, the policies' status is not a second table updated by Python
ops after each step: the C++ table itself stamps every write with the
table clock and counts writes (cc/core/row_meta.h), so the status costs no
extra op per step, is exact under concurrent writers, and is saved in
checkpoints with the rows (`var.export_with_meta()` shows it). The clock
advances once per write call on the table (one per training step and
lookup), so timestamps are steps.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.utils.autograph import run_as_is

# Bits of the secondary rank packed below the primary one.
_LOW_BITS = 31


@run_as_is
class RestrictPolicy:
  """Base class: ranks rows by `_rank(versions, freqs)` (higher is kept).

  Args:
    var: The `de.Variable` the policy restricts (the variable passes
      itself).

  Raises:
    tf.errors.FailedPreconditionError: the variable's tables keep no
      bookkeeping (a custom `kv_creator`).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> class KeepSmallKeys(de.RestrictPolicy):
    ...   def _rank(self, versions, freqs):
    ...     keys = self.var.export_with_meta()[0]
    ...     return -keys
    >>> var = de.Variable(dim=1, restrict_policy=KeepSmallKeys)
    >>> var.upsert([3, 1, 2], [[3.0], [1.0], [2.0]])
    >>> int(var.restrict(2))
    1
    >>> sorted(var.export()[0].numpy().tolist())
    [1, 2]
  """

  def __init__(self, var):
    if not var.bounded:
      raise tf.errors.FailedPreconditionError(
          None, None, f"restrict_policy: the tables of variable {var.name!r} "
          "keep no per-row bookkeeping; use de.CuckooHashTableCreator")
    self.var = var

  def apply_update(self, ids):  # pylint: disable=unused-argument
    """Kept for TFRA compatibility: the tables update the status on every
    write, so there is nothing to do. Returns a no-op."""
    return tf.no_op()

  def status(self):
    """`(keys, versions, freqs)`: each row's last-write step and write
    count, the status the policies rank by."""
    keys, _, versions, freqs, _, _ = self.var.export_with_meta()
    return keys, versions, freqs

  def _rank(self, versions, freqs):
    raise NotImplementedError

  def apply_restriction(self, num_reserved, trigger=None, **kwargs):
    """Keeps the `num_reserved` best ranked rows when the variable holds
    more than `trigger` (default `num_reserved`); removes the others from
    the variable and its optimizer slot tables. Works eagerly and in
    `tf.function`.

    Args:
      num_reserved: Rows to keep, an int >= 0 (or int tensor).
      trigger: Size above which to restrict (default `num_reserved`).
      **kwargs: Accepted for TFRA compatibility and ignored.

    Returns:
      The number of rows removed (int64 scalar).

    Raises:
      tf.errors.InvalidArgumentError: a negative `num_reserved` or
        `trigger`.
    """
    del kwargs
    num_reserved = _count("num_reserved", num_reserved)
    trigger = num_reserved if trigger is None else _count("trigger", trigger)
    var = self.var

    def restrict():
      keys, versions, freqs = self.status()
      size = tf.shape(keys, out_type=tf.int64)[0]
      keep = tf.minimum(num_reserved, size)
      _, kept = tf.math.top_k(self._rank(versions, freqs),
                              k=tf.cast(keep, tf.int32), sorted=False)
      drop = tf.tensor_scatter_nd_update(
          tf.ones(tf.shape(keys), tf.bool), kept[:, None],
          tf.zeros(tf.shape(kept), tf.bool))
      removed = tf.boolean_mask(keys, drop)
      ops = [var.remove(removed)] + var._drop_from_slots(removed)  # pylint: disable=protected-access
      with tf.control_dependencies([op for op in ops if op is not None]):
        return size - keep

    return tf.cond(var.size() > trigger, restrict,
                   lambda: tf.constant(0, tf.int64))


@run_as_is
class TimestampRestrictPolicy(RestrictPolicy):
  """Keeps the most recently written rows (ties: more writes).

  Args:
    var: The `de.Variable` (passed by the variable, which instantiates
      the class given as `restrict_policy=`).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1, restrict_policy=de.TimestampRestrictPolicy)
    >>> for step in range(4):
    ...   var.upsert([step], [[1.0]])
    >>> int(var.restrict(2))
    2
    >>> sorted(var.export()[0].numpy().tolist())
    [2, 3]
  """

  def _rank(self, versions, freqs):
    return _pack(versions, freqs)


@run_as_is
class FrequencyRestrictPolicy(RestrictPolicy):
  """Keeps the most often written rows (ties: more recent).

  Args:
    var: The `de.Variable` (passed by the variable, which instantiates
      the class given as `restrict_policy=`).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1, restrict_policy=de.FrequencyRestrictPolicy)
    >>> var.upsert([1, 2, 3], [[1.0], [2.0], [3.0]])
    >>> var.upsert([1], [[1.0]])
    >>> int(var.restrict(1))
    2
    >>> var.export()[0].numpy().tolist()
    [1]
  """

  def _rank(self, versions, freqs):
    return _pack(freqs, versions)


def _pack(primary, secondary):
  """One int64 rank ordering by `primary`, then by `secondary` (clamped to
  its low bits)."""
  return primary * (1 << _LOW_BITS) + tf.minimum(secondary,
                                                  (1 << _LOW_BITS) - 1)


def _count(arg, value):
  if isinstance(value, (tf.Tensor, tf.Variable)):
    value = tf.cast(value, tf.int64)
    check = tf.debugging.assert_non_negative(value, message=f"{arg}: must be "
                                             f">= 0")
    with tf.control_dependencies([check]):
      return tf.identity(value)
  return tf.constant(v.check_int(arg, value, 0), tf.int64)
