"""AutoGraph runs this package's code as written.

Every function and method of the package is written for graph mode already:
it builds the same graph in a TF1 `tf.compat.v1` graph, where AutoGraph
never applies, as in a `tf.function`. When a user's `tf.function` (or a
Keras train step) calls into it, AutoGraph would still convert it, call by
call down the whole call tree, which only adds tracing time: about a fifth
of tracing a lookup and its training step. `run_as_is` marks the package's
entry points with `tf.autograph.experimental.do_not_convert`, so AutoGraph
calls them unconverted (the user's own code around them is converted as
before).

A callable the user hands to the package (an initializer, a partition
function, a restrict trigger) runs inside the package's code, so it is not
converted either; like a TensorFlow op's callbacks, it is called with
tensors and must build graph ops (`tf.cond`, not `if tensor:`).
"""

import inspect

import tensorflow as tf


def run_as_is(obj):
  """Marks a function, or a class's public methods, as run by AutoGraph
  without conversion.

  Args:
    obj: a function, or a class: its own methods (those defined in its
      body, not inherited) whose names do not start with `_` are replaced
      by their `do_not_convert` wrappers. Static methods, class methods and
      properties are left alone (AutoGraph does not convert attribute
      access, and they are not the package's traced entry points).
      A wrapper's signature reads `(*args, **kwargs)` to
      `inspect.getfullargspec`, which Keras uses to decide what to pass a
      layer's `call` and `build`: a Keras layer class is not marked, its
      `call` delegates to a marked method.

  Returns:
    The marked function, or the class itself.

  Raises:
    TypeError: obj is neither a function nor a class.

  Example:
    >>> from tensorflow_recommenders_addons.utils.autograph import run_as_is
    >>> @run_as_is
    ... def double(x):
    ...   return x * 2
    >>> int(tf.function(double)(tf.constant(3)))
    6
  """
  if inspect.isfunction(obj):
    return tf.autograph.experimental.do_not_convert(obj)
  if not inspect.isclass(obj):
    raise TypeError(f"run_as_is: obj must be a function or a class, "
                    f"got {type(obj).__name__}")
  for name, attr in list(vars(obj).items()):
    if inspect.isfunction(attr) and not name.startswith("_"):
      setattr(obj, name, tf.autograph.experimental.do_not_convert(attr))
  return obj
