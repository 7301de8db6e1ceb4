"""Fresh random rows for Keras random initializers.

An unseeded Keras initializer (tf_keras or Keras 3) returns the *same*
values every time it is called (tf_keras warns about it), and inside a
`tf.function` a seeded one becomes a stateless op with a constant seed, so
every execution repeats its values. For a table that generates rows for the
keys each batch misses, that would give the new keys of every batch the same
rows as the previous batch's new keys. So the Keras random initializers are
sampled here from their own parameters with TensorFlow's stateful random ops,
which draw new values on every call and every execution (reproducible under
`tf.random.set_seed`, or the initializer's own seed). The distributions are
Keras's, for the requested shape `[missing keys, dim]`.
"""

import tensorflow as tf

# VarianceScaling's truncated normal: stddev of a unit normal truncated to
# [-2, 2], which Keras divides out.
_TRUNCATED_STDDEV = 0.87962566103423978

# Keras class -> (TF stateful sampler, its two parameters' attribute names);
# each sampler takes (shape, param1, param2, dtype, seed=).
_DIRECT = {
    "RandomUniform": (tf.random.uniform, "minval", "maxval"),
    "RandomNormal": (tf.random.normal, "mean", "stddev"),
    "TruncatedNormal": (tf.random.truncated_normal, "mean", "stddev"),
}

_VARIANCE_SCALING = frozenset({
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform",
    "HeNormal", "LecunUniform", "LecunNormal"})


def keras_sampler(initializer):
  """`fn(shape, dtype)` drawing fresh rows like `initializer`, or None.

  None means `initializer` is not one of Keras's random initializers
  (RandomUniform, RandomNormal, TruncatedNormal, the VarianceScaling family)
  and is called as given.
  """
  module = type(initializer).__module__
  if not (module.startswith("keras.") or module.startswith("tf_keras.")):
    return None
  name = type(initializer).__name__
  seed = getattr(initializer, "seed", None)
  seed = seed if isinstance(seed, int) else None
  if name in _DIRECT:
    sample, first, second = _DIRECT[name]
    a, b = float(getattr(initializer, first)), float(getattr(initializer,
                                                             second))
    return lambda shape, dtype: sample(shape, a, b, dtype, seed=seed)
  if name in _VARIANCE_SCALING:
    return _variance_scaling(float(initializer.scale), initializer.mode,
                             initializer.distribution, seed)
  return None


def _variance_scaling(scale, mode, distribution, seed):
  """Keras's VarianceScaling for a 2-D shape: fan_in = rows, fan_out = dim."""
  def sample(shape, dtype):
    shape = tf.cast(shape, tf.int64)
    fan_in, fan_out = tf.cast(shape[0], tf.float32), tf.cast(shape[1],
                                                            tf.float32)
    n = {"fan_in": fan_in, "fan_out": fan_out,
         "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    n = tf.maximum(n, 1.0)
    variance = scale / n
    if distribution == "truncated_normal":
      std = tf.sqrt(variance) / _TRUNCATED_STDDEV
      rows = tf.random.truncated_normal(shape, 0.0, std, tf.float32, seed=seed)
    elif distribution in ("untruncated_normal", "normal"):
      rows = tf.random.normal(shape, 0.0, tf.sqrt(variance), tf.float32,
                              seed=seed)
    else:
      limit = tf.sqrt(3.0 * variance)
      rows = tf.random.uniform(shape, -limit, limit, tf.float32, seed=seed)
    return tf.cast(rows, dtype)
  return sample
