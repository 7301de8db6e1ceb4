"""The zoo's models: outputs, configs, `.keras` save/load, bad inputs."""

import os

import numpy as np
import pytest
import tensorflow as tf

from zoo_flavours import zoo  # pylint: disable=unused-import

RNG = np.random.default_rng(3)
CTR_X = {"categorical": RNG.integers(0, 40, (64, 3)).astype(np.int64),
         "dense": RNG.normal(size=(64, 2)).astype(np.float32)}
CTR_Y = (CTR_X["categorical"][:, 0] % 2).astype(np.float32)[:, None]
TT_X = {"user": RNG.integers(1, 20, (64, 1)).astype(np.int64),
        "item": RNG.integers(1, 30, (64, 1)).astype(np.int64),
        "history": RNG.integers(0, 30, (64, 4)).astype(np.int64),
        "item_probability": np.full(64, 1 / 30, np.float32)}

CTR_MODELS = {
    "LogisticRegression": dict(num_dense=2),
    "DeepFM": dict(embedding_size=4, num_dense=2, hidden_units=(8,)),
    "FiBiNET": dict(embedding_size=4, num_dense=2, hidden_units=(8,),
                    bilinear_type="field_each"),
    "ESMM": dict(embedding_size=4, num_dense=2, hidden_units=(8,)),
    "MMoE": dict(embedding_size=4, num_dense=2, num_experts=2,
                 expert_units=(8,), tower_units=(4,)),
}


def _ctr(zoo, name):
  return getattr(zoo.models, name)(3, seed=1, **CTR_MODELS[name])


def _labels(out):
  return {k: CTR_Y for k in out} if isinstance(out, dict) else CTR_Y


def _trained(zoo, name):
  if name.startswith("TwoTower"):
    encoder = name.split("-")[1]
    model = zoo.models.TwoTower(1, 1, embedding_size=4, tower_units=(8,),
                                history_encoder=encoder, seed=1)
    model.compile(zoo.adam(0.01))
    model.fit(TT_X, batch_size=64, epochs=1, verbose=0)
    return model, {k: TT_X[k] for k in ("user", "item", "history")}
  model = _ctr(zoo, name)
  model.compile(zoo.adam(0.01), loss="binary_crossentropy")
  model.fit(CTR_X, _labels(model(CTR_X)), batch_size=64, epochs=1,
            verbose=0)
  return model, CTR_X


@pytest.mark.parametrize("name", sorted(CTR_MODELS))
def test_ctr_outputs_are_probabilities(zoo, name):
  out = _ctr(zoo, name)(CTR_X)
  for value in (out.values() if isinstance(out, dict) else [out]):
    value = value.numpy()
    assert value.shape == (64, 1)
    assert ((value > 0) & (value < 1)).all()


@pytest.mark.parametrize("name", sorted(CTR_MODELS) + ["TwoTower"])
def test_model_config_round_trips(zoo, name):
  model = zoo.models.TwoTower(2, 1, history_encoder="lstm") \
      if name == "TwoTower" else _ctr(zoo, name)
  again = type(model).from_config(model.get_config())
  assert again.get_config() == model.get_config()


@pytest.mark.parametrize("name", sorted(CTR_MODELS) +
                         ["TwoTower-bow", "TwoTower-cnn", "TwoTower-lstm"])
def test_keras_file_keeps_the_trained_model(zoo, name, tmp_path):
  model, x = _trained(zoo, name)
  want = model(x)
  path = os.path.join(tmp_path, "model.keras")
  model.save(path)
  loaded = zoo.keras.models.load_model(path)
  got = loaded(x)
  for key in (want if isinstance(want, dict) else [None]):
    w = want if key is None else want[key]
    g = got if key is None else got[key]
    np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)
  # The table came back with its rows, not re-initialized ones.
  assert int(_table(loaded).size()) == int(_table(model).size()) > 0


def _table(model):
  layer = getattr(model, "fields", None) or model.item_embedding
  return layer.embedding.params


