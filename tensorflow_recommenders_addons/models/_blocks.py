"""The Keras-agnostic bodies of the model zoo's building blocks.

keras3.py and tf_keras.py mix each class here in front of their Keras's
`Layer` and set `_KERAS` (the Keras module) and `_EMBEDDING` (that Keras's
`de.keras.layers` embedding class). The math is plain TensorFlow, so the same
code runs in both Kerases, in `tf.function`s and in exported TFLite models.

Shapes: `B` batch, `F` fields, `K` embedding width, `T` history length.
"""

import itertools

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import static_export
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v

# FieldEmbedding keeps the fields of integer ids apart in one table by
# writing the field into the top bits: key = field * 2**56 + id.
FIELD_SHIFT = 56
MAX_INT_ID = 2**FIELD_SHIFT - 1
MAX_FIELDS = 127  # 127 * 2**56 + MAX_INT_ID < 2**63

_KEY_DTYPES = (tf.int64, tf.int32, tf.string)


def check_units(arg, units):
  """`units` as a tuple of ints >= 1 (a sequence, maybe empty)."""
  if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
    raise v.invalid(f"{arg}: must be a sequence of layer widths, got "
                    f"{units!r}")
  return tuple(v.check_int(arg, u, 1) for u in units)


def check_rate(arg, rate):
  """`rate` as a float in [0, 1)."""
  return v.check_number(arg, rate, 0, 1, low_closed=True)


def _initializer_config(keras, initializer):
  """`initializer` as a config value: None, a name and a number stay as
  they are (the embedding layer reads all three), objects serialize."""
  if initializer is None or isinstance(initializer, (str, int, float)):
    return initializer
  return keras.initializers.serialize(keras.initializers.get(initializer))


class FieldEmbeddingBody:
  """Body of `FieldEmbedding`: ids `[B, F]` -> rows `[B, F, K]` from one
  dynamic table whose keys are (field, id) pairs, so the same raw id in two
  fields reads two rows. Integer ids must lie in [0, 2**56); string ids are
  prefixed with `"<field>:"` (the first ':' ends the field, so no two pairs
  share a key)."""

  _KERAS = None
  _EMBEDDING = None

  def __init__(self, num_fields, embedding_size, key_dtype=tf.int64,
               initializer=None, max_unique_ids=None, **kwargs):
    self.num_fields = v.check_int("num_fields", num_fields, 1, MAX_FIELDS)
    self.embedding_size = v.check_int("embedding_size", embedding_size, 1)
    self.key_dtype = v.check_dtype("key_dtype", key_dtype, _KEY_DTYPES)
    if max_unique_ids is not None:
      max_unique_ids = v.check_int("max_unique_ids", max_unique_ids, 1)
    self.max_unique_ids = max_unique_ids
    super().__init__(**kwargs)
    self.initializer = initializer
    table_key = tf.string if self.key_dtype == tf.string else tf.int64
    extra = {} if max_unique_ids is None else {
        "max_unique_ids": max_unique_ids}
    self.embedding = self._EMBEDDING(
        self.embedding_size, key_dtype=table_key, initializer=initializer,
        name=f"{self.name}_table", **extra)

  def _checked(self, ids, field):
    ids = tf.convert_to_tensor(ids)
    if ids.dtype != self.key_dtype:
      raise v.invalid(f"ids: layer {self.name!r} has key_dtype "
                      f"{self.key_dtype.name}, got {ids.dtype.name} ids")
    if field is None and ids.shape.rank is not None and (
        ids.shape.rank != 2 or
        ids.shape[1] not in (None, self.num_fields)):
      raise v.invalid(f"ids: layer {self.name!r} needs [batch, "
                      f"{self.num_fields}] ids, got shape {ids.shape}")
    return ids

  def keys(self, ids, field=None):
    """The table keys of `ids`: `[B, F]` ids of every field, or ids of any
    shape all of field `field`."""
    ids = self._checked(ids, field)
    fields = range(self.num_fields) if field is None else [field]
    if self.key_dtype == tf.string:
      prefixes = tf.constant([f"{f}:" for f in fields])
      return tf.strings.join([tf.broadcast_to(prefixes, tf.shape(ids)), ids])
    ids = tf.cast(ids, tf.int64)
    check = tf.debugging.Assert(
        tf.reduce_all((ids >= 0) & (ids <= MAX_INT_ID)),
        [f"ids: layer {self.name!r} takes integer ids in [0, 2**56)"])
    offsets = tf.constant([f << FIELD_SHIFT for f in fields], tf.int64)
    with tf.control_dependencies([check]):
      return ids + offsets

  def holds(self, ids, field=None):
    """Whether the table holds a row for each id (bool, shaped like
    `ids`): ids it does not hold read initializer rows."""
    keys = self.keys(ids, field)
    return self.embedding.params.lookup(keys, return_exists=True)[1]

  def rows(self, ids, field=None):
    """Rows `ids.shape + [embedding_size]` of `[B, F]` ids of every field,
    or of ids of any shape all of field `field`."""
    frozen = static_export.frozen_table(self.embedding)
    if frozen is None or self.key_dtype != tf.string:
      return self.embedding(self.keys(ids, field))
    # Exporting string ids (de.export_static): look each field's raw ids
    # up in that field's own table, not "<field>:<id>" keys (StringJoin is
    # not a TFLite op).
    ids = self._checked(ids, field)
    if field is None:
      index = tf.stack([frozen.index_in_field(ids[:, f], f)
                        for f in range(self.num_fields)], axis=1)
    else:
      index = frozen.index_in_field(ids, field)
    rows = tf.gather(frozen.matrix, index)
    return tf.cast(rows, self.embedding.compute_dtype)

  def call(self, ids):  # pylint: disable=arguments-differ
    return self.rows(ids)

  def get_config(self):
    config = super().get_config()
    config.update(num_fields=self.num_fields,
                  embedding_size=self.embedding_size,
                  key_dtype=self.key_dtype.name,
                  initializer=_initializer_config(self._KERAS,
                                                  self.initializer),
                  max_unique_ids=self.max_unique_ids)
    return config


