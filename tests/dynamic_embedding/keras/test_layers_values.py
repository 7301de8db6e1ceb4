"""de.keras.layers outputs (tf_keras and Keras 3) against numpy references
over known table rows.

Each test writes rows with `layer.params.upsert` and checks the layer's
output (shape and values) against `np.take` of those rows, combined by
numpy for SquashedEmbedding and FieldWiseEmbedding; unknown ids read the
constant initializer row.
"""

import numpy as np
import pytest
import tensorflow as tf

from layer_flavours import KERAS3, TF_KERAS, flavour  # pylint: disable=unused-import

# pylint: disable=redefined-outer-name  (tests take the imported fixture)

DIM = 3
DEFAULT = -1.0
KEY_DTYPES = [tf.int64, tf.int32, tf.string]
COMBINERS = ["sum", "mean", "sqrtn"]


def _keys(samples, dtype, n):
  return samples.key_list(dtype, n)


def _filled(layer, samples, n_known=6):
  """Upserts `n_known` rows; returns (known keys, their rows, unknown key)."""
  keys = _keys(samples, layer.key_dtype, n_known + 1)
  rows = np.arange(n_known * DIM, dtype=np.float64).reshape(n_known, DIM) - 4
  layer.params.upsert(tf.constant(keys[:n_known], layer.key_dtype),
                      tf.constant(rows, layer.value_dtype))
  return keys[:n_known], rows, keys[n_known]


def _pick(rng, known, unknown, shape):
  """ids of `shape` drawn from the known keys plus one unknown key."""
  pool = known + [unknown]
  flat = [pool[i] for i in rng.integers(0, len(pool), int(np.prod(shape)))]
  return np.array(flat, dtype=object if isinstance(flat[0], bytes) else None)


def _reference_rows(ids, known, rows):
  index = {k: i for i, k in enumerate(known)}
  flat = [index.get(k if isinstance(k, bytes) else int(k)) for k in ids]
  return np.stack([rows[i] if i is not None else np.full(DIM, DEFAULT)
                   for i in flat])


def _combine(rows, combiner):
  """numpy combiner over axis -2 (empty -> zeros)."""
  n = rows.shape[-2]
  total = rows.sum(axis=-2)
  if n == 0 or combiner == "sum":
    return total
  return total / (n if combiner == "mean" else np.sqrt(n))


def _ids_tensor(ids, dtype, shape):
  return tf.constant(ids.reshape(shape), dtype)


@pytest.mark.parametrize("shape", [[5], [2, 4], [2, 2, 3]], ids=str)
@pytest.mark.parametrize("key_dtype", KEY_DTYPES, ids=lambda d: d.name)
def test_basic_embedding_gathers_the_rows(flavour, samples, key_dtype, shape,
                                          eager_or_function):
  layer = flavour.layers.BasicEmbedding(DIM, key_dtype=key_dtype,
                                        initializer=DEFAULT)
  known, rows, unknown = _filled(layer, samples)
  ids = _pick(np.random.default_rng(1), known, unknown, shape)
  out = eager_or_function(layer, _ids_tensor(ids, key_dtype, shape))
  assert out.shape.as_list() == shape + [DIM]
  np.testing.assert_array_equal(
      out.numpy().reshape(-1, DIM), _reference_rows(ids, known, rows))


@pytest.mark.parametrize("value_dtype", [tf.float16, tf.bfloat16, tf.float64],
                         ids=lambda d: d.name)
def test_basic_embedding_keeps_the_value_dtype(flavour, samples, value_dtype):
  layer = flavour.layers.Embedding(DIM, value_dtype=value_dtype,
                                   initializer=DEFAULT)
  known, rows, unknown = _filled(layer, samples)
  out = layer(tf.constant([known[2], unknown], tf.int64))
  assert out.dtype == value_dtype
  np.testing.assert_array_equal(out.numpy().astype(np.float64),
                                [rows[2], [DEFAULT] * DIM])


def test_layer_dtype_casts_the_output(flavour, samples):
  layer = flavour.layers.Embedding(DIM, dtype="float16", initializer=DEFAULT)
  known, rows, _ = _filled(layer, samples)
  out = layer(tf.constant([known[1]], tf.int64))
  assert out.dtype == tf.float16 and layer.params.value_dtype == tf.float32
  np.testing.assert_array_equal(out.numpy(), [rows[1]])


def test_ragged_ids_give_ragged_rows(flavour, samples):
  layer = flavour.layers.BasicEmbedding(DIM, initializer=DEFAULT)
  known, rows, unknown = _filled(layer, samples)
  ids = tf.ragged.constant([[known[0], unknown], [], [known[3]]], tf.int64)
  out = layer(ids)
  assert isinstance(out, tf.RaggedTensor)
  assert out.row_lengths().numpy().tolist() == [2, 0, 1]
  np.testing.assert_array_equal(out.flat_values.numpy(),
                                [rows[0], [DEFAULT] * DIM, rows[3]])


