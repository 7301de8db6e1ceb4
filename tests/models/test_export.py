"""`de.export_static`: frozen tables, plain-TF and TFLite models that give
the trained model's outputs."""

import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as layers

from zoo_flavours import zoo  # pylint: disable=unused-import

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*tf.lite.Interpreter is deprecated:UserWarning")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
RNG = np.random.default_rng(11)
X = {"categorical": RNG.integers(0, 500, (128, 4)).astype(np.int64),
     "dense": RNG.normal(size=(128, 3)).astype(np.float32)}
SIGNATURE = {"categorical": tf.TensorSpec([None, 4], tf.int64),
             "dense": tf.TensorSpec([None, 3], tf.float32)}


def _lite(static, inputs):
  runner = tf.lite.Interpreter(
      model_content=static.to_tflite()).get_signature_runner()
  return runner(**inputs)


def _saved_ops(path):
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=import-outside-toplevel
  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(path, "saved_model.pb"), "rb") as f:
    proto.ParseFromString(f.read())
  graph = proto.meta_graphs[0].graph_def
  ops = {n.op for n in graph.node}
  for fn in graph.library.function:
    ops.update(n.op for n in fn.node_def)
  return ops


def test_deepfm_exports_to_tf_and_tflite(zoo, tmp_path):
  model = zoo.models.DeepFM(4, embedding_size=4, num_dense=3,
                            hidden_units=(8,), seed=1)
  model.compile(zoo.adam(0.01), loss="binary_crossentropy")
  model.fit(X, (X["categorical"][:, :1] % 2).astype(np.float32),
            batch_size=128, epochs=2, verbose=0)
  want = model(X).numpy()
  static = de.export_static(model, input_signature=SIGNATURE)
  assert static.tables[0].size == int(model.fields.embedding.params.size())
  np.testing.assert_allclose(static(X).numpy(), want, rtol=1e-6, atol=1e-6)
  got = _lite(static, X)
  np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-5)
  static.save(str(tmp_path / "saved"))
  ops = _saved_ops(str(tmp_path / "saved"))
  assert not [op for op in ops if op.startswith("TFRA")], ops
  loaded = tf.saved_model.load(str(tmp_path / "saved"))
  out = loaded.signatures["serving_default"](
      categorical=tf.constant(X["categorical"]), dense=tf.constant(X["dense"]))
  np.testing.assert_allclose(next(iter(out.values())).numpy(), want,
                             atol=1e-6)


def _functional(key_dtype=tf.int64, **table_args):
  emb = layers.Embedding(2, key_dtype=key_dtype, initializer=0.5,
                         name="emb", **table_args)
  model = keras.Sequential([keras.Input((3,), dtype=key_dtype.name), emb])
  return model, emb


@pytest.mark.parametrize("default_row,want", [
    ("zeros", [0.0, 0.0]), ("mean", [2.0, 3.0]), ([7.0, -7.0], [7.0, -7.0])])
def test_ids_not_kept_read_the_default_row(default_row, want):
  model, emb = _functional()
  emb.params.upsert([1, 2], [[1.0, 2.0], [3.0, 4.0]])
  static = de.export_static(model, default_row=default_row)
  ids = np.array([[2, 99, 1]], np.int64)
  assert static(ids).numpy().tolist() == [[[3.0, 4.0], want, [1.0, 2.0]]]
  np.testing.assert_array_equal(_lite(static, {"inputs": ids})["output_0"],
                                [[[3.0, 4.0], want, [1.0, 2.0]]])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 1000])
def test_binary_search_finds_every_kept_id(n):
  model, emb = _functional()
  keys = np.sort(RNG.choice(2**62, n, replace=False)).astype(np.int64) - 2**61
  emb.params.upsert(keys, np.stack([keys % 97, -(keys % 89)], 1).astype(
      np.float32))
  static = de.export_static(model)
  probe = np.concatenate([keys, keys + 1, keys - 1, [-2**63, 2**63 - 1]])
  probe = probe[: len(probe) // 3 * 3].reshape(-1, 3)
  kept = np.isin(probe, keys)[..., None]
  want = np.where(kept, np.stack([probe % 97, -(probe % 89)], -1), 0.0)
  np.testing.assert_array_equal(static(probe).numpy(), want)


def test_string_ids_export_to_tflite():
  model, emb = _functional(tf.string)
  emb.params.upsert(["a", "bb", ""], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
  static = de.export_static(model)
  ids = np.array([[b"bb", b"zz", b""]])
  want = [[[2.0, 2.0], [0.0, 0.0], [3.0, 3.0]]]
  assert static(tf.constant(ids)).numpy().tolist() == want
  np.testing.assert_array_equal(_lite(static, {"inputs": ids})["output_0"],
                                want)


def _tracked():
  config = de.CuckooHashTableConfig(track_changes=True)
  return _functional(kv_creator=de.CuckooHashTableCreator(config))


def test_top_n_keeps_the_most_often_written_rows():
  model, emb = _tracked()
  emb.params.upsert([1, 2, 3], [[1.0, 1.0]] * 3)
  emb.params.upsert([2, 3], [[2.0, 2.0]] * 2)
  emb.params.upsert([3], [[3.0, 3.0]])
  static = de.export_static(model, top_n=2)
  assert static(np.array([[1, 2, 3]])).numpy().tolist() == [
      [[0.0, 0.0], [2.0, 2.0], [3.0, 3.0]]]


def test_since_keeps_the_rows_written_after_a_clock():
  model, emb = _tracked()
  emb.params.upsert([1, 2], [[1.0, 1.0]] * 2)
  clock = int(emb.params.export_with_meta()[-1])
  emb.params.upsert([3], [[3.0, 3.0]])
  static = de.export_static(model, since=clock)
  assert static.tables[0].size == 1
  assert static(np.array([[1, 2, 3]])).numpy().tolist() == [
      [[0.0, 0.0], [0.0, 0.0], [3.0, 3.0]]]


def test_max_norm_is_applied_to_the_frozen_rows():
  model, emb = _functional(max_norm=1.0)
  emb.params.upsert([1], [[3.0, 4.0]])
  want = model(np.array([[1, 1, 1]])).numpy()
  np.testing.assert_allclose(
      de.export_static(model)(np.array([[1, 1, 1]])).numpy(), want,
      rtol=1e-6)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"top_n": 3}, tf.errors.FailedPreconditionError, "track_changes"),
    ({"since": 0}, tf.errors.FailedPreconditionError, "track_changes"),
    ({"top_n": 1, "since": 1}, tf.errors.InvalidArgumentError, "at most one"),
    ({"top_n": 0}, tf.errors.InvalidArgumentError, "top_n"),
    ({"default_row": [1.0]}, tf.errors.InvalidArgumentError, "default_row"),
    ({"default_row": "ones"}, tf.errors.InvalidArgumentError, "default_row"),
    ({"serving_fn": 3}, tf.errors.InvalidArgumentError, "serving_fn"),
])
def test_bad_arguments_are_named(kwargs, error, match):
  model, emb = _functional()
  emb.params.upsert([1], [[1.0, 1.0]])
  with pytest.raises(error, match=match):
    de.export_static(model, **kwargs)