class FMBody:
  """Body of `FM`: the factorization machine's pairwise term
  `sum_{i<j} <v_i, v_j>` of rows `[B, F, K]`, as `[B, 1]`, computed in
  O(F K) as `0.5 * sum_k ((sum_i v_ik)^2 - sum_i v_ik^2)`."""

  def call(self, rows):  # pylint: disable=arguments-differ
    square_of_sum = tf.square(tf.reduce_sum(rows, axis=1))
    sum_of_squares = tf.reduce_sum(tf.square(rows), axis=1)
    return 0.5 * tf.reduce_sum(square_of_sum - sum_of_squares, axis=1,
                               keepdims=True)


class SENETBody:
  """Body of `SENET` (FiBiNET's squeeze-excitation): each field's row is
  scaled by a weight computed from all fields' mean-pooled rows:
  `A = relu(W2 relu(W1 mean_k(v)))`, `out_i = A_i v_i`."""

  _KERAS = None

  def __init__(self, reduction_ratio=3, **kwargs):
    self.reduction_ratio = v.check_int("reduction_ratio", reduction_ratio, 1)
    super().__init__(**kwargs)

  def build(self, input_shape):
    fields = input_shape[1]
    if fields is None:
      raise v.invalid(f"inputs: layer {self.name!r} needs a known number of "
                      f"fields, got shape {input_shape}")
    hidden = max(1, fields // self.reduction_ratio)
    dense = self._KERAS.layers.Dense
    self.squeeze = dense(hidden, activation="relu", name="squeeze")
    self.excite = dense(fields, activation="relu", name="excite")
    self.squeeze.build((None, fields))
    self.excite.build((None, hidden))
    self.built = True

  def call(self, rows):  # pylint: disable=arguments-differ
    weights = self.excite(self.squeeze(tf.reduce_mean(rows, axis=2)))
    return rows * weights[:, :, None]

  def get_config(self):
    config = super().get_config()
    config["reduction_ratio"] = self.reduction_ratio
    return config


BILINEAR_TYPES = ("field_all", "field_each", "field_interaction")


class BilinearInteractionBody:
  """Body of `BilinearInteraction` (FiBiNET): for each field pair i < j,
  `p_ij = (v_i W) * v_j` with one `W` (field_all), one per field i
  (field_each) or one per pair (field_interaction): `[B, F, K]` ->
  `[B, F (F - 1) / 2, K]`."""

  _KERAS = None

  def __init__(self, bilinear_type="field_interaction", **kwargs):
    if bilinear_type not in BILINEAR_TYPES:
      raise v.invalid(f"bilinear_type: must be one of {BILINEAR_TYPES}, got "
                      f"{bilinear_type!r}")
    self.bilinear_type = bilinear_type
    super().__init__(**kwargs)

  def build(self, input_shape):
    fields, width = input_shape[1], input_shape[2]
    if fields is None or width is None or fields < 2:
      raise v.invalid(f"inputs: layer {self.name!r} needs [batch, fields >= "
                      f"2, width] with both known, got shape {input_shape}")
    pairs = list(itertools.combinations(range(fields), 2))
    self._left = [i for i, _ in pairs]
    self._right = [j for _, j in pairs]
    count = {"field_all": 1, "field_each": fields,
             "field_interaction": len(pairs)}[self.bilinear_type]
    self.kernel = self.add_weight(
        name="kernel", shape=(count, width, width),
        initializer=self._KERAS.initializers.GlorotUniform())
    self.built = True

  def call(self, rows):  # pylint: disable=arguments-differ
    left = tf.gather(rows, self._left, axis=1)    # [B, P, K]
    right = tf.gather(rows, self._right, axis=1)  # [B, P, K]
    kernel = self.kernel
    if self.bilinear_type == "field_each":
      kernel = tf.gather(kernel, self._left)      # [P, K, K]
    # [P, B, K] @ [P or 1, K, K]: one matmul per pair, batched.
    projected = tf.matmul(tf.transpose(left, [1, 0, 2]), kernel)
    return tf.transpose(projected, [1, 0, 2]) * right

  def get_config(self):
    config = super().get_config()
    config["bilinear_type"] = self.bilinear_type
    return config


class DiceBody:
  """Body of `Dice` (DIN's data-adaptive activation): `p x + (1 - p) a x`
  with `p = sigmoid(batchnorm(x))` and a learned `a` per unit. PReLU is
  the special case where `p` is the step function at 0."""

  _KERAS = None

  def __init__(self, epsilon=1e-8, momentum=0.99, **kwargs):
    self.epsilon = v.check_number("epsilon", epsilon, 0)
    self.momentum = check_rate("momentum", momentum)
    super().__init__(**kwargs)
    self.norm = self._KERAS.layers.BatchNormalization(
        center=False, scale=False, epsilon=self.epsilon,
        momentum=self.momentum, name="norm")

  def build(self, input_shape):
    self.alpha = self.add_weight(name="alpha", shape=(input_shape[-1],),
                                 initializer="zeros")
    self.norm.build(input_shape)
    self.built = True

  def call(self, x, training=None):  # pylint: disable=arguments-differ
    p = tf.sigmoid(self.norm(x, training=training))
    return p * x + (1.0 - p) * self.alpha * x

  def get_config(self):
    config = super().get_config()
    config.update(epsilon=self.epsilon, momentum=self.momentum)
    return config


class AttentionPoolingBody:
  """Body of `AttentionPooling` (DIN's local activation unit): a history
  `[B, T, K]` pooled into `[B, K]` with weights
  `w_t = MLP([q, h_t, q - h_t, q * h_t])` for a query `[B, K]`; masked
  steps weigh 0; `normalize` turns the weights into a softmax over the
  unmasked steps (DIN keeps raw weights)."""

  _KERAS = None

  def __init__(self, hidden_units=(36,), activation="sigmoid",
               normalize=False, **kwargs):
    self.hidden_units = check_units("hidden_units", hidden_units)
    self.activation = activation
    self.normalize = bool(normalize)
    super().__init__(**kwargs)
    dense = self._KERAS.layers.Dense
    self.hidden = [dense(u, activation=activation, name=f"hidden_{i}")
                   for i, u in enumerate(self.hidden_units)]
    self.score = dense(1, name="score")

  def call(self, query, history, mask=None):  # pylint: disable=arguments-differ
    steps = tf.shape(history)[1]
    q = tf.tile(query[:, None, :], tf.stack([1, steps, 1]))
    x = tf.concat([q, history, q - history, q * history], axis=-1)
    for layer in self.hidden:
      x = layer(x)
    weights = tf.squeeze(self.score(x), axis=-1)   # [B, T]
    if mask is not None:
      mask = tf.cast(mask, tf.bool)
      if self.normalize:
        weights = tf.where(mask, weights, tf.fill(tf.shape(weights), -1e9))
      else:
        weights = tf.where(mask, weights, tf.zeros_like(weights))
    if self.normalize:
      weights = tf.nn.softmax(weights, axis=-1)
      if mask is not None:
        weights = weights * tf.cast(mask, weights.dtype)
    return tf.reduce_sum(weights[:, :, None] * history, axis=1)

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=list(self.hidden_units),
                  activation=self.activation, normalize=self.normalize)
    return config


