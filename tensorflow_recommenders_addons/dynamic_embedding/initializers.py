"""Values for keys a variable does not hold yet.

`de.Variable(initializer=...)` accepts what TFRA accepted: None (zeros), a
Python number, a list/array/tensor of `dim` numbers, a Keras or `tf`
initializer, or any callable `fn(shape[, dtype])`. They fall in two kinds:

* constant rows (None, numbers, arrays, Zeros/Ones/Constant initializers)
  become the table's default row, so a lookup costs nothing extra;
* generated rows (random initializers, callables) are produced only for the
  keys a lookup misses: `generate(m)` is called with the number of missing
  keys `m`, so the cost follows the miss count, not the batch size. Keras's
  random initializers are sampled with stateful random ops (random_rows.py),
  since called as given they would repeat the same rows batch after batch.
"""

import inspect

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.random_rows import keras_sampler
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

# Initializer classes (tf, tf_keras and Keras 3 spell them the same) whose
# every row is the same; they are evaluated once into the table's default.
_CONSTANT_INITIALIZERS = frozenset({
    "Zeros", "Ones", "Constant", "ZerosV2", "OnesV2", "ConstantV2",
    "zeros_initializer", "ones_initializer", "constant_initializer",
})


class RowInitializer:
  """Turns a user `initializer` into rows of shape `[dim]` or `[m, dim]`.

  Args:
    initializer: See the module docstring.
    dim: Row width.
    dtype: Value dtype of the variable.

  Raises:
    tf.errors.InvalidArgumentError: a constant that is neither a scalar nor
      `dim` numbers, or a callable whose rows have the wrong shape.
  """

  def __init__(self, initializer, dim, dtype):
    self.initializer = initializer
    self.dim = dim
    self.dtype = dtype
    self._fn = None
    if initializer is None:
      self.default_row = tf.zeros([dim], dtype)
    elif callable(initializer) and not isinstance(initializer, (tf.Tensor, np.ndarray)):
      if type(initializer).__name__ in _CONSTANT_INITIALIZERS:
        self.default_row = self._call(initializer, [dim])
      else:
        # Keras random initializers repeat their values call after call;
        # their rows are drawn afresh by random_rows instead.
        sampler = keras_sampler(initializer)
        self._fn = sampler or initializer
        self._takes_dtype = sampler is not None or _accepts_dtype(initializer)
        self.default_row = tf.zeros([dim], dtype)
    else:
      self.default_row = self._constant_row(initializer)

  @property
  def generates(self):
    """True when missing keys need generated (not constant) rows."""
    return self._fn is not None

  def generate(self, count):
    """Returns `[count, dim]` fresh rows for `count` missing keys.

    Raises:
      tf.errors.InvalidArgumentError: inside a graph with a run-time count,
        for an initializer that needs a static shape (e.g. Glorot: its scale
        depends on the shape).
    """
    static = tf.get_static_value(count)
    if static is not None:
      return self._call(self._fn, [int(static), self.dim])
    try:
      return self._call(self._fn, tf.stack([count, self.dim]))
    except (tf.errors.OperatorNotAllowedInGraphError, TypeError,
            ValueError) as e:
      raise v.invalid(
          f"initializer: {type(self._fn).__name__} cannot generate rows for "
          f"a number of missing keys known only at run time ({e}); use one "
          "that accepts a dynamic shape (RandomNormal, RandomUniform, "
          "TruncatedNormal, a tf.random_*_initializer or a callable)") from e

  def _call(self, fn, shape):
    takes_dtype = self._takes_dtype if fn is self._fn else _accepts_dtype(fn)
    rows = fn(shape, dtype=self.dtype) if takes_dtype else fn(shape)
    rows = tf.convert_to_tensor(rows)
    if rows.dtype != self.dtype:
      rows = tf.cast(rows, self.dtype)
    return rows

  def _constant_row(self, value):
    try:
      row = tf.convert_to_tensor(value)
    except (TypeError, ValueError) as e:
      raise v.invalid(f"initializer: cannot convert {value!r} to a row of "
                      f"{self.dim} numbers: {e}") from e
    if row.shape.rank == 0:
      return tf.fill([self.dim], tf.cast(row, self.dtype))
    if row.shape.num_elements() != self.dim:
      raise v.invalid(f"initializer: a constant initializer must be a scalar "
                      f"or have {self.dim} (dim) elements, got shape "
                      f"{row.shape}")
    return tf.cast(tf.reshape(row, [self.dim]), self.dtype)


def _accepts_dtype(fn):
  """Whether `fn(shape, dtype=...)` is a valid call."""
  try:
    params = inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False
  return "dtype" in params or any(
      p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
