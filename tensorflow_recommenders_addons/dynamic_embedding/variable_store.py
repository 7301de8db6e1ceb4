"""`de.get_variable`: named variables with TensorFlow's scope reuse rule."""

import weakref

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.partition import default_partition_fn
from tensorflow_recommenders_addons.dynamic_embedding.variable import Variable

# Full name -> de.Variable, one store for eager code and one per TF1 graph.
# Like TF1's variable store, eager entries live for the process (use
# `tf.compat.v1.variable_scope` to give models distinct names).
_EAGER_VARIABLES = {}
_GRAPH_VARIABLES = weakref.WeakKeyDictionary()


def _variables():
  """The store of the outermost context (tf.functions share the eager one)."""
  with tf.init_scope():
    if tf.executing_eagerly():
      return _EAGER_VARIABLES
    return _GRAPH_VARIABLES.setdefault(tf.compat.v1.get_default_graph(), {})

# Arguments that must agree when an existing variable is returned.
_MUST_MATCH = ("key_dtype", "value_dtype", "dim")


def get_variable(name,
                 key_dtype=tf.int64,
                 value_dtype=tf.float32,
                 dim=1,
                 devices=None,
                 partitioner=default_partition_fn,
                 shared_name="get_variable",
                 initializer=None,
                 trainable=True,
                 checkpoint=True,
                 init_size=0,
                 kv_creator=None,
                 restrict_policy=None,
                 bp_v2=False,
                 short_file_name=False):
  """Gets the `de.Variable` called `name` in the current variable scope, or
  creates it.

  The full name is `<tf.compat.v1 variable scope>/<name>`. Reuse follows the
  scope's `reuse` flag as `tf.compat.v1.get_variable` does: AUTO_REUSE (the
  TF2 default) returns an existing variable or creates one, True requires it
  to exist, False requires it not to.

  Args:
    name: Name within the current variable scope.
    key_dtype, value_dtype, dim, devices, partitioner, shared_name,
    initializer, trainable, checkpoint, init_size, kv_creator,
    restrict_policy, bp_v2, short_file_name:
      As for `de.Variable` (used when the variable is created; the
      defaults are TFRA's, `shared_name` included).

  Returns:
    The `de.Variable`.

  Raises:
    ValueError: reuse is False and the variable exists, or reuse is True and
      it does not, or an existing variable has another key dtype, value
      dtype or dim than requested.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> with tf.compat.v1.variable_scope("doc_example"):
    ...   a = de.get_variable("emb", dim=4)
    ...   b = de.get_variable("emb", dim=4)
    >>> a is b, a.name
    (True, 'doc_example/emb')
  """
  scope = tf.compat.v1.get_variable_scope()
  full_name = f"{scope.name}/{name}" if scope.name else name
  store = _variables()
  existing = store.get(full_name)
  reuse = scope.reuse
  if existing is not None:
    if reuse is False or reuse is None:
      raise ValueError(f"Variable {full_name} already exists, disallowed. Did "
                       "you mean to set reuse=True or reuse=tf.AUTO_REUSE in "
                       "VarScope?")
    requested = {"key_dtype": tf.as_dtype(key_dtype),
                 "value_dtype": tf.as_dtype(value_dtype), "dim": int(dim)}
    for arg in _MUST_MATCH:
      if getattr(existing, arg) != requested[arg]:
        raise ValueError(f"{arg}: variable {full_name} exists with {arg}="
                         f"{getattr(existing, arg)!r}, requested "
                         f"{requested[arg]!r}")
    return existing
  if reuse is True:
    raise ValueError(f"Variable {full_name} does not exist, or was not "
                     "created with de.get_variable(). Did you mean to set "
                     "reuse=tf.AUTO_REUSE in VarScope?")
  var = Variable(key_dtype=key_dtype, value_dtype=value_dtype, dim=dim,
                 devices=devices, partitioner=partitioner,
                 shared_name=shared_name, name=full_name,
                 initializer=initializer, trainable=trainable,
                 checkpoint=checkpoint, init_size=init_size,
                 kv_creator=kv_creator, restrict_policy=restrict_policy,
                 bp_v2=bp_v2, short_file_name=short_file_name)
  store[full_name] = var
  return var