def test_two_tower_loss_falls(zoo):
  model = zoo.models.TwoTower(1, 1, embedding_size=4, tower_units=(8,),
                              history_encoder="bow", seed=1)
  model.compile(zoo.adam(0.02))
  losses = model.fit(TT_X, batch_size=64, epochs=8, verbose=0).history["loss"]
  assert losses[-1] < losses[0] - 0.1


def test_two_tower_masks_accidental_hits(zoo):
  model = zoo.models.TwoTower(1, 1, embedding_size=4, tower_units=(4,),
                              seed=1)
  x = {"user": np.array([[1], [2]]), "item": np.array([[7], [7]])}
  # Both rows hold item 7: with the other row masked, each row's softmax
  # has one logit, so the loss is 0.
  assert float(model.compute_loss(x, None, model(x))) == pytest.approx(0.0)


@pytest.mark.parametrize("x,match", [
    ({"dense": CTR_X["dense"]}, "'categorical'"),
    ({"categorical": CTR_X["categorical"]}, "'dense'"),
    ({"categorical": CTR_X["categorical"], "dense": np.ones((64, 3))},
     "2 dense features"),
    ({"categorical": CTR_X["categorical"].astype(np.int32),
      "dense": CTR_X["dense"]}, "key_dtype int64"),
])
def test_ctr_models_name_bad_inputs(zoo, x, match):
  with pytest.raises(tf.errors.InvalidArgumentError, match=match):
    _ctr(zoo, "DeepFM")(x)


def test_two_tower_names_missing_inputs(zoo):
  model = zoo.models.TwoTower(1, 1, history_encoder="cnn")
  with pytest.raises(tf.errors.InvalidArgumentError, match="history"):
    model({"user": TT_X["user"], "item": TT_X["item"]})


def test_string_ids_train(zoo):
  model = zoo.models.DeepFM(3, embedding_size=4, key_dtype=tf.string,
                            hidden_units=(4,), seed=1)
  x = {"categorical": tf.constant(CTR_X["categorical"].astype(str))}
  model.compile(zoo.adam(0.05), loss="binary_crossentropy")
  losses = model.fit(x, CTR_Y, batch_size=64, epochs=5,
                     verbose=0).history["loss"]
  assert losses[-1] < losses[0]
  assert int(model.fields.embedding.params.size()) == len(
      {(f, i) for row in CTR_X["categorical"] for f, i in enumerate(row)})


def test_two_tower_top_k_ranks_every_candidate(zoo):
  model = zoo.models.TwoTower(1, 1, embedding_size=4, tower_units=(4,),
                              seed=1)
  ids = np.arange(1, 31, dtype=np.int64)
  candidates = model.candidate_embedding(ids[:, None])
  query = {"user": np.arange(1, 6, dtype=np.int64)[:, None]}
  # Held rows: an unseen id would read a fresh random row on each call.
  users = model.user_embedding
  users.embedding.params.upsert(users.keys(query["user"]),
                                RNG.normal(size=(5, 1, 4)).astype(np.float32))
  got = model.top_k(query, tf.constant(ids), candidates, k=3)
  scores = model.query_embedding(query).numpy() @ candidates.numpy().T
  order = np.argsort(-scores, axis=1)[:, :3]
  np.testing.assert_array_equal(got["items"].numpy(), ids[order])
  np.testing.assert_allclose(got["scores"].numpy(),
                             np.take_along_axis(scores, order, 1), rtol=1e-6)


def test_field_embedding_holds_only_written_ids(zoo):
  model = _ctr(zoo, "DeepFM")
  fields = model.fields
  ids = np.array([[1, 2, 3], [1, 5, 6]], np.int64)
  fields.embedding.params.upsert(fields.keys(ids[:1]), np.zeros((1, 3, 5)))
  assert fields.holds(ids).numpy().tolist() == [[True] * 3,
                                                [True, False, False]]
  assert fields.holds(np.array([1, 2]), field=0).numpy().tolist() == [
      True, False]
