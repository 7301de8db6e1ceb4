"""Every Keras 3 optimizer trains a Keras 3 dynamic embedding layer like a
dense weight.

Oracle: a Keras 3 layer whose weight `W [VOCAB, DIM]` is looked up as
`one_hot(ids) @ W` (a dense gradient, duplicates summed), trained by the
stock optimizer with the same hyper-parameters and the same `model.fit`
(compiled, and with `run_eagerly=True`). `keras.layers.Embedding` is no
oracle: Keras 3's sparse update does not merge duplicate ids.

Every batch holds every id (in another order, with other multiplicities),
so every row of the oracle is touched every step and lazy updates equal
dense ones; 20 steps, rows and slots equal to 1e-6 relative
(`assert_close`, see test_optimizer_oracle.py). Half of the ids are in the
table before training, the others start from the layer's initializer and
their slots from the optimizer's initial values.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from logical_devices import CPU_DEVICES
import optimizer_configs
from test_optimizer_oracle import assert_close
from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3 as layers

VOCAB, DIM = 12, 4
BATCH, IDS_PER_EXAMPLE = 8, 5
STEPS = 20
INITIALIZER = [0.1, -0.2, 0.3, 0.05]   # the row of ids not in the table
STORED = list(range(0, VOCAB, 2))       # ids in the table before training

OPTIMIZERS = optimizer_configs.optimizers(keras)


# ---------------------------------------------------------------- data

def initial_rows():
  """The oracle's initial weight: stored rows, the initializer elsewhere."""
  rows = np.tile(np.asarray(INITIALIZER, np.float32), (VOCAB, 1))
  rows[STORED] = np.random.default_rng(5).standard_normal(
      (len(STORED), DIM)).astype(np.float32)
  return rows


def batch_ids(step):
  """[BATCH, IDS_PER_EXAMPLE] ids holding every id of the vocabulary, in an
  order and with multiplicities that change with the step."""
  rng = np.random.default_rng(100 + step)
  extra = rng.integers(0, VOCAB, BATCH * IDS_PER_EXAMPLE - VOCAB)
  ids = rng.permutation(np.concatenate([np.arange(VOCAB), extra]))
  return ids.reshape(BATCH, IDS_PER_EXAMPLE).astype(np.int64)


def training_data(steps=STEPS, out_dim=DIM):
  """(ids [steps * BATCH, IDS_PER_EXAMPLE], targets [..., out_dim])."""
  ids = np.concatenate([batch_ids(s) for s in range(steps)])
  targets = np.random.default_rng(7).standard_normal(
      (steps * BATCH, IDS_PER_EXAMPLE, out_dim)).astype(np.float32)
  return ids, targets


def as_keys(ids, key_dtype):
  """Integer ids as keys of `key_dtype` (strings map id i to b"id<i>")."""
  if key_dtype == tf.string:
    return np.vectorize(lambda i: f"id{i}".encode(), otypes=[object])(ids)
  return ids


def dataset(ids, targets, key_dtype=tf.int64):
  return tf.data.Dataset.from_tensor_slices(
      (tf.constant(as_keys(ids, key_dtype), key_dtype), targets)).batch(BATCH)


def sum_of_squares(y_true, y_pred):
  """Per example: a per-row gradient of order 1 (not mse's 1/size)."""
  return tf.reduce_sum(tf.square(y_pred - y_true), axis=[1, 2])


# ---------------------------------------------------------------- models

class DenseOracle(keras.layers.Layer):
  """`one_hot(ids) @ W`: an embedding whose gradient is dense. Named like
  the dynamic layer, so that name patterns match both."""

  def __init__(self, name="emb"):
    super().__init__(name=name)

  def build(self, input_shape):
    self.w = self.add_weight(
        name="w", shape=(VOCAB, DIM),
        initializer=keras.initializers.Constant(initial_rows()))

  def call(self, ids):
    return tf.one_hot(ids, VOCAB) @ self.w