def test_a_subclassed_model_needs_a_signature(zoo):
  with pytest.raises(tf.errors.InvalidArgumentError, match="input_signature"):
    de.export_static(zoo.models.DeepFM(4))


def test_a_model_without_tables_is_refused():
  model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
  with pytest.raises(tf.errors.InvalidArgumentError, match="no de.keras"):
    de.export_static(model)


def test_a_table_read_outside_the_layers_is_refused():
  model, emb = _functional()
  emb.params.upsert([1], [[1.0, 1.0]])
  side = de.Variable(dim=2, name="side")
  fn = lambda m, x: m(x) + side.lookup(tf.reshape(x, [-1]))[None]  # noqa: E731
  with pytest.raises(tf.errors.FailedPreconditionError, match="TFRA>"):
    de.export_static(model, serving_fn=fn)


@pytest.fixture(scope="module")
def next_item(tmp_path_factory):
  path = os.path.join(ROOT, "examples", "on_device_next_item.py")
  spec = importlib.util.spec_from_file_location("on_device_next_item", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  out = str(tmp_path_factory.mktemp("tflite"))
  return module.run(out, num_examples=2000, epochs=1, verbose=False)


@pytest.mark.parametrize("encoder", ["bow", "cnn", "lstm"])
def test_next_item_tflite_gives_the_tf_top_k(next_item, encoder):
  result = next_item[encoder]
  assert result["same_items"]
  assert result["max_score_diff"] <= 1e-5
  # The file holds the frozen item table (<= 400 items + the history
  # items' rows, 16 floats each), the user rows and the towers: tens of
  # KB, not the 16384-row Keras 3 training buffers (1 MB each).
  size = os.path.getsize(result["path"])
  assert size == result["bytes"]
  assert 30_000 < size < 400_000, size


def test_string_field_models_export_to_tflite(zoo):
  # FieldEmbedding's string keys are "<field>:<id>"; the export looks each
  # field's raw ids up in a table of its own (TFLite has no StringJoin).
  model = zoo.models.DeepFM(4, embedding_size=4, key_dtype=tf.string,
                            hidden_units=(4,), seed=1)
  ids = X["categorical"][:64].astype(str).astype(object)
  ids[:, 3] = "same"  # one raw id in a field of its own
  model.compile(zoo.adam(0.05), loss="binary_crossentropy")
  model.fit({"categorical": tf.constant(ids)}, np.ones((64, 1)),
            batch_size=64, epochs=1, verbose=0)
  static = de.export_static(model, input_signature={
      "categorical": tf.TensorSpec([None, 4], tf.string)})
  want = model({"categorical": tf.constant(ids)}).numpy()
  got = _lite(static, {"categorical": ids.astype(bytes)})
  np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-5)
  # "same" is a field-3 id only: in field 0 it is unseen (the default row).
  unseen = ids[:1].copy()
  unseen[0, 0] = "same"
  np.testing.assert_allclose(
      static({"categorical": tf.constant(unseen)}).numpy(),
      next(iter(_lite(static, {"categorical": unseen.astype(bytes)})
                .values())), atol=1e-6)


def test_string_two_tower_query_exports_to_tflite():
  from tensorflow_recommenders_addons.models import keras3 as zoo3  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(2)
  x = {"user": rng.integers(1, 9, (64, 1)).astype(str).astype(object),
       "item": rng.integers(1, 20, (64, 1)).astype(str).astype(object),
       "history": rng.integers(1, 20, (64, 3)).astype(str).astype(object)}
  model = zoo3.TwoTower(1, 1, embedding_size=4, tower_units=(4,),
                        history_encoder="bow", key_dtype=tf.string, seed=1)
  model.compile(de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05)))
  model.fit({k: tf.constant(v) for k, v in x.items()}, batch_size=64,
            epochs=1, verbose=0)
  query = {k: x[k] for k in ("user", "history")}
  static = de.export_static(
      model, input_signature={"user": tf.TensorSpec([None, 1], tf.string),
                              "history": tf.TensorSpec([None, 3], tf.string)},
      serving_fn=lambda m, q: m.query_embedding(q))
  want = model.query_embedding({k: tf.constant(v)
                                for k, v in query.items()}).numpy()
  got = _lite(static, {k: v.astype(bytes) for k, v in query.items()})
  np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-5)
