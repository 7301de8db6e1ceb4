"""Every lookup function against TensorFlow's own op on a static variable.

The oracle is a `tf.Variable` holding the same rows as the `de.Variable`
(row i under key i, or under the string "i" for string keys). Outputs must
be equal and so must gradients: the dense gradient of the static variable
restricted to the looked-up ids equals the wrapper's gradient, and is zero
for every other row. Losses weight each output element differently, and id
batches contain duplicates, so lost or misrouted gradients show.
"""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

VOCAB = 40
DIM = 4
TOL = dict(rtol=1e-6, atol=1e-6)


def to_keys(ids, key_dtype):
  """Integer ids as keys of `key_dtype` (strings: decimal text)."""
  if isinstance(ids, tf.RaggedTensor):
    return ids.with_flat_values(to_keys(ids.flat_values, key_dtype))
  if isinstance(ids, tf.SparseTensor):
    return tf.SparseTensor(ids.indices, to_keys(ids.values, key_dtype),
                           ids.dense_shape)
  if key_dtype == tf.string:
    return tf.strings.as_string(ids)
  return tf.cast(ids, key_dtype)


def key_ids(keys):
  """Keys back to integer ids (the empty string, a filler key, is -1)."""
  if keys.dtype == tf.string:
    return np.array([int(k) if k else -1 for k in keys.numpy()], np.int64)
  return keys.numpy().astype(np.int64)


@pytest.fixture(params=[tf.int64, tf.string], ids=["int64", "string"])
def lookup_key_dtype(request):
  return request.param


@pytest.fixture
def pair(shard_devices, lookup_key_dtype):
  """(de.Variable, static tf.Variable) holding the same rows."""
  rows = 1.5 * np.random.default_rng(0).standard_normal(
      (VOCAB, DIM)).astype(np.float32)
  var = de.Variable(lookup_key_dtype, tf.float32, dim=DIM,
                    devices=shard_devices, name="oracle")
  var.upsert(to_keys(tf.range(VOCAB, dtype=tf.int64), lookup_key_dtype), rows)
  return var, tf.Variable(rows)


def cotangent(x):
  """A fixed, non-uniform weight per output element."""
  return tf.reshape(tf.cos(tf.cast(tf.range(tf.size(x)), x.dtype) * 0.7 + 0.3),
                    tf.shape(x))


def flat(out):
  return out.flat_values if isinstance(out, tf.RaggedTensor) else out


def ours(run, lookup_fn, *inputs):
  """(output, wrapper gradient, wrapper ids) from `run`ning lookup_fn."""
  def body(*args):
    with tf.GradientTape() as tape:
      out, wrapper = lookup_fn(*args)
      loss = tf.reduce_sum(flat(out) * cotangent(flat(out)))
    return flat(out), tape.gradient(loss, wrapper), wrapper.ids.value()
  return run(body, *inputs)


def reference(static, tf_fn):
  """(output, dense gradient over the vocabulary) of TF's op."""
  with tf.GradientTape() as tape:
    out = flat(tf_fn(static))
    loss = tf.reduce_sum(out * cotangent(out))
  return out, tf.convert_to_tensor(tape.gradient(loss, static))


def assert_matches(got, expected, looked_up_ids):
  out, grad, wrapper_keys = got
  ref_out, ref_grad = expected
  np.testing.assert_allclose(out.numpy(), ref_out.numpy(), **TOL)
  ids = key_ids(wrapper_keys)
  assert sorted(ids.tolist()) == sorted(set(looked_up_ids))
  in_vocab = ids >= 0
  np.testing.assert_allclose(grad.numpy()[in_vocab],
                             ref_grad.numpy()[ids[in_vocab]], **TOL)
  assert not grad.numpy()[~in_vocab].any()  # filler keys of empty rows
  others = np.setdiff1d(np.arange(VOCAB), ids)
  assert not ref_grad.numpy()[others].any()


