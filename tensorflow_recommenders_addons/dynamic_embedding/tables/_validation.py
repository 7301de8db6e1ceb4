"""Argument checks shared by the table wrappers.

Python-side validation raises `tf.errors.InvalidArgumentError` naming the
argument, the same error type the kernels raise, so callers handle one kind
of error whichever layer catches the problem.
"""

import operator

import numpy as np
import tensorflow as tf

KEY_DTYPES = (tf.int64, tf.int32, tf.string)
VALUE_DTYPES = (tf.float32, tf.float16, tf.bfloat16, tf.float64, tf.int8,
                tf.int32, tf.int64, tf.bool)


def invalid(message):
  """Returns an InvalidArgumentError carrying `message`."""
  return tf.errors.InvalidArgumentError(None, None, message)


def check_int(arg, value, minimum, maximum=None):
  """Returns `value` as an int in [minimum, maximum] (no upper bound when
  `maximum` is None). Python and numpy integers pass; bools, floats and
  strings are refused."""
  try:
    number = operator.index(value)
  except TypeError:
    number = None
  if number is None or isinstance(value, (bool, np.bool_)) or \
      number < minimum or (maximum is not None and number > maximum):
    bound = f" and <= {maximum}" if maximum is not None else ""
    raise invalid(f"{arg}: must be an integer >= {minimum}{bound}, got "
                  f"{value!r}")
  return number


def check_number(arg, value, low, high=None, low_closed=False):
  """Returns `value` as a float in (low, high), or [low, high) with
  `low_closed` (no upper bound when `high` is None). Python ints and floats
  pass; bools and strings are refused."""
  real = isinstance(value, (int, float)) and not isinstance(value, bool)
  if not real or not (value >= low if low_closed else value > low) or \
      (high is not None and not value < high):
    if high is None:
      bound = f"{'>=' if low_closed else '>'} {low}"
    else:
      bound = f"in {'[' if low_closed else '('}{low}, {high})"
    raise invalid(f"{arg}: must be a number {bound}, got {value!r}")
  return float(value)


def check_dtype(arg, dtype, allowed):
  """Returns `dtype` as a tf.DType if it is one of `allowed`."""
  try:
    dtype = tf.as_dtype(dtype)
  except TypeError as e:
    raise invalid(f"{arg}: {dtype!r} is not a TensorFlow dtype") from e
  if dtype not in allowed:
    names = ", ".join(d.name for d in allowed)
    raise invalid(f"{arg}: {dtype.name} is not supported (supported: {names})")
  return dtype


def to_tensor(arg, value, dtype):
  """Converts `value` to a tensor of `dtype`; a tensor of another dtype is an error."""
  if isinstance(value, (tf.Tensor, tf.Variable)) or hasattr(value, "dtype") and \
      isinstance(getattr(value, "dtype"), tf.DType):
    if value.dtype != dtype:
      raise invalid(f"{arg}: dtype {value.dtype.name} does not match the "
                    f"table's {dtype.name}")
    return tf.convert_to_tensor(value)
  if dtype.is_integer:
    _check_exact(arg, value, dtype)
  try:
    return tf.convert_to_tensor(value, dtype=dtype)
  except (TypeError, ValueError) as e:
    raise invalid(f"{arg}: cannot convert to a {dtype.name} tensor: {e}") from e


def _check_exact(arg, value, dtype):
  """Refuses numbers an integer dtype cannot hold (TF would wrap them silently).

  `tf.convert_to_tensor([2**40], tf.int32)` gives `[0]` and a float64 numpy
  array converts to int32 by truncation; for keys that would silently alias
  another key, so Python and numpy inputs must convert exactly.
  """
  if not isinstance(value, (list, tuple, np.ndarray, np.generic, int, float)):
    return
  try:
    array = np.asarray(value)
  except (TypeError, ValueError, NotImplementedError):
    return  # e.g. ragged or symbolic: tf.convert_to_tensor decides
  if array.dtype.kind not in "biuf" or array.size == 0:
    return
  with np.errstate(invalid="ignore"):
    exact = np.array_equal(array.astype(dtype.as_numpy_dtype), array)
  if not exact:
    raise invalid(f"{arg}: values out of range of {dtype.name} or not whole "
                  f"numbers; convert explicitly if truncation is intended")


def check_rows(arg, values, keys, dim):
  """Checks statically known shapes: `values` must be keys.shape + [dim]."""
  expected = keys.shape.concatenate([dim])
  if not values.shape.is_compatible_with(expected):
    raise invalid(f"{arg}: expected shape {expected} (keys.shape + [dim]) but "
                  f"got {values.shape}")


def reshape(t, shape):
  """`t` reshaped to `shape` (Python ints, at most one -1): `t` itself when
  its static shape already is that (no op in either mode), else a reshape
  whose shape argument is a numpy array. TF's eager fast path takes a numpy
  shape; a Python list sends tf.reshape through its slow conversion path
  (~180 us instead of ~85 us). In a graph either becomes the same Const.

  Example: `reshape(keys, [-1])` flattens; `reshape(rows, [-1, dim])`."""
  static = t.shape
  if static.rank == len(shape) and all(
      want == -1 or have == want for have, want in zip(static.as_list(), shape)):
    return t
  return tf.reshape(t, np.array(shape, np.int64))