class MLPBody:
  """Body of `MLP`: Dense layers of `units` with `activation` ("dice" for
  `Dice`), optional batch normalization and dropout after each."""

  _KERAS = None
  _DICE = None

  def __init__(self, units, activation="relu", dropout=0.0,
               batch_norm=False, seed=None, **kwargs):
    self.units = check_units("units", units)
    self.activation = activation
    self.dropout = check_rate("dropout", dropout)
    self.batch_norm = bool(batch_norm)
    self.seed = seed
    super().__init__(**kwargs)
    k = self._KERAS
    self.stack = []
    for i, width in enumerate(self.units):
      init = k.initializers.GlorotUniform(
          None if seed is None else seed + i)
      dice = activation == "dice"
      self.stack.append(k.layers.Dense(
          width, activation=None if dice else activation,
          kernel_initializer=init, name=f"dense_{i}"))
      if batch_norm:
        self.stack.append(k.layers.BatchNormalization(name=f"norm_{i}"))
      if dice:
        self.stack.append(self._DICE(name=f"dice_{i}"))
      if self.dropout:
        self.stack.append(k.layers.Dropout(self.dropout, seed=seed,
                                           name=f"dropout_{i}"))

  def call(self, x, training=None):  # pylint: disable=arguments-differ
    for layer in self.stack:
      if isinstance(layer, (self._KERAS.layers.Dense,)):
        x = layer(x)
      else:
        x = layer(x, training=training)
    return x

  def get_config(self):
    config = super().get_config()
    config.update(units=list(self.units), activation=self.activation,
                  dropout=self.dropout, batch_norm=self.batch_norm,
                  seed=self.seed)
    return config