@pytest.mark.parametrize("nshards", [1, 3])
def test_sharded_layer_matches_the_rows(flavour, samples, nshards):
  devices = ["/CPU:0", "/CPU:1", "/CPU:2"][:nshards]
  layer = flavour.layers.BasicEmbedding(DIM, devices=devices,
                                        initializer=DEFAULT)
  known, rows, _ = _filled(layer, samples)
  out = layer(tf.constant(known[::-1], tf.int64))
  assert layer.params.shard_num == nshards
  np.testing.assert_array_equal(out.numpy(), rows[::-1])


def test_max_norm_scales_long_rows_down(flavour):
  layer = flavour.layers.BasicEmbedding(2, max_norm=1.0)
  layer.params.upsert(tf.constant([1, 2], tf.int64), [[3.0, 4.0], [0.3, 0.4]])
  out = layer(tf.constant([1, 2], tf.int64)).numpy()
  np.testing.assert_allclose(out, [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)


@pytest.mark.parametrize("shape", [[3, 4], [2, 2, 5]], ids=str)
@pytest.mark.parametrize("combiner", COMBINERS)
@pytest.mark.parametrize("key_dtype", KEY_DTYPES, ids=lambda d: d.name)
def test_squashed_embedding_combines_the_last_axis(flavour, samples,
                                                   key_dtype, combiner, shape,
                                                   eager_or_function):
  layer = flavour.layers.SquashedEmbedding(DIM, key_dtype=key_dtype,
                                           combiner=combiner,
                                           initializer=DEFAULT)
  known, rows, unknown = _filled(layer, samples)
  ids = _pick(np.random.default_rng(2), known, unknown, shape)
  out = eager_or_function(layer, _ids_tensor(ids, key_dtype, shape))
  expected = _combine(
      _reference_rows(ids, known, rows).reshape(shape + [DIM]), combiner)
  assert out.shape.as_list() == shape[:-1] + [DIM]
  np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("combiner", COMBINERS)
def test_squashed_embedding_of_ragged_ids_combines_each_row(flavour,
                                                            samples,
                                                            combiner):
  layer = flavour.layers.SquashedEmbedding(DIM, combiner=combiner)
  known, rows, _ = _filled(layer, samples)
  ids = tf.ragged.constant([[known[0], known[1], known[1]], [], [known[4]]],
                           tf.int64)
  out = layer(ids)
  expected = [_combine(rows[[0, 1, 1]], combiner), np.zeros(DIM),
              _combine(rows[[4]], combiner)]
  np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_squashed_embedding_of_no_ids_is_zeros(flavour):
  layer = flavour.layers.SquashedEmbedding(DIM, combiner="mean",
                                           initializer=1.0)
  out = layer(tf.zeros([2, 0], tf.int64))
  np.testing.assert_array_equal(out.numpy(), np.zeros([2, DIM]))


def _field_reference(ids, fields, known, rows, nslots, combiner):
  batch, n = ids.shape
  looked = _reference_rows(ids.reshape(-1), known, rows).reshape(
      batch, n, DIM)
  out = np.zeros([batch, nslots, DIM])
  for b in range(batch):
    for f in range(nslots):
      out[b, f] = _combine(looked[b][fields[b] == f], combiner)
  return out


@pytest.mark.parametrize("combiner", COMBINERS)
@pytest.mark.parametrize("key_dtype", KEY_DTYPES, ids=lambda d: d.name)
def test_field_wise_embedding_combines_per_default_field(
    flavour, samples, key_dtype, combiner, eager_or_function):
  nslots = 3
  layer = flavour.layers.FieldWiseEmbedding(DIM, nslots, key_dtype=key_dtype,
                                            combiner=combiner,
                                            initializer=DEFAULT)
  known, rows, unknown = _filled(layer, samples)
  ids = _pick(np.random.default_rng(3), known, unknown, [4, 5]).reshape(4, 5)
  ids_t = tf.constant(ids, key_dtype)
  if key_dtype == tf.string:
    fields = tf.strings.to_hash_bucket_fast(ids_t, nslots).numpy()
  else:
    fields = np.mod(ids.astype(np.int64), nslots)
  out = eager_or_function(layer, ids_t)
  assert out.shape.as_list() == [4, nslots, DIM]
  np.testing.assert_allclose(
      out.numpy(),
      _field_reference(ids, fields, known, rows, nslots, combiner),
      rtol=1e-6)


def _first_char_field(ids):
  return tf.strings.to_number(tf.strings.substr(ids, 0, 1), tf.int32)


def test_field_wise_embedding_uses_slot_map_fn(flavour):
  layer = flavour.layers.FieldWiseEmbedding(
      1, 4, slot_map_fn=_first_char_field, key_dtype=tf.string,
      combiner="mean", initializer=0.0)
  layer.params.upsert(["0a", "0b", "2a"], [[1.0], [3.0], [5.0]])
  out = layer(tf.constant([["0a", "0b", "2a"], ["2a", "2a", "3x"]]))
  assert out.numpy()[..., 0].tolist() == [[2.0, 0.0, 5.0, 0.0],
                                          [0.0, 0.0, 5.0, 0.0]]


def test_field_wise_embedding_of_ragged_ids(flavour, samples):
  layer = flavour.layers.FieldWiseEmbedding(DIM, 2, combiner="sum")
  layer.params.upsert(tf.constant([4, 5, 6], tf.int64),
                      tf.constant(np.eye(3), tf.float32))
  out = layer(tf.ragged.constant([[4, 5, 6], [], [5]], tf.int64))
  np.testing.assert_array_equal(out.numpy(), [
      [[1, 0, 1], [0, 1, 0]], [[0, 0, 0], [0, 0, 0]], [[0, 0, 0], [0, 1, 0]]])


@pytest.mark.parametrize("bad_field", [-1, 2])
def test_field_wise_embedding_refuses_fields_out_of_range(flavour, bad_field):
  layer = flavour.layers.FieldWiseEmbedding(
      DIM, 2, slot_map_fn=lambda ids: tf.fill(tf.shape(ids), bad_field))
  with pytest.raises(tf.errors.InvalidArgumentError, match="slot_map_fn"):
    layer(tf.constant([[1, 2]], tf.int64))


def test_field_wise_embedding_refuses_a_field_per_row(flavour):
  layer = flavour.layers.FieldWiseEmbedding(
      DIM, 2, slot_map_fn=lambda ids: tf.zeros(tf.shape(ids)[:1], tf.int64))
  with pytest.raises(tf.errors.InvalidArgumentError, match="slot_map_fn"):
    layer(tf.constant([[1, 2]], tf.int64))


def _gradient(layer):
  """The gradient of sum(layer([[7, 8, 7]])) for the layer's weight."""
  ids = tf.constant([[7, 8, 7]], tf.int64)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(ids))
  (weight,) = layer.trainable_weights
  return tf.convert_to_tensor(tape.gradient(loss, weight)).numpy()


