"""`de.DynamicEmbeddingOptimizer`: lets a stock optimizer train `de.Variable`s."""

import tensorflow as tf

from tensorflow_recommenders_addons import version
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import keras3_optimizer
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import legacy_optimizer
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import settings
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import tf1_optimizer
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import tf_keras_optimizer
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

# Optimizer class -> its dynamic-embedding subclass, made once per class.
_SUBCLASSES = {}

# Keras 3 optimizers refused: a row's update depends on the whole variable.
_WHOLE_VARIABLE = {
    "Adafactor": "its second moments are factored over whole rows and "
                 "columns, not kept per row",
    "Lamb": "its trust ratio uses the norm of the whole variable",
    "Muon": "it orthogonalizes the update of the whole variable",
}

# The Keras 3 and tf_keras optimizers whose subclasses are registered for
# deserialization (a saved model's optimizer config names
# "TFRA>DynamicEmbedding<Class>").
_STOCK_OPTIMIZERS = ("SGD", "Adagrad", "Adam", "AdamW", "Adamax", "Nadam",
                     "RMSprop", "Ftrl", "Adadelta", "Lion")
# The tf_keras legacy optimizers registered alike, as
# "TFRA>DynamicEmbeddingLegacy<Class>".
_LEGACY_OPTIMIZERS = ("SGD", "Adagrad", "Adam", "Adamax", "Nadam", "RMSprop",
                      "Ftrl", "Adadelta")


