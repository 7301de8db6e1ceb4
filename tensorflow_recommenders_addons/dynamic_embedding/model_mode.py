"""Train and inference modes of dynamic-embedding lookups.

In train mode (the default) a lookup of a trainable variable loads the rows
it read into its `de.TrainableWrapper` (or a Keras layer's shadow) so that
gradients can reach them: a write of state the lookup owns, which makes
concurrent lookups through one wrapper race. In inference mode a lookup
only reads the tables: no wrapper is created or assigned, nothing is
inserted or updated, ids missing from the table read the default row, and
any number of threads may call the same lookup (or a function traced from
it) at once.

The mode is read when a lookup is built: eagerly at every call, and inside
a `tf.function` (including Keras's `predict_function` and a SavedModel's
exported functions) when it is traced. Switch modes before building the
serving function; functions traced earlier keep the mode they were traced
in. A SavedModel exported in inference mode serves read-only lookups in
any process.
"""


class ModelMode:
  """The two modes (`de.get_model_mode()` returns one of them).

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.ModelMode.INFERENCE
    'inference'
  """
  TRAIN = "train"
  INFERENCE = "inference"


# One module global: rebinding it is atomic, so readers in other threads
# see the old mode or the new one.
_mode = ModelMode.TRAIN


def _set(mode):
  global _mode  # pylint: disable=global-statement
  _mode = mode


def enable_inference_mode():
  """Makes lookups built from now on read-only (see module docs).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=1, initializer=0.5, name="serving_var")
    >>> de.enable_inference_mode()
    >>> de.embedding_lookup(var, tf.constant([7], tf.int64)).numpy().tolist()
    [[0.5]]
    >>> var.get_trainable_by_name("embedding_lookup") is None
    True
    >>> de.enable_train_mode()
  """
  _set(ModelMode.INFERENCE)


def enable_train_mode():
  """Makes lookups built from now on trainable again (the default).

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.enable_train_mode()
    >>> de.get_model_mode()
    'train'
  """
  _set(ModelMode.TRAIN)


def get_model_mode():
  """Returns the current mode: `de.ModelMode.TRAIN` or `.INFERENCE`.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.get_model_mode() in (de.ModelMode.TRAIN, de.ModelMode.INFERENCE)
    True
  """
  return _mode


def is_inference():
  """Whether lookups built now are read-only."""
  return _mode == ModelMode.INFERENCE
