"""de.enable_inference_mode(): lookups only read (no wrapper, no shadow, no
insert), and many threads may run them at once while results are checked
against a reference."""

import threading

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

import serving_process

DIM = 4
DEFAULT = 0.25


@pytest.fixture(autouse=True)
def inference_mode():
  de.enable_inference_mode()
  yield
  de.enable_train_mode()


def _filled(n=1000, shards=2):
  var = de.Variable(dim=DIM, initializer=DEFAULT, name="serving",
                    devices=["/CPU:0", "/CPU:1"][:shards])
  keys = np.arange(n, dtype=np.int64) * 3
  values = np.repeat(keys[:, None].astype(np.float32), DIM, axis=1)
  var.upsert(keys, values)
  return var


def _expected(ids):
  ids = np.asarray(ids)
  known = (ids % 3 == 0) & (ids >= 0) & (ids < 3000)
  rows = np.where(known, ids, DEFAULT).astype(np.float32)
  return np.repeat(rows[..., None], DIM, axis=-1)


def test_mode_switches():
  assert de.get_model_mode() == de.ModelMode.INFERENCE
  de.enable_train_mode()
  assert de.get_model_mode() == de.ModelMode.TRAIN
  de.enable_inference_mode()
  assert de.get_model_mode() == "inference"


@pytest.mark.parametrize("lookup", ["embedding_lookup", "unique", "sparse"])
def test_lookups_create_no_wrapper_and_insert_nothing(lookup):
  var = _filled()
  ids = tf.constant([[0, 7], [3, 3]], tf.int64)
  if lookup == "embedding_lookup":
    out, wrapper = de.embedding_lookup(var, ids, return_trainable=True)
    expected = _expected(ids.numpy())
  elif lookup == "unique":
    out = de.embedding_lookup_unique(var, ids)
    wrapper, expected = None, _expected(ids.numpy())
  else:
    sp_ids = tf.SparseTensor([[0, 0], [0, 1], [1, 0]],
                             tf.constant([0, 7, 3], tf.int64), [2, 2])
    out, wrapper = de.embedding_lookup_sparse(var, sp_ids, None,
                                              combiner="sum",
                                              return_trainable=True)
    expected = np.stack([_expected([0])[0] + _expected([7])[0],
                         _expected([3])[0]])
  np.testing.assert_allclose(out.numpy(), expected)
  assert wrapper is None
  assert var._store.trainables == {}  # pylint: disable=protected-access
  assert int(var.size()) == 1000


def test_train_mode_lookups_still_create_their_wrapper():
  var = _filled()
  de.enable_train_mode()
  _, wrapper = de.embedding_lookup(var, tf.constant([3], tf.int64),
                                   return_trainable=True)
  assert isinstance(wrapper, de.TrainableWrapper)


def test_tf_keras_layer_predict_leaves_the_shadow_alone():
  import tf_keras  # pylint: disable=import-outside-toplevel
  layer = de.keras.layers.tf_keras.Embedding(DIM, initializer=DEFAULT,
                                             name="served")
  model = tf_keras.Sequential([tf_keras.Input([2], dtype=tf.int64), layer])
  layer.params.upsert([5], [[5.0] * DIM])
  shadow = layer.shadow
  before = shadow.read_value().numpy().copy()
  out = model.predict(tf.constant([[5, 9]], tf.int64), verbose=0)
  np.testing.assert_allclose(out, [[[5.0] * DIM, [DEFAULT] * DIM]])
  np.testing.assert_array_equal(shadow.read_value().numpy(), before)
  assert int(layer.params.size()) == 1


def _hammer(fn, threads=8, calls=150, seed=0):
  """Runs `fn(ids)` from many threads on random ids; returns mismatches."""
  errors = []

  def worker(i):
    rng = np.random.default_rng(seed + i)
    for _ in range(calls):
      ids = rng.integers(-5, 3200, size=int(rng.integers(1, 64)))
      got = fn(tf.constant(ids, tf.int64)).numpy()
      if not np.array_equal(got, _expected(ids)):
        errors.append(ids)

  pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
  for t in pool:
    t.start()
  for t in pool:
    t.join()
  return errors


def test_concurrent_lookups_from_one_function_agree_with_the_reference():
  var = _filled()

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def serve(ids):
    return de.embedding_lookup(var, ids)

  assert _hammer(serve) == []
  assert int(var.size()) == 1000


def test_concurrent_lookups_of_a_loaded_saved_model(tmp_path):
  loaded = serving_process.saved_lookup(_filled(), tmp_path / "sm")
  assert _hammer(loaded.serve, threads=6, calls=100) == []


def test_reads_during_concurrent_writes_see_whole_rows():
  """A writer keeps rewriting a block of keys with whole rows of one value;
  readers must see each row entirely old or entirely new, never torn."""
  var = _filled()
  hot = np.arange(5000, 5200, dtype=np.int64)
  stop = threading.Event()

  def writer():
    step = 0
    while not stop.is_set():
      step += 1
      var.upsert(hot, np.full([hot.size, DIM], float(step), np.float32))

  torn = []

  def reader(i):
    rng = np.random.default_rng(i)
    for _ in range(200):
      got = de.embedding_lookup(
          var, tf.constant(rng.choice(hot, 32), tf.int64)).numpy()
      if not np.all(got == got[:, :1]):
        torn.append(got)

  w = threading.Thread(target=writer)
  w.start()
  readers = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
  for t in readers:
    t.start()
  for t in readers:
    t.join()
  stop.set()
  w.join()
  assert torn == []