def make_layer(key_dtype=tf.int64, **kwargs):
  """The dynamic layer, holding the STORED rows of `initial_rows()`."""
  layer = layers.Embedding(DIM, key_dtype=key_dtype, initializer=INITIALIZER,
                           name="emb", max_unique_ids=16, **kwargs)
  layer.params.upsert(as_keys(np.asarray(STORED, np.int64), key_dtype),
                      initial_rows()[STORED])
  return layer


def make_model(embedding, key_dtype=tf.int64, head=None):
  """ids -> embedding (-> head); `head` a Dense layer or None."""
  ids = keras.Input((IDS_PER_EXAMPLE,), dtype=key_dtype.name)
  out = embedding(ids)
  if head is not None:
    out = head(out)
  return keras.Model(ids, out)


def fit(model, optimizer, ids, targets, key_dtype=tf.int64, eager=False):
  model.compile(optimizer, sum_of_squares, run_eagerly=eager)
  model.fit(dataset(ids, targets, key_dtype), epochs=1, verbose=0,
            shuffle=False)
  return model


@functools.lru_cache(maxsize=None)
def oracle_result(name, eager):
  """(rows [VOCAB, DIM], [slot [VOCAB, DIM]] in creation order, iterations)
  after STEPS steps of fit on the dense oracle."""
  opt = OPTIMIZERS[name]()
  model = fit(make_model(DenseOracle()), opt, *training_data(), eager=eager)
  slots = [(var.name, var.numpy()) for var in opt.variables
           if tuple(var.shape) == (VOCAB, DIM)]
  return model.layers[1].w.numpy(), slots, int(opt.iterations)


def assert_like_oracle(layer, opt, key_dtype, name, eager):
  """The layer's rows and slot tables hold the oracle's weight and slots."""
  rows, slots, iterations = oracle_result(name, eager)
  keys = as_keys(np.arange(VOCAB), key_dtype)
  assert int(opt.iterations) == iterations == STEPS
  assert_close(layer.params.lookup(keys).numpy(), rows)
  assert int(layer.params.size()) == VOCAB
  slot_tables = layer.params.get_slot_variables(opt)
  assert len(slot_tables) == len(slots)
  for table, (dense_name, dense_slot) in zip(slot_tables, slots):
    # "emb-adam-momentum" holds what "emb_w_momentum" holds.
    assert dense_name.endswith("_" + table.name.rsplit("-", 1)[-1])
    assert_close(table.lookup(keys).numpy(), dense_slot, err_msg=table.name)


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_trains_like_dense_weight(name, eager):
  layer = make_layer()
  opt = de.DynamicEmbeddingOptimizer(OPTIMIZERS[name]())
  fit(make_model(layer), opt, *training_data(), eager=eager)
  assert_like_oracle(layer, opt, tf.int64, name, eager)


@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
@pytest.mark.parametrize("name", ["adam", "ftrl"])
def test_fit_with_string_keys_trains_like_dense_weight(name, eager):
  layer = make_layer(tf.string)
  opt = de.DynamicEmbeddingOptimizer(OPTIMIZERS[name]())
  fit(make_model(layer, tf.string), opt, *training_data(), tf.string,
      eager=eager)
  assert_like_oracle(layer, opt, tf.string, name, eager)


@pytest.mark.parametrize("name", ["adam", "ftrl"])
def test_fit_with_sharded_table_trains_like_dense_weight(name):
  """Slot tables shard like the embedding (3 shards here)."""
  layer = make_layer(devices=CPU_DEVICES)
  opt = de.DynamicEmbeddingOptimizer(OPTIMIZERS[name]())
  fit(make_model(layer), opt, *training_data())
  assert_like_oracle(layer, opt, tf.int64, name, eager=False)
  assert [slot.shard_num for slot in layer.params.get_slot_variables(opt)] \
      == [3, 3]
