"""Docstrings of the zoo's classes, written once for both Kerases.

`doc(name, flavour)` fills `{flavour}` ("keras3" or "tf_keras") and
`{keras}` (the Keras module's import name) into the template.
"""

_CTR_ARGS = """    num_fields: Categorical fields (1 to 127): `inputs["categorical"]` is
      `[batch, num_fields]` raw ids.
    embedding_size: Row width of every field.
    num_dense: Dense features (`inputs["dense"]`, `[batch, num_dense]`).
    key_dtype: Id dtype: int64, int32 or string.
    max_unique_ids: Keras 3: the most distinct (field, id) pairs of one
      training batch (None: the embedding layer's default).
    seed: Seed of the initializers (None: random)."""

_CTR_RAISES = """  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; when
      called, inputs without `categorical` ids (or `dense` features when
      `num_dense > 0`), ids of another dtype or field count, or negative
      integer ids or ids >= 2**56."""

_CTR_EXAMPLE_DATA = """    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> x = {{"categorical": np.array([[3, 7], [3, 9]], np.int64),
    ...      "dense": np.ones((2, 1), np.float32)}}"""

DOCS = {
    "FieldEmbedding": """Rows of many categorical fields from one dynamic table.

  Ids `[batch, num_fields]` give rows `[batch, num_fields, embedding_size]`.
  The fields share one `de.keras.layers` embedding (`self.embedding`) whose
  keys are (field, id) pairs, so the same raw id in two fields reads two
  rows: integer ids are written as `field * 2**56 + id`, string ids as
  `"<field>:<id>"`.

  Args:
    num_fields: Number of fields, 1 to 127.
    embedding_size: Row width.
    key_dtype: Id dtype: int64, int32 or string.
    initializer: Rows of unseen ids, as for `de.keras.layers.Embedding`.
    max_unique_ids: Keras 3: the most distinct keys of one training call.
    **kwargs: Keras layer arguments (`name`, `dtype`).

  Returns:
    Calling the layer returns `[batch, num_fields, embedding_size]` rows.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument; when called, ids of
      another dtype or shape, or integer ids outside [0, 2**56).

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> fields = zoo.FieldEmbedding(2, 4, initializer="zeros")
    >>> fields(np.array([[5, 5]], np.int64)).shape.as_list()
    [1, 2, 4]
    >>> fields.keys(np.array([[5, 5]], np.int64)).numpy().tolist()
    [[5, 72057594037927941]]
  """,
    "FM": """The factorization machine's pairwise interaction term.

  Rows `[batch, fields, k]` give `sum_(i<j) <v_i, v_j>` as `[batch, 1]`,
  computed in O(fields k).

  Args:
    **kwargs: Keras layer arguments.

  Returns:
    Calling the layer returns `[batch, 1]`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> rows = np.array([[[1.0, 0.0], [2.0, 1.0], [0.0, 3.0]]], np.float32)
    >>> zoo.FM()(rows).numpy().tolist()  # 2 + 0 + 3
    [[5.0]]
  """,
    "SENET": """FiBiNET's squeeze-excitation: learned per-field weights.

  Rows `[batch, fields, k]` are mean-pooled per field, passed through two
  ReLU layers (`fields / reduction_ratio` units, then `fields`), and each
  field's row is scaled by its weight.

  Args:
    reduction_ratio: Squeeze factor, an int >= 1.
    **kwargs: Keras layer arguments.

  Returns:
    Calling the layer returns rows of the input's shape.

  Raises:
    tf.errors.InvalidArgumentError: a bad `reduction_ratio`, or inputs
      whose field count is unknown.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> zoo.SENET(2)(np.ones((1, 4, 3), np.float32)).shape.as_list()
    [1, 4, 3]
  """,
    "BilinearInteraction": """FiBiNET's bilinear interaction of field pairs.

  For each pair of fields i < j, `p_ij = (v_i W) * v_j`: rows
  `[batch, F, k]` give `[batch, F (F - 1) / 2, k]`.

  Args:
    bilinear_type: "field_all" (one W), "field_each" (one W per field i) or
      "field_interaction" (one W per pair).
    **kwargs: Keras layer arguments.

  Returns:
    Calling the layer returns `[batch, F (F - 1) / 2, k]`.

  Raises:
    tf.errors.InvalidArgumentError: another `bilinear_type`, or inputs
      with fewer than 2 fields or unknown sizes.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> layer = zoo.BilinearInteraction("field_each")
    >>> layer(np.ones((2, 4, 3), np.float32)).shape.as_list()
    [2, 6, 3]
  """,
    "Dice": """DIN's data-adaptive activation (a smooth, adaptive PReLU).

  `f(x) = p x + (1 - p) alpha x` with `p = sigmoid(batchnorm(x))` and a
  learned `alpha` per unit (zeros at first); PReLU is the case where `p`
  is the step at 0.

  Args:
    epsilon: Batch normalization epsilon, > 0.
    momentum: Momentum of the moving statistics, in [0, 1).
    **kwargs: Keras layer arguments.

  Returns:
    Calling the layer returns a tensor of the input's shape.

  Raises:
    tf.errors.InvalidArgumentError: a bad `epsilon` or `momentum`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> x = np.array([[-1.0], [1.0]], np.float32)
    >>> [round(float(y), 3) for y in zoo.Dice()(x, training=True)[:, 0]]
    [-0.269, 0.731]
  """,
    "AttentionPooling": """DIN's attention pooling of a history for a query.

  `w_t = MLP([q, h_t, q - h_t, q * h_t])` for each history step `h_t`;
  the output is `sum_t w_t h_t`. Masked steps weigh 0; `normalize=True`
  makes the weights a softmax over the unmasked steps.

  Args:
    hidden_units: Widths of the MLP's hidden layers.
    activation: Their activation.
    normalize: Whether the weights are a softmax.
    **kwargs: Keras layer arguments.

  Returns:
    Calling `layer(query [B, k], history [B, T, k], mask [B, T] or None)`
    returns `[B, k]`.

  Raises:
    tf.errors.InvalidArgumentError: bad `hidden_units`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> pool = zoo.AttentionPooling(normalize=True)
    >>> history = np.ones((1, 3, 2), np.float32)
    >>> mask = np.array([[True, True, False]])
    >>> pool(np.ones((1, 2), np.float32), history, mask).numpy().tolist()
    [[1.0, 1.0]]
  """,
    "MLP": """A stack of Dense layers (with optional batch norm and dropout).

  Args:
    units: Widths of the layers.
    activation: Their activation; "dice" puts a `Dice` after each.
    dropout: Dropout rate after each layer, in [0, 1).
    batch_norm: Whether a BatchNormalization follows each layer.
    seed: Seed of the kernel initializers and dropout.
    **kwargs: Keras layer arguments.

  Returns:
    Calling the layer returns `[..., units[-1]]`.

  Raises:
    tf.errors.InvalidArgumentError: bad `units` or `dropout`.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> zoo.MLP([8, 4], activation="dice")(np.ones((2, 3))).shape.as_list()
    [2, 4]
  """,
    "LogisticRegression": """The baseline: logistic regression on raw ids.

  One learned weight per (field, id) in a dynamic table, a linear term over
  the dense features and a bias; outputs the click probability `[B, 1]`.

  Args:
""" + _CTR_ARGS.replace("    embedding_size: Row width of every field.\n",
                        "") + """

  Returns:
    Calling the model returns `[batch, 1]` probabilities.

""" + _CTR_RAISES + """

  Example:
""" + _CTR_EXAMPLE_DATA + """
    >>> zoo.LogisticRegression(2, num_dense=1)(x).shape.as_list()
    [2, 1]
  """,
    "DeepFM": """DeepFM: linear, FM and deep logits over shared field rows.

  Each (field, id) row holds its first-order weight (column 0) and its
  `embedding_size` factors; the factors feed the FM pairwise term and an
  MLP (with the dense features). Outputs the click probability `[B, 1]`.
  Train with binary cross-entropy and an optimizer wrapped in
  `de.DynamicEmbeddingOptimizer`.

  Args:
""" + _CTR_ARGS + """
    hidden_units: Widths of the deep part's layers.
    dropout: Dropout rate of the deep part.

  Returns:
    Calling the model returns `[batch, 1]` probabilities.

""" + _CTR_RAISES + """

  Example:
""" + _CTR_EXAMPLE_DATA + """
    >>> zoo.DeepFM(2, embedding_size=4, num_dense=1)(x).shape.as_list()
    [2, 1]
  """,
    "FiBiNET": """FiBiNET: SENET field weights and bilinear interactions.

  The field rows and their SENET-reweighted copy each go through a
  bilinear interaction; both are concatenated with the dense features into
  an MLP, whose logit adds to the linear term. Outputs `[B, 1]`.

  Args:
""" + _CTR_ARGS + """
    reduction_ratio: SENET's squeeze factor.
    bilinear_type: "field_all", "field_each" or "field_interaction".
    hidden_units: Widths of the MLP's layers.
    dropout: Dropout rate of the MLP.

  Returns:
    Calling the model returns `[batch, 1]` probabilities.

""" + _CTR_RAISES + """

  Example:
""" + _CTR_EXAMPLE_DATA + """
    >>> zoo.FiBiNET(2, embedding_size=4, num_dense=1)(x).shape.as_list()
    [2, 1]
  """,
    "ESMM": """ESMM: CTR and CVR towers trained on the entire impression space.

  Both towers read the shared field rows. The outputs are
  `{{"ctr": p(click), "ctcvr": p(click) * p(conversion | click)}}`; train
  both with binary cross-entropy against the click label and the
  click-and-conversion label of every impression, so the CVR tower is
  learned without the sample selection bias of training on clicks only.
  `ctcvr / ctr` is the CVR.

  Args:
""" + _CTR_ARGS + """
    hidden_units: Widths of each tower's layers.
    dropout: Dropout rate of the towers.

  Returns:
    Calling the model returns `{{"ctr": [B, 1], "ctcvr": [B, 1]}}`.

""" + _CTR_RAISES + """

  Example:
""" + _CTR_EXAMPLE_DATA + """
    >>> out = zoo.ESMM(2, embedding_size=4, num_dense=1)(x)
    >>> bool(np.all(out["ctcvr"].numpy() <= out["ctr"].numpy()))
    True
  """,
    "MMoE": """MMoE: shared experts mixed by one softmax gate per task.

  `num_experts` MLPs read the field rows and dense features; each task's
  gate weighs the experts' outputs, and the task's tower turns the mixture
  into a probability. Outputs `{{task: [B, 1]}}`.

  Args:
""" + _CTR_ARGS + """
    tasks: Distinct task names (the output keys).
    num_experts: Number of experts, >= 1.
    expert_units: Widths of each expert's layers (at least one).
    tower_units: Widths of each task tower's layers.
    dropout: Dropout rate of the experts and towers.

  Returns:
    Calling the model returns `{{task: [batch, 1]}}` probabilities.

""" + _CTR_RAISES + """

  Example:
""" + _CTR_EXAMPLE_DATA + """
    >>> out = zoo.MMoE(2, num_dense=1, tasks=("click", "like"))(x)
    >>> sorted(out), out["like"].shape.as_list()
    (['click', 'like'], [2, 1])
  """,
    "TwoTower": """Two-tower retrieval trained with an in-batch softmax.

  The query tower reads the user's field rows (and, with a
  `history_encoder`, a summary of the items in `inputs["history"]`: their
  mean ("bow"), a 1-D convolution max-pooled ("cnn") or an LSTM ("lstm"));
  the candidate tower reads the item's field rows; both end in unit
  vectors. The history shares the item table (item field 0). Training
  (`fit` with no labels) minimizes the in-batch softmax cross-entropy of
  `q . c / temperature - log(item_probability)`: the log-Q correction for
  items drawn by popularity; other rows of the batch with the same item id
  are masked out.

  Args:
    user_fields: Number of user fields (`inputs["user"]`: `[B, n]`).
    item_fields: Number of item fields (`inputs["item"]`: `[B, n]`; field 0
      is the item id).
    embedding_size: Row width.
    tower_units: Widths of each tower's layers; the last is the output
      width.
    history_encoder: None, "bow", "cnn" or "lstm".
    history_padding: The id that pads short histories (0; "" for string
      ids).
    temperature: Softmax temperature, > 0.
    key_dtype: Id dtype: int64, int32 or string.
    max_unique_ids: Keras 3: the most distinct ids of one training call
      per table.
    seed: Seed of the initializers.
    **kwargs: Keras model arguments.

  Returns:
    Calling the model returns `{{"query": [B, d], "candidate": [B, d]}}`;
    `query_embedding(inputs)` and `candidate_embedding(items)` compute one
    side; `top_k(inputs, candidate_ids, candidates, k)` ranks candidates
    (a `serving_fn` for `de.export_static`).

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; inputs
      without the keys the towers need.

  Example:
    >>> import numpy as np
    >>> from tensorflow_recommenders_addons.models import {flavour} as zoo
    >>> model = zoo.TwoTower(1, 1, embedding_size=4, tower_units=(8,),
    ...                      history_encoder="bow")
    >>> x = {{"user": np.array([[1], [2]]), "item": np.array([[10], [11]]),
    ...      "history": np.array([[10, 0], [12, 11]])}}
    >>> out = model(x)
    >>> np.round(np.linalg.norm(out["query"].numpy(), axis=1), 4).tolist()
    [1.0, 1.0]
  """,
}


def doc(name, flavour):
  """The docstring of class `name` for `flavour` ("keras3"/"tf_keras")."""
  return DOCS[name].format(flavour=flavour)
