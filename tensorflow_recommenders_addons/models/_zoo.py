"""The Keras-agnostic bodies of the model zoo's models.

keras3.py and tf_keras.py mix each class here in front of their Keras's
`Model` and set `_KERAS`, `_BLOCKS` (that flavour's block classes by name).

CTR models take a dict: `"categorical"` `[B, num_fields]` raw ids
(int64/int32/string) and, when `num_dense > 0`, `"dense"` `[B, num_dense]`
float32 features. All fields share one dynamic table (a `FieldEmbedding`).
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.models import _blocks


class BuildByCall:
  """`build(input_shape)` runs the model once on a batch of one example of
  that shape (zeros; "" for string ids), so that every weight exists: Keras
  3 rebuilds a loaded `.keras` model this way before loading its weights.
  Lookups read the tables and write nothing."""

  def _input_dtype(self, key):
    return tf.float32 if key in ("dense", "item_probability") else \
        self.key_dtype

  def build(self, input_shape=None):
    if self.built or not isinstance(input_shape, dict):
      self.built = True
      return
    dummy = {}
    for key, shape in input_shape.items():
      shape = [1] + [1 if d is None else int(d) for d in list(shape)[1:]]
      dtype = self._input_dtype(key)
      dummy[key] = tf.fill(shape, tf.constant(
          "" if dtype == tf.string else 0, dtype))
    self.call(dummy, training=False)
    self.built = True


class CTRBody(BuildByCall):
  """Field embeddings and dense features shared by the CTR models.

  `_width_extra` widens the table: DeepFM and FiBiNET keep each id's
  first-order (linear) weight as column 0 of its row.
  """

  _KERAS = None
  _BLOCKS = None
  _width_extra = 0
  _has_dropout = True

  def __init__(self, num_fields, embedding_size=8, num_dense=0,
               key_dtype=tf.int64, max_unique_ids=None, seed=None,
               hidden_units=None, dropout=0.0, **kwargs):
    embedding_size = v.check_int("embedding_size", embedding_size, 1)
    self.num_dense = v.check_int("num_dense", num_dense, 0)
    self.hidden_units = None if hidden_units is None else \
        _blocks.check_units("hidden_units", hidden_units)
    self.dropout = _blocks.check_rate("dropout", dropout)
    self.seed = seed
    super().__init__(**kwargs)
    init = self._KERAS.initializers.RandomNormal(stddev=0.01, seed=seed)
    self.fields = self._BLOCKS["FieldEmbedding"](
        num_fields, embedding_size + self._width_extra, key_dtype=key_dtype,
        initializer=init, max_unique_ids=max_unique_ids,
        name="field_embedding")
    self.num_fields = self.fields.num_fields
    self.embedding_size = embedding_size
    self.key_dtype = self.fields.key_dtype
    self.max_unique_ids = max_unique_ids
    self.dense_linear = self._KERAS.layers.Dense(1, name="dense_linear")

  def _seed(self, offset):
    return None if self.seed is None else self.seed + offset

  def _mlp(self, units, offset, name):
    """An MLP block of `units` with the model's dropout; seeded by
    `seed + offset`."""
    return self._BLOCKS["MLP"](units, dropout=self.dropout,
                               seed=self._seed(offset), name=name)

  def _inputs(self, inputs):
    """`(rows [B, F, K + extra], dense [B, D] or None)`."""
    if not isinstance(inputs, dict) or "categorical" not in inputs:
      raise v.invalid(f"inputs: model {self.name!r} takes a dict with "
                      f"'categorical' ids (and 'dense' features when "
                      f"num_dense > 0), got {type(inputs).__name__}")
    rows = self.fields(inputs["categorical"])
    dense = None
    if self.num_dense:
      if "dense" not in inputs:
        raise v.invalid(f"inputs: model {self.name!r} has num_dense="
                        f"{self.num_dense} but got no 'dense' features")
      dense = tf.cast(inputs["dense"], rows.dtype)
      if dense.shape.rank is not None and dense.shape[-1] not in (
          None, self.num_dense):
        raise v.invalid(f"inputs['dense']: model {self.name!r} needs "
                        f"{self.num_dense} dense features, got shape "
                        f"{dense.shape}")
    return rows, dense

  def _deep_input(self, rows, dense):
    flat = tf.reshape(rows, [-1, rows.shape[1] * rows.shape[2]])
    return flat if dense is None else tf.concat([flat, dense], axis=1)

  def _linear(self, weights, dense):
    """First-order logit `[B, 1]`: the ids' weights `[B, F]` + dense."""
    logit = tf.reduce_sum(weights, axis=1, keepdims=True)
    if dense is not None:
      logit += self.dense_linear(dense)
    return logit

  def get_config(self):
    config = super().get_config()
    config.update(num_fields=self.num_fields,
                  embedding_size=self.embedding_size,
                  num_dense=self.num_dense, key_dtype=self.key_dtype.name,
                  max_unique_ids=self.max_unique_ids, seed=self.seed)
    if self.hidden_units is not None:
      config["hidden_units"] = list(self.hidden_units)
    if self._has_dropout:
      config["dropout"] = self.dropout
    return config