def batch_ids(shape, seed=1):
  ids = np.random.default_rng(seed).integers(0, VOCAB // 2, shape)
  return tf.constant(ids, tf.int64)


@pytest.mark.parametrize("fn", ["embedding_lookup", "embedding_lookup_unique"])
@pytest.mark.parametrize("max_norm", [None, 1.5], ids=["no_clip", "max_norm"])
@pytest.mark.parametrize("ragged", [False, True], ids=["dense", "ragged"])
def test_dense_lookups_match_tf(pair, lookup_key_dtype, fn, max_norm, ragged,
                                eager_or_function):
  var, static = pair
  if ragged:
    ids = tf.RaggedTensor.from_row_lengths(batch_ids([12]), [3, 0, 5, 4])
  else:
    ids = batch_ids([3, 2, 4])
  lookup = getattr(de, fn)
  got = ours(eager_or_function,
             lambda k: lookup(var, k, max_norm=max_norm,
                              return_trainable=True),
             to_keys(ids, lookup_key_dtype))
  expected = reference(static, lambda p: tf.nn.embedding_lookup(
      p, flat(ids), max_norm=max_norm))
  assert_matches(got, expected, flat(ids).numpy().reshape(-1).tolist())


def test_dense_lookup_keeps_static_shape(pair, lookup_key_dtype):
  var, _ = pair
  ids = to_keys(batch_ids([2, 3, 5]), lookup_key_dtype)

  @tf.function(input_signature=[tf.TensorSpec([None, 3, 5], lookup_key_dtype)])
  def look(k):
    out = de.embedding_lookup(var, k)
    assert out.shape.as_list() == [None, 3, 5, DIM]
    return out

  assert look(ids).shape == [2, 3, 5, DIM]


def sparse_batch(with_empty_rows, rank=2, seed=2):
  """A canonical SparseTensor of ids with duplicates (last row non-empty)."""
  rng = np.random.default_rng(seed)
  rows = 6
  lengths = rng.integers(1, 4, rows)
  if with_empty_rows:
    lengths[[1, 3]] = 0
  indices = [[r, j] for r in range(rows) for j in range(lengths[r])]
  values = rng.integers(0, VOCAB // 2, len(indices))
  sp = tf.SparseTensor(tf.constant(indices, tf.int64),
                       tf.constant(values, tf.int64), [rows, 4])
  weights = tf.SparseTensor(sp.indices, tf.constant(
      rng.uniform(0.2, 2.0, len(indices)), tf.float32), sp.dense_shape)
  if rank == 3:
    shape = tf.constant([2, 3, 4], tf.int64)
    sp = tf.sparse.reshape(sp, shape)
    weights = tf.sparse.reshape(weights, shape)
  return sp, weights


@pytest.mark.parametrize("combiner", ["mean", "sqrtn", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted",
                                                          "weighted"])
@pytest.mark.parametrize("max_norm", [None, 1.5], ids=["no_clip", "max_norm"])
def test_embedding_lookup_sparse_matches_tf(pair, lookup_key_dtype, combiner,
                                            weighted, max_norm,
                                            eager_or_function):
  var, static = pair
  sp_ids, sp_weights = sparse_batch(with_empty_rows=False)
  weights = sp_weights if weighted else None
  got = ours(eager_or_function, lambda k, *w: de.embedding_lookup_sparse(
      var, k, w[0] if w else None, combiner=combiner, max_norm=max_norm,
      return_trainable=True), to_keys(sp_ids, lookup_key_dtype),
             *([weights] if weighted else []))
  expected = reference(static, lambda p: tf.nn.embedding_lookup_sparse(
      p, sp_ids, weights, combiner=combiner, max_norm=max_norm))
  assert_matches(got, expected, sp_ids.values.numpy().tolist())


def test_embedding_lookup_sparse_accepts_ragged(pair, lookup_key_dtype):
  var, static = pair
  ragged = tf.RaggedTensor.from_row_lengths(batch_ids([9]), [2, 4, 3])
  weights = tf.RaggedTensor.from_row_lengths(
      tf.linspace(0.5, 2.0, 9), [2, 4, 3])
  got = de.embedding_lookup_sparse(var, to_keys(ragged, lookup_key_dtype),
                                   weights, combiner="sqrtn")
  expected = tf.nn.embedding_lookup_sparse(static, ragged, weights,
                                           combiner="sqrtn")
  np.testing.assert_allclose(got.numpy(), expected.numpy(), **TOL)


def test_embedding_lookup_sparse_returns_a_row_per_example(pair):
  """Trailing examples without ids are zero rows (TF drops them)."""
  var, _ = pair
  sp = tf.SparseTensor([[0, 0], [1, 1]], tf.constant([1, 2], tf.int64), [4, 3])
  if var.key_dtype == tf.string:
    sp = to_keys(sp, tf.string)
  out = de.embedding_lookup_sparse(var, sp, None, combiner="sum").numpy()
  assert out.shape == (4, DIM)
  assert not out[2:].any()


@pytest.mark.parametrize("combiner", ["mean", "sqrtn", "sum"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted",
                                                          "weighted"])
@pytest.mark.parametrize("rank,default_id", [(2, None), (3, 3)],
                         ids=["rank2-zeros", "rank3-default_id"])
def test_safe_embedding_lookup_sparse_matches_tf(pair, lookup_key_dtype,
                                                 combiner, weighted,
                                                 default_id, rank,
                                                 eager_or_function):
  var, static = pair
  sp_ids, sp_weights = sparse_batch(with_empty_rows=True, rank=rank)
  weights = sp_weights if weighted else None
  our_default = None if default_id is None else to_keys(
      tf.constant(default_id, tf.int64), lookup_key_dtype).numpy()
  got = ours(eager_or_function, lambda k, *w: de.safe_embedding_lookup_sparse(
      var, k, w[0] if w else None, combiner=combiner, default_id=our_default,
      return_trainable=True), to_keys(sp_ids, lookup_key_dtype),
             *([weights] if weighted else []))
  expected = reference(static, lambda p: tf.nn.safe_embedding_lookup_sparse(
      p, sp_ids, weights, combiner=combiner, default_id=default_id))
  looked_up = sp_ids.values.numpy().tolist()
  if default_id is not None:
    looked_up.append(default_id)
  else:  # empty rows look up the filler key 0 ("" for strings), then zero it
    looked_up.append(-1 if lookup_key_dtype == tf.string else 0)
  assert_matches(got, expected, looked_up)


def test_safe_lookup_output_shape_is_ids_shape_without_last(pair):
  var, _ = pair
  sp_ids, _ = sparse_batch(with_empty_rows=True, rank=3)
  if var.key_dtype == tf.string:
    sp_ids = to_keys(sp_ids, tf.string)
  assert de.safe_embedding_lookup_sparse(var, sp_ids).shape == [2, 3, DIM]
