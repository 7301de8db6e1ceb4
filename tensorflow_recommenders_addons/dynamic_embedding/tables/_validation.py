"""Argument checks shared by the table wrappers.

Python-side validation raises `tf.errors.InvalidArgumentError` naming the
argument, the same error type the kernels raise, so callers handle one kind
of error whichever layer catches the problem.
"""

import tensorflow as tf

KEY_DTYPES = (tf.int64, tf.int32, tf.string)
VALUE_DTYPES = (tf.float32, tf.float16, tf.bfloat16, tf.float64, tf.int8,
                tf.int32, tf.int64, tf.bool)


def invalid(message):
  """Returns an InvalidArgumentError carrying `message`."""
  return tf.errors.InvalidArgumentError(None, None, message)


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
  try:
    return tf.convert_to_tensor(value, dtype=dtype)
  except (TypeError, ValueError) as e:
    raise invalid(f"{arg}: cannot convert to a {dtype.name} tensor: {e}") from e


def check_rows(arg, values, keys, dim):
  """Checks statically known shapes: `values` must be keys.shape + [dim]."""
  expected = keys.shape.concatenate([dim])
  if not values.shape.is_compatible_with(expected):
    raise invalid(f"{arg}: expected shape {expected} (keys.shape + [dim]) but "
                  f"got {values.shape}")