def DynamicEmbeddingOptimizer(self, bp_v2=False, synchronous=False, **kwargs):  # pylint: disable=invalid-name
  """Makes a Keras 3 or tf_keras optimizer able to train dynamic embeddings.

  The optimizer (first argument, named `self` as in TFRA) keeps training
  ordinary variables exactly as before. For what the dynamic embeddings
  train through (a `de.TrainableWrapper` of a lookup or a tf_keras layer;
  the row buffer of a Keras 3 layer) it keeps its slots in dynamic tables
  sharded like the embedding (`<var>-<optimizer>-<slot>`, listed by
  `var.get_slot_variables(opt)`), and each step reads and writes only the
  rows of the ids in the batch:

  * **Lazy updates.** A row's value and slots change only in steps whose
    batch contains its id. A dense `tf.Variable` under Adam (or momentum,
    RMSprop, AdamW's weight decay) also moves rows that are absent from the
    batch, because their moments keep decaying into updates; here such rows
    stay untouched until their id comes back, and their moments resume from
    where they were. With the same ids in every step both agree exactly.
  * **Duplicates merged.** The gradients of an id's occurrences in a batch
    are summed before the update, as for a dense variable (Keras 3's own
    sparse updates of `keras.layers.Embedding` do not merge them, so its
    Adam/Adagrad results differ from ours and from a dense weight's).
  * The optimizer's own code does the math, so learning-rate schedules,
    `clipnorm`, `clipvalue`, `global_clipnorm`, `weight_decay` and loss
    scaling (`LossScaleOptimizer`, mixed precision) apply to the batch's
    rows as to a dense variable's.
  * Two lookups of one variable in a step (one name or two; a layer
    called twice) train as one update of their ids' union: an id in both
    gets the sum of both gradients, as a dense variable's row
    (optimizers/merge.py, call_groups.py).

  The optimizer object is given a subclass of its class (e.g.
  `DynamicEmbeddingAdam`); no TensorFlow or Keras code is patched, and
  other optimizer objects are unaffected. The same object is returned. A
  `LossScaleOptimizer` is returned as is, with its inner optimizer wrapped.

  Supported: the optimizers whose slots are per row: SGD (momentum,
  nesterov), Adagrad, Adam (amsgrad), AdamW, Adamax, Nadam, RMSprop
  (momentum, centered), Ftrl, Adadelta, Lion, of Keras 3 and of tf_keras;
  and the tf_keras legacy optimizers (`tf_keras.optimizers.legacy.*`, i.e.
  `tf.keras.optimizers.legacy.*` with `TF_USE_LEGACY_KERAS=1`): SGD,
  Adagrad, Adam, Adamax, Nadam, RMSprop, Ftrl, Adadelta (given the class
  `DynamicEmbeddingLegacy<Class>`), which train lookup wrappers and the
  tf_keras layers but not their row buffers under a multi-replica strategy;
  and the TF1 optimizers (`tf.compat.v1.train.*Optimizer`: GradientDescent,
  Momentum, Adagrad, Adam, Ftrl, RMSProp, Adadelta, ProximalAdagrad), with
  `minimize(loss, global_step=..., var_list=...)` and
  `compute_gradients`/`apply_gradients`, eagerly, in a `tf.function` and in
  a TF1 graph run by a `tf.compat.v1.Session` (the op returned does the
  whole update; given the class `DynamicEmbedding<Class>`; not under a
  tf.distribute strategy).
  Refused: optimizers whose update of a row depends on the whole variable
  (Keras 3 Adafactor, Lamb, Muon), `use_ema`, and Keras 3's
  `gradient_accumulation_steps`. Keras 3 optimizers train Keras 3 layers;
  `de.embedding_lookup` wrappers need a tf_keras optimizer.

  Args:
    self: A `keras.optimizers.Optimizer` (Keras 3),
      `tf_keras.optimizers.Optimizer`,
      `tf_keras.optimizers.legacy.Optimizer` or
      `tf.compat.v1.train.Optimizer` instance, or a `LossScaleOptimizer` of
      one of the first three.
    bp_v2: Write each step's change as a delta (`de.Variable.accum`)
      instead of overwriting rows, so several trainers sharing a table add
      up their updates (a variable created with `bp_v2=True` gets this
      too).
    synchronous: All-reduce the gradients of ordinary (dense) variables over
      Horovod workers before applying them; embedding gradients stay local.
      Requires Horovod.
    **kwargs: Accepted for TFRA compatibility and ignored.

  Returns:
    The same optimizer object, now able to train dynamic embeddings.

  Raises:
    tf.errors.InvalidArgumentError: `self` is not a supported optimizer
      (a legacy or TF1 optimizer whose slots are not per row is refused
      when it creates them).
    tf.errors.FailedPreconditionError: `synchronous=True` without Horovod.

  Example:
    >>> import tensorflow as tf, tf_keras
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> var = de.Variable(dim=2, initializer=1.0)
    >>> opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
    >>> with tf.GradientTape() as tape:
    ...   out, tw = de.embedding_lookup(var, [5, 5], return_trainable=True)
    ...   loss = tf.reduce_sum(out)
    >>> _ = opt.apply_gradients([(tape.gradient(loss, tw), tw)])
    >>> [round(float(x), 3) for x in var.lookup([5])[0]]
    [0.9, 0.9]
    >>> len(var.get_slot_variables(opt))
    2

    With Keras 3:

    >>> import keras
    >>> layer = de.keras.layers.keras3.Embedding(2, initializer=1.0)
    >>> model = keras.Sequential([keras.Input((2,), dtype="int64"), layer])
    >>> opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.1))
    >>> model.compile(opt, loss=lambda y, out: tf.reduce_sum(out))
    >>> _ = model.fit(tf.constant([[5, 5]], tf.int64), tf.zeros([1]),
    ...               verbose=0)
    >>> [round(float(x), 3) for x in layer.params.lookup([5])[0]]
    [0.9, 0.9]
  """
  del kwargs
  optimizer = self
  inner = _loss_scale_inner(optimizer)
  if inner is not None:
    # Mixed precision: the loss-scale wrapper hands unscaled gradients to its
    # inner optimizer, which is the one that must learn dynamic embeddings.
    DynamicEmbeddingOptimizer(inner, bp_v2=bp_v2, synchronous=synchronous)
    return optimizer
  cls = _subclass(type(optimizer))
  if type(optimizer) is not cls:
    optimizer.__class__ = cls
  settings.init_state(optimizer, bp_v2, synchronous)
  return optimizer


def _loss_scale_inner(optimizer):
  """The inner optimizer of a Keras 3 or tf_keras LossScaleOptimizer."""
  import keras  # pylint: disable=import-outside-toplevel
  classes = [keras.optimizers.LossScaleOptimizer]
  tf_keras = _tf_keras(required=False)
  if tf_keras is not None:
    classes.append(tf_keras.mixed_precision.LossScaleOptimizer)
  if isinstance(optimizer, tuple(classes)):
    return optimizer.inner_optimizer
  return None