class LogisticRegressionBody(CTRBody):
  """Body of `LogisticRegression`: one weight per (field, id), a linear
  term over the dense features and a bias; `[B, 1]` click probability."""

  _has_dropout = False

  def __init__(self, num_fields, num_dense=0, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    super().__init__(num_fields, 1, num_dense, key_dtype, max_unique_ids,
                     seed, **kwargs)
    self.bias = self.add_weight(name="bias", shape=(1,),
                                initializer="zeros")

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    del training
    rows, dense = self._inputs(inputs)
    return tf.sigmoid(self._linear(rows[:, :, 0], dense) + self.bias)

  def get_config(self):
    config = super().get_config()
    del config["embedding_size"]
    return config


class DeepFMBody(CTRBody):
  """Body of `DeepFM`: linear + FM pairwise + MLP logits over the same
  field rows; `[B, 1]` click probability."""

  _width_extra = 1

  def __init__(self, num_fields, embedding_size=8, num_dense=0,
               hidden_units=(64, 32), dropout=0.0, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    super().__init__(num_fields, embedding_size, num_dense, key_dtype,
                     max_unique_ids, seed, hidden_units, dropout, **kwargs)
    self.fm = self._BLOCKS["FM"](name="fm")
    self.deep = self._mlp(self.hidden_units, 1, "deep")
    self.deep_logit = self._KERAS.layers.Dense(1, name="deep_logit")

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    rows, dense = self._inputs(inputs)
    factors = rows[:, :, 1:]
    deep = self.deep(self._deep_input(factors, dense), training=training)
    logit = (self._linear(rows[:, :, 0], dense) + self.fm(factors) +
             self.deep_logit(deep))
    return tf.sigmoid(logit)


class FiBiNETBody(CTRBody):
  """Body of `FiBiNET`: SENET-reweighted and original rows, each through a
  bilinear interaction, concatenated into an MLP, plus the linear term;
  `[B, 1]` click probability."""

  _width_extra = 1

  def __init__(self, num_fields, embedding_size=8, num_dense=0,
               reduction_ratio=3, bilinear_type="field_interaction",
               hidden_units=(64, 32), dropout=0.0, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    super().__init__(num_fields, embedding_size, num_dense, key_dtype,
                     max_unique_ids, seed, hidden_units, dropout, **kwargs)
    self.senet = self._BLOCKS["SENET"](reduction_ratio, name="senet")
    self.reduction_ratio = self.senet.reduction_ratio
    self.bilinear_type = bilinear_type
    blocks = self._BLOCKS["BilinearInteraction"]
    self.bilinear = blocks(bilinear_type, name="bilinear")
    self.senet_bilinear = blocks(bilinear_type, name="senet_bilinear")
    self.deep = self._mlp(self.hidden_units, 1, "deep")
    self.deep_logit = self._KERAS.layers.Dense(1, name="deep_logit")

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    rows, dense = self._inputs(inputs)
    factors = rows[:, :, 1:]
    both = tf.concat([self.bilinear(factors),
                      self.senet_bilinear(self.senet(factors))], axis=1)
    deep = self.deep(self._deep_input(both, dense), training=training)
    return tf.sigmoid(self._linear(rows[:, :, 0], dense) +
                      self.deep_logit(deep))

  def get_config(self):
    config = super().get_config()
    config.update(reduction_ratio=self.reduction_ratio,
                  bilinear_type=self.bilinear_type)
    return config


class ESMMBody(CTRBody):
  """Body of `ESMM`: CTR and CVR towers over shared field rows; outputs
  `{"ctr": p(click), "ctcvr": p(click) * p(conversion | click)}`, both
  `[B, 1]`, each trained on every impression (the entire space)."""

  def __init__(self, num_fields, embedding_size=8, num_dense=0,
               hidden_units=(64, 32), dropout=0.0, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    super().__init__(num_fields, embedding_size, num_dense, key_dtype,
                     max_unique_ids, seed, hidden_units, dropout, **kwargs)
    dense = self._KERAS.layers.Dense
    self.ctr_tower = self._mlp(self.hidden_units, 1, "ctr_tower")
    self.cvr_tower = self._mlp(self.hidden_units, 2, "cvr_tower")
    self.ctr_logit = dense(1, name="ctr_logit")
    self.cvr_logit = dense(1, name="cvr_logit")

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    rows, dense = self._inputs(inputs)
    x = self._deep_input(rows, dense)
    ctr = tf.sigmoid(self.ctr_logit(self.ctr_tower(x, training=training)))
    cvr = tf.sigmoid(self.cvr_logit(self.cvr_tower(x, training=training)))
    return {"ctr": ctr, "ctcvr": ctr * cvr}


class MMoEBody(CTRBody):
  """Body of `MMoE`: `num_experts` expert MLPs shared by the tasks, one
  softmax gate and one tower per task; outputs `{task: [B, 1]}`
  probabilities."""

  def __init__(self, num_fields, embedding_size=8, num_dense=0,
               tasks=("ctr", "cvr"), num_experts=4, expert_units=(32,),
               tower_units=(16,), dropout=0.0, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    super().__init__(num_fields, embedding_size, num_dense, key_dtype,
                     max_unique_ids, seed, dropout=dropout, **kwargs)
    if isinstance(tasks, str) or not tasks or \
        not all(isinstance(t, str) and t for t in tasks) or \
        len(set(tasks)) != len(tasks):
      raise v.invalid(f"tasks: must be distinct non-empty names, got "
                      f"{tasks!r}")
    self.tasks = tuple(tasks)
    self.num_experts = v.check_int("num_experts", num_experts, 1)
    self.expert_units = _blocks.check_units("expert_units", expert_units)
    self.tower_units = _blocks.check_units("tower_units", tower_units)
    if not self.expert_units:
      raise v.invalid("expert_units: an expert needs at least one layer")
    dense = self._KERAS.layers.Dense
    self.experts = [self._mlp(self.expert_units, 10 + i, f"expert_{i}")
                    for i in range(self.num_experts)]
    self.gates = [dense(self.num_experts, activation="softmax",
                        name=f"gate_{t}") for t in self.tasks]
    self.towers = [self._mlp(self.tower_units, 30 + i, f"tower_{t}")
                   for i, t in enumerate(self.tasks)]
    self.heads = [dense(1, activation="sigmoid", name=f"head_{t}")
                  for t in self.tasks]

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    rows, dense = self._inputs(inputs)
    x = self._deep_input(rows, dense)
    experts = tf.stack([e(x, training=training) for e in self.experts],
                       axis=1)                         # [B, E, U]
    out = {}
    for task, gate, tower, head in zip(self.tasks, self.gates, self.towers,
                                       self.heads):
      mixed = tf.reduce_sum(gate(x)[:, :, None] * experts, axis=1)
      out[task] = head(tower(mixed, training=training))
    return out

  def get_config(self):
    config = super().get_config()
    config.update(tasks=list(self.tasks), num_experts=self.num_experts,
                  expert_units=list(self.expert_units),
                  tower_units=list(self.tower_units))
    return config