@pytest.mark.parametrize("cls", ["BasicEmbedding", "SquashedEmbedding"])
def test_gradient_reaches_the_shadow_per_distinct_id(cls):
  layer = getattr(TF_KERAS.layers, cls)(2, initializer=1.0)
  grad = _gradient(layer)
  assert layer.shadow.ids.numpy().tolist() == [7, 8]
  np.testing.assert_array_equal(grad, [[2.0, 2.0], [1.0, 1.0]])


@pytest.mark.parametrize("cls", ["BasicEmbedding", "SquashedEmbedding"])
def test_keras3_gradient_fills_a_buffer_row_per_distinct_id(cls):
  """Position i of the buffer stands for the i-th distinct id; positions
  past the batch's distinct ids get no gradient."""
  layer = getattr(KERAS3.layers, cls)(2, initializer=1.0, max_unique_ids=4)
  np.testing.assert_array_equal(
      _gradient(layer), [[2.0, 2.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_keras3_lookups_are_not_bounded_by_max_unique_ids():
  layer = KERAS3.layers.Embedding(1, max_unique_ids=2, initializer=1.0)
  out = layer(tf.constant([1, 2, 3, 4], tf.int64))
  assert out.numpy().tolist() == [[1.0]] * 4


@pytest.mark.parametrize("ids", [[1, 2, 3], [[1, 2], [3, 1]]], ids=str)
def test_keras3_training_on_more_distinct_ids_than_max_unique_ids_is_refused(
    ids, eager_or_function):
  layer = KERAS3.layers.Embedding(2, max_unique_ids=2)

  def gradient(ids):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(layer(ids))
    return tape.gradient(loss, layer.trainable_weights)

  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="max_unique_ids=2"):
    eager_or_function(gradient, tf.constant(ids, tf.int64))


def test_keras3_duplicates_count_once_against_max_unique_ids():
  layer = KERAS3.layers.SquashedEmbedding(1, max_unique_ids=2,
                                          initializer=1.0)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(tf.constant([[1, 2, 2, 1, 1]], tf.int64)))
  (grad,) = tape.gradient(loss, layer.trainable_weights)
  assert tf.convert_to_tensor(grad).numpy().tolist() == [[3.0], [2.0]]