def _subclass(cls):
  """The dynamic-embedding subclass of Keras 3 or tf_keras optimizer class
  `cls`, made once per class."""
  if issubclass(cls, (tf_keras_optimizer.TfKerasMixin,
                      keras3_optimizer.Keras3Mixin,
                      legacy_optimizer.LegacyMixin,
                      tf1_optimizer.Tf1Mixin)):
    return cls
  if cls not in _SUBCLASSES:
    import keras  # pylint: disable=import-outside-toplevel
    prefix, stock_names = "DynamicEmbedding", _STOCK_OPTIMIZERS
    if issubclass(cls, tf.compat.v1.train.Optimizer):
      # Not Keras objects: nothing to register for deserialization.
      mixin, saving, stock = tf1_optimizer.Tf1Mixin, None, None
      stock_names = ()
    elif issubclass(cls, keras.optimizers.Optimizer):
      mixin, saving, stock = (keras3_optimizer.Keras3Mixin, keras.saving,
                              keras.optimizers)
      _refuse_whole_variable_optimizers(cls, keras)
    else:
      tf_keras = _tf_keras()
      if issubclass(cls, tf_keras.optimizers.legacy.Optimizer):
        mixin, saving, stock = (legacy_optimizer.LegacyMixin,
                                tf_keras.saving, tf_keras.optimizers.legacy)
        prefix, stock_names = "DynamicEmbeddingLegacy", _LEGACY_OPTIMIZERS
      elif not issubclass(cls, tf_keras.optimizers.Optimizer):
        raise v.invalid(_unsupported(cls, tf_keras))
      else:
        mixin, saving, stock = (tf_keras_optimizer.TfKerasMixin,
                                tf_keras.saving, tf_keras.optimizers)
    sub = type(f"{prefix}{cls.__name__}", (mixin, cls),
               {"__module__": __name__, "__doc__": cls.__doc__})
    if cls.__name__ in stock_names and \
        getattr(stock, cls.__name__, None) is cls:
      sub = saving.register_keras_serializable(package="TFRA")(sub)
    _SUBCLASSES[cls] = sub
  return _SUBCLASSES[cls]


def _refuse_whole_variable_optimizers(cls, keras):
  """Keras 3 optimizers whose update of a row depends on the whole variable
  cannot train rows lazily."""
  for name, reason in _WHOLE_VARIABLE.items():
    stock = getattr(keras.optimizers, name, None)
    if stock is not None and issubclass(cls, stock):
      raise v.invalid(f"self: cannot wrap {cls.__name__} for dynamic "
                      f"embeddings: {reason}")


def register_optimizers(flavours=("keras", "tf_keras")):
  """Makes the subclasses of the stock Keras 3 and tf_keras optimizers known
  to deserialization (keras_registration.py calls it once each Keras is
  imported).

  Args:
    flavours: Which Keras: "keras" (Keras 3) and/or "tf_keras" (skipped
      when tf_keras is not installed).
  """
  modules = []
  if "keras" in flavours:
    import keras  # pylint: disable=import-outside-toplevel
    modules.append(keras)
  tf_keras = _tf_keras(required=False) if "tf_keras" in flavours else None
  if tf_keras is not None:
    modules.append(tf_keras)
  for module in modules:
    for name in _STOCK_OPTIMIZERS:
      _subclass(getattr(module.optimizers, name))
  if tf_keras is not None:
    for name in _LEGACY_OPTIMIZERS:
      _subclass(getattr(tf_keras.optimizers.legacy, name))


def _tf_keras(required=True):
  try:
    import tf_keras  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    if not required:
      return None
    raise tf.errors.FailedPreconditionError(
        None, None, "DynamicEmbeddingOptimizer wraps tf_keras optimizers; "
        f"install tf_keras (pip install '{version.TF_KERAS_REQUIREMENT}')") from e
  return tf_keras


def _unsupported(cls, tf_keras):
  del tf_keras
  name = f"{cls.__module__}.{cls.__qualname__}"
  hint = ("pass a Keras 3 (keras.optimizers), tf_keras (tf_keras.optimizers), "
          "tf_keras legacy (tf_keras.optimizers.legacy) or TF1 "
          "(tf.compat.v1.train) optimizer instance")
  return f"self: cannot wrap optimizer {name}: {hint}"
