"""The zoo's building blocks against numpy references, in both Kerases."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from zoo_flavours import zoo  # pylint: disable=unused-import

RNG = np.random.default_rng(7)
ROWS = RNG.normal(size=(3, 4, 5)).astype(np.float32)  # [B, F, K]


def test_fm_equals_the_sum_over_field_pairs(zoo):
  want = sum((ROWS[:, i] * ROWS[:, j]).sum(1)
             for i, j in itertools.combinations(range(4), 2))[:, None]
  np.testing.assert_allclose(zoo.models.FM()(ROWS).numpy(), want, rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("kind", ["field_all", "field_each",
                                  "field_interaction"])
def test_bilinear_interaction_equals_per_pair_products(zoo, kind):
  layer = zoo.models.BilinearInteraction(kind)
  out = layer(ROWS).numpy()
  kernel = layer.kernel.numpy()
  pairs = list(itertools.combinations(range(4), 2))
  want = np.stack([
      (ROWS[:, i] @ kernel[{"field_all": 0, "field_each": i,
                            "field_interaction": p}[kind]]) * ROWS[:, j]
      for p, (i, j) in enumerate(pairs)], axis=1)
  assert out.shape == (3, 6, 5)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_senet_scales_each_field_by_its_excitation(zoo):
  layer = zoo.models.SENET(2)
  out = layer(ROWS).numpy()
  w1, b1 = (w.numpy() for w in layer.squeeze.weights)
  w2, b2 = (w.numpy() for w in layer.excite.weights)
  z = ROWS.mean(2)
  weights = np.maximum(np.maximum(z @ w1 + b1, 0) @ w2 + b2, 0)
  np.testing.assert_allclose(out, ROWS * weights[:, :, None], rtol=1e-5,
                             atol=1e-6)


def test_dice_mixes_x_and_alpha_x_by_the_normalized_gate(zoo):
  layer = zoo.models.Dice(epsilon=1e-3)
  x = RNG.normal(size=(8, 3)).astype(np.float32)
  layer(x)  # builds
  layer.alpha.assign([0.1, 0.2, 0.3])
  out = layer(x, training=True).numpy()
  p = 1 / (1 + np.exp(-(x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)))
  np.testing.assert_allclose(out, p * x + (1 - p) * [0.1, 0.2, 0.3] * x,
                             rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("normalize", [False, True])
def test_attention_pooling_weighs_unmasked_steps(zoo, normalize):
  layer = zoo.models.AttentionPooling(hidden_units=(4,), normalize=normalize)
  query = RNG.normal(size=(2, 3)).astype(np.float32)
  history = RNG.normal(size=(2, 5, 3)).astype(np.float32)
  mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], bool)
  out = layer(query, history, mask).numpy()
  (w1, b1), (w2, b2) = [[w.numpy() for w in d.weights]
                        for d in layer.hidden + [layer.score]]
  q = np.repeat(query[:, None], 5, axis=1)
  x = np.concatenate([q, history, q - history, q * history], -1)
  scores = ((1 / (1 + np.exp(-(x @ w1 + b1)))) @ w2 + b2)[..., 0]
  if normalize:
    scores = np.where(mask, np.exp(scores), 0)
    scores /= scores.sum(1, keepdims=True)
  else:
    scores = np.where(mask, scores, 0)
  np.testing.assert_allclose(out, (scores[..., None] * history).sum(1),
                             rtol=1e-4, atol=1e-5)


def test_mlp_has_the_layers_it_was_given(zoo):
  mlp = zoo.models.MLP([6, 2], activation="dice", dropout=0.5,
                       batch_norm=True, seed=1)
  assert mlp(np.ones((4, 3), np.float32), training=False).shape == (4, 2)
  kinds = [type(layer).__name__ for layer in mlp.stack]
  assert kinds == ["Dense", "BatchNormalization", "Dice", "Dropout"] * 2


@pytest.mark.parametrize("key_dtype", [tf.int64, tf.int32, tf.string])
def test_field_embedding_keeps_fields_apart(zoo, key_dtype):
  fields = zoo.models.FieldEmbedding(3, 2, key_dtype=key_dtype)
  ids = [[5, 5, 6]] if key_dtype != tf.string else [["5", "5", "6"]]
  ids = tf.constant(ids, key_dtype)
  keys = fields.keys(ids).numpy().ravel().tolist()
  assert len(set(keys)) == 3
  fields.embedding.params.upsert(keys, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
  assert fields(ids).numpy().tolist() == [[[1.0, 1.0], [2.0, 2.0],
                                           [3.0, 3.0]]]
  # Field 0's keys are the raw ids (the history lookup of TwoTower).
  assert fields.keys(ids[:, :1], field=0).numpy().ravel().tolist() == \
      keys[:1]


@pytest.mark.parametrize("ids,match", [
    (np.array([[1, -1]], np.int64), "2\\*\\*56"),
    (np.array([[1, 2**56]], np.int64), "2\\*\\*56"),
])
def test_field_embedding_refuses_ids_outside_the_key_space(zoo, ids, match):
  fields = zoo.models.FieldEmbedding(2, 2)
  with pytest.raises(tf.errors.InvalidArgumentError, match=match):
    fields(ids)


@pytest.mark.parametrize("ids,match", [
    (np.array([[1, 2, 3]], np.int64), "\\[batch, 2\\]"),
    (np.array([[1, 2]], np.int32), "key_dtype int64"),
])
def test_field_embedding_refuses_wrong_ids(zoo, ids, match):
  fields = zoo.models.FieldEmbedding(2, 2)
  with pytest.raises(tf.errors.InvalidArgumentError, match=match):
    fields(ids)


@pytest.mark.parametrize("make,arg", [
    (lambda m: m.FieldEmbedding(0, 2), "num_fields"),
    (lambda m: m.FieldEmbedding(128, 2), "num_fields"),
    (lambda m: m.SENET(0), "reduction_ratio"),
    (lambda m: m.BilinearInteraction("all"), "bilinear_type"),
    (lambda m: m.Dice(epsilon=0), "epsilon"),
    (lambda m: m.MLP("64"), "units"),
    (lambda m: m.MLP([4], dropout=1.0), "dropout"),
    (lambda m: m.DeepFM(4, hidden_units=[0]), "hidden_units"),
    (lambda m: m.MMoE(4, tasks=("a", "a")), "tasks"),
    (lambda m: m.MMoE(4, expert_units=()), "expert_units"),
    (lambda m: m.TwoTower(1, 1, history_encoder="rnn"), "history_encoder"),
    (lambda m: m.TwoTower(1, 1, temperature=0), "temperature"),
    (lambda m: m.TwoTower(0, 1), "user_fields"),
    (lambda m: m.TwoTower(1, 200), "item_fields"),
    (lambda m: m.TwoTower(1, 1, history_padding="x"), "history_padding"),
    (lambda m: m.DeepFM(4, embedding_size=0), "embedding_size"),
])
def test_bad_arguments_are_named(zoo, make, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    make(zoo.models)


@pytest.mark.parametrize("name", ["FM", "SENET", "BilinearInteraction",
                                  "Dice", "AttentionPooling", "MLP"])
def test_block_config_round_trips(zoo, name):
  args = {"MLP": ([3],)}.get(name, ())
  layer = getattr(zoo.models, name)(*args, name="block")
  again = type(layer).from_config(layer.get_config())
  assert again.get_config() == layer.get_config()
