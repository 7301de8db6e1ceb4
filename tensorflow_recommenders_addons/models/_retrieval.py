"""The Keras-agnostic body of `TwoTower`, the zoo's retrieval model.

Inputs (a dict): `"user"` `[B, user_fields]` and `"item"`
`[B, item_fields]` raw ids; with a history encoder, `"history"` `[B, T]`
ids of items the user interacted with (most recent last, `history_padding`
where there are fewer than T); optionally `"item_probability"` `[B]`, the
probability that the sampler of training pairs draws each item (the log-Q
correction). The item table is shared by the item tower and the history:
the history ids are item ids of item field 0, looked up in the same call.
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import static_export
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.models import _blocks
from tensorflow_recommenders_addons.models import _zoo

HISTORY_ENCODERS = (None, "bow", "cnn", "lstm")


class TwoTowerBody(_zoo.BuildByCall):
  """Body of `TwoTower`: query and candidate towers to L2-normalized
  vectors, trained with an in-batch softmax whose logits are
  `q . c / temperature - log(item_probability)`; accidental hits (another
  row of the batch with the same item id) are masked out."""

  _KERAS = None
  _BLOCKS = None

  def __init__(self, user_fields, item_fields, embedding_size=16,
               tower_units=(64, 32), history_encoder=None,
               history_padding=0, temperature=0.1, key_dtype=tf.int64,
               max_unique_ids=None, seed=None, **kwargs):
    for arg, value in (("user_fields", user_fields),
                       ("item_fields", item_fields)):
      v.check_int(arg, value, 1, _blocks.MAX_FIELDS)
    if history_encoder not in HISTORY_ENCODERS:
      raise v.invalid(f"history_encoder: must be one of {HISTORY_ENCODERS}, "
                      f"got {history_encoder!r}")
    temperature = v.check_number("temperature", temperature, 0)
    self.tower_units = _blocks.check_units("tower_units", tower_units)
    if not self.tower_units:
      raise v.invalid("tower_units: a tower needs at least one layer")
    self.history_encoder = history_encoder
    self.history_padding = history_padding
    self.temperature = float(temperature)
    self.seed = seed
    super().__init__(**kwargs)
    k, blocks = self._KERAS, self._BLOCKS
    seeded = lambda i: None if seed is None else seed + i  # noqa: E731
    fields = blocks["FieldEmbedding"]
    init = k.initializers.RandomNormal(stddev=0.05, seed=seed)
    self.user_embedding = fields(user_fields, embedding_size, key_dtype,
                                 initializer=init,
                                 max_unique_ids=max_unique_ids,
                                 name="user_embedding")
    self.item_embedding = fields(item_fields, embedding_size, key_dtype,
                                 initializer=init,
                                 max_unique_ids=max_unique_ids,
                                 name="item_embedding")
    self.user_fields = self.user_embedding.num_fields
    self.item_fields = self.item_embedding.num_fields
    self.embedding_size = self.user_embedding.embedding_size
    self.key_dtype = self.user_embedding.key_dtype
    self.max_unique_ids = max_unique_ids
    if self.key_dtype == tf.string and history_padding == 0:
      self.history_padding = ""  # the string ids' padding
    is_text = isinstance(self.history_padding, (str, bytes))
    if is_text != (self.key_dtype == tf.string) or \
        isinstance(self.history_padding, bool):
      raise v.invalid(f"history_padding: must be an id of key_dtype "
                      f"{self.key_dtype.name}, got {history_padding!r}")
    if history_encoder == "cnn":
      self.history_conv = k.layers.Conv1D(embedding_size, 3, padding="same",
                                          activation="relu",
                                          name="history_conv")
    elif history_encoder == "lstm":
      # Unrolled (histories have a fixed, short length): no while loop, so
      # the model converts to TFLite's builtin ops.
      self.history_lstm = k.layers.LSTM(embedding_size, unroll=True,
                                        name="history_lstm")
    mlp = blocks["MLP"]
    *hidden, out = self.tower_units
    self.query_tower = mlp(hidden, seed=seeded(1), name="query_tower")
    self.query_out = k.layers.Dense(out, name="query_out")
    self.candidate_tower = mlp(hidden, seed=seeded(2),
                               name="candidate_tower")
    self.candidate_out = k.layers.Dense(out, name="candidate_out")
    # tf_keras reports the loss through its compiled loss, which
    # `compute_loss` replaces here; Keras 3 tracks the returned loss itself.
    self._loss_mean = k.metrics.Mean(name="loss") \
        if k.__name__ == "tf_keras" else None

  @property
  def metrics(self):
    """The model's metrics (tf_keras: with the in-batch softmax loss)."""
    extra = [] if self._loss_mean is None else [self._loss_mean]
    return extra + list(super().metrics)

  # Towers ------------------------------------------------------------------

  def _item_rows(self, items, history):
    """Rows of the items `[B, Fi, K]` and of the history `[B, T, K]` (or
    None), read in one call of the item table (a Keras 3 table trains
    through one lookup per step)."""
    table = self.item_embedding
    if history is None:
      return table.rows(items), None
    if static_export.frozen_table(table.embedding) is not None:
      # Exporting: nothing trains, and string ids need the per-field path.
      return table.rows(items), table.rows(history, field=0)
    keys = table.keys(items)
    hkeys = table.keys(history, field=0)
    n = tf.size(keys)
    both = table.embedding(tf.concat([tf.reshape(keys, [-1]),
                                      tf.reshape(hkeys, [-1])], 0))
    width = self.embedding_size
    return (tf.reshape(both[:n], [-1, self.item_fields, width]),
            tf.reshape(both[n:], tf.concat([tf.shape(history), [width]], 0)))

  def _encode_history(self, history, rows):
    """`[B, K]` summary of the history rows (padding excluded)."""
    mask = tf.cast(tf.not_equal(
        history, tf.constant(self.history_padding, history.dtype)),
                   rows.dtype)[:, :, None]
    rows = rows * mask
    if self.history_encoder == "bow":
      return tf.reduce_sum(rows, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
    if self.history_encoder == "cnn":
      return tf.reduce_max(self.history_conv(rows), axis=1)
    return self.history_lstm(rows)

  def _normalized(self, tower, out, x, training):
    return tf.math.l2_normalize(out(tower(x, training=training)), axis=-1)

  def _query(self, inputs, history_rows, training):
    user = self.user_embedding(inputs["user"])
    x = tf.reshape(user, [-1, self.user_fields * self.embedding_size])
    if self.history_encoder is not None:
      x = tf.concat([x, self._encode_history(inputs["history"],
                                             history_rows)], axis=1)
    return self._normalized(self.query_tower, self.query_out, x, training)

  def _candidate(self, item_rows, training):
    x = tf.reshape(item_rows, [-1, self.item_fields * self.embedding_size])
    return self._normalized(self.candidate_tower, self.candidate_out, x,
                            training)

  def _check(self, inputs, needs):
    if not isinstance(inputs, dict) or any(n not in inputs for n in needs):
      got = sorted(inputs) if isinstance(inputs, dict) else \
          type(inputs).__name__
      raise v.invalid(f"inputs: model {self.name!r} needs a dict with keys "
                      f"{list(needs)}, got {got}")

  def _query_needs(self):
    return ("user", "history") if self.history_encoder else ("user",)

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    """`{"query": [B, d], "candidate": [B, d]}` unit vectors."""
    self._check(inputs, self._query_needs() + ("item",))
    history = inputs["history"] if self.history_encoder else None
    item_rows, history_rows = self._item_rows(inputs["item"], history)
    return {"query": self._query(inputs, history_rows, training),
            "candidate": self._candidate(item_rows, training)}

  def query_embedding(self, inputs):
    """Query vectors `[B, d]` of `{"user", "history"?}` (inference)."""
    self._check(inputs, self._query_needs())
    history_rows = None
    if self.history_encoder:
      history_rows = self.item_embedding.rows(inputs["history"], field=0)
    return self._query(inputs, history_rows, False)

  def top_k(self, inputs, candidate_ids, candidates, k=10):
    """The `k` best candidates of each query: `{"items": [B, k] ids,
    "scores": [B, k]}`, scoring `candidates` `[N, d]` (candidate vectors
    of `candidate_ids` `[N]`) by inner product; a `serving_fn` for
    `de.export_static`."""
    scores = tf.matmul(self.query_embedding(inputs), candidates,
                       transpose_b=True)
    top = tf.math.top_k(scores, k)
    return {"items": tf.gather(candidate_ids, top.indices),
            "scores": top.values}

  def candidate_embedding(self, items):
    """Candidate vectors `[B, d]` of item ids `[B, item_fields]`."""
    return self._candidate(self.item_embedding(items), False)

  # Loss --------------------------------------------------------------------

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    """In-batch softmax cross-entropy (log-Q corrected); `y` is unused."""
    del y, training
    if y_pred is None:
      y_pred = self(x, training=True)
    logits = tf.matmul(y_pred["query"], y_pred["candidate"],
                       transpose_b=True) / self.temperature
    if "item_probability" in x:
      q = tf.cast(x["item_probability"], logits.dtype)
      logits -= tf.math.log(tf.maximum(q, 1e-12))[None, :]
    item = x["item"][:, 0]
    same = tf.equal(item[:, None], item[None, :])
    accidental = tf.logical_and(same, tf.logical_not(tf.cast(
        tf.eye(tf.shape(item)[0]), tf.bool)))
    logits = tf.where(accidental, tf.fill(tf.shape(logits), -1e9), logits)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.range(tf.shape(logits)[0]), logits)
    if sample_weight is not None:
      losses *= tf.cast(tf.reshape(sample_weight, [-1]), losses.dtype)
    loss = tf.reduce_mean(losses)
    if self.losses:
      loss += tf.add_n(self.losses)
    if self._loss_mean is not None:
      self._loss_mean.update_state(loss)
    return loss

  def get_config(self):
    config = super().get_config()
    config.update(user_fields=self.user_fields, item_fields=self.item_fields,
                  embedding_size=self.embedding_size,
                  tower_units=list(self.tower_units),
                  history_encoder=self.history_encoder,
                  history_padding=self.history_padding,
                  temperature=self.temperature,
                  key_dtype=self.key_dtype.name,
                  max_unique_ids=self.max_unique_ids, seed=self.seed)
    return config
