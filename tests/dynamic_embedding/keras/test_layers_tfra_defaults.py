"""The layers' TFRA defaults: without an `initializer`, unseen ids read rows
drawn from `RandomNormal()` (mean 0, stddev 0.05), as in TFRA, not zeros;
so a dot-product two-tower model of default layers learns."""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from layer_flavours import flavour  # pylint: disable=unused-import


def test_default_rows_are_random_normal_and_differ_per_id(flavour):
  layer = flavour.layers.Embedding(8, name="tfra_default_rows")
  rows = layer(tf.range(4000, dtype=tf.int64)).numpy()
  assert abs(rows.mean()) < 0.003  # 32000 draws: sd of the mean 0.0003
  np.testing.assert_allclose(rows.std(), 0.05, rtol=0.05)
  # Whole rows: two of 4,000 float32 draws of N(0, 0.05) in one column
  # coincide about one run in six; two 8-wide rows practically never.
  assert len(np.unique(rows, axis=0)) == 4000


def test_default_initializer_survives_config_round_trip(flavour):
  layer = flavour.layers.SquashedEmbedding(4, name="tfra_default_config")
  config = layer.get_config()
  assert config["initializer"]["class_name"] == "RandomNormal"
  assert config["initializer"]["config"]["stddev"] == 0.05
  clone = type(layer).from_config(config)
  assert isinstance(clone.initializer, flavour.keras.initializers.RandomNormal)


def test_two_tower_model_of_default_layers_learns(flavour):
  k = flavour.keras
  users = k.Input([1], dtype="int64", name="user")
  items = k.Input([1], dtype="int64", name="item")
  u = flavour.layers.SquashedEmbedding(8, name="tfra_user_tower")(users)
  i = flavour.layers.SquashedEmbedding(8, name="tfra_item_tower")(items)
  logits = k.layers.Dot(axes=1)([u, i])
  model = k.Model([users, items], logits)
  model.compile(de.DynamicEmbeddingOptimizer(k.optimizers.Adam(0.05)),
                loss=k.losses.BinaryCrossentropy(from_logits=True))
  rng = np.random.default_rng(0)
  user_ids = rng.integers(0, 20, size=(512, 1))
  item_ids = rng.integers(0, 20, size=(512, 1))
  labels = ((user_ids + item_ids) % 2).astype("float32")
  history = model.fit([user_ids, item_ids], labels, batch_size=64, epochs=5,
                      verbose=0).history["loss"]
  # Zero rows give logit 0 and zero gradients: the loss would stay ln 2.
  assert history[-1] < 0.6
