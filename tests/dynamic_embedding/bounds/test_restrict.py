"""TFRA's restrict policies: `var.restrict(num_reserved, trigger)` keeps the
best-ranked rows by the tables' own status (last-write step, write count),
removes the rest from the variable and every optimizer slot table, eagerly
and in tf.function, in a Keras layer too."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tensorflow_recommenders_addons import dynamic_embedding as de

POLICIES = {
    "timestamp": de.TimestampRestrictPolicy,
    "frequency": de.FrequencyRestrictPolicy,
}


def _written(var, batches):
  """Writes batches; returns {key: (last step, writes)} as a reference."""
  status = {}
  for step, ids in enumerate(batches, start=1):
    var.upsert(ids, np.ones([len(ids), 1], np.float32))
    for key in ids:
      status[key] = (step, status.get(key, (0, 0))[1] + 1)
  return status


def _expected(status, policy, num_reserved):
  if policy == "timestamp":
    rank = lambda k: (status[k][0], status[k][1])
  else:
    rank = lambda k: (status[k][1], status[k][0])
  ranked = sorted(status, key=rank, reverse=True)
  cut = rank(ranked[num_reserved - 1])
  # Rows tied with the last kept one may be kept in either order.
  sure = {k for k in ranked if rank(k) > cut}
  tied = {k for k in ranked if rank(k) == cut}
  return sure, tied


def _batches():
  rng = np.random.default_rng(5)
  return [sorted(set((rng.zipf(1.4, size=10) % 40).tolist()))
          for _ in range(15)]


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("in_function", [False, True],
                         ids=["eager", "tf_function"])
def test_restrict_keeps_the_best_ranked_rows(policy, in_function):
  var = de.Variable(dim=1, restrict_policy=POLICIES[policy])
  status = _written(var, _batches())
  num_reserved = 10
  restrict = tf.function(var.restrict) if in_function else var.restrict
  removed = restrict(num_reserved)
  kept = set(var.export()[0].numpy().tolist())
  assert int(removed) == len(status) - num_reserved == len(status) - len(kept)
  sure, tied = _expected(status, policy, num_reserved)
  assert sure <= kept <= sure | tied


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_restrict_below_trigger_does_nothing(policy):
  var = de.Variable(dim=1, restrict_policy=POLICIES[policy])
  _written(var, [[1, 2, 3, 4]])
  assert int(var.restrict(2, trigger=10)) == 0
  assert int(var.size()) == 4


def test_restrict_shrinks_slot_tables_with_the_variable():
  var = de.Variable(dim=2, restrict_policy=de.FrequencyRestrictPolicy,
                    devices=["/CPU:0", "/CPU:1"])
  opt = de.DynamicEmbeddingOptimizer(tf_keras.optimizers.Adam(0.1))
  for ids in _batches():
    with tf.GradientTape() as tape:
      out, wrapper = de.embedding_lookup(var, tf.constant(ids, tf.int64),
                                         return_trainable=True)
      loss = tf.reduce_sum(out)
    opt.apply_gradients([(tape.gradient(loss, wrapper), wrapper)])
  var.restrict(8)
  kept = set(var.export()[0].numpy().tolist())
  assert len(kept) == 8
  for slot in var.get_slot_variables(opt):
    assert set(slot.export()[0].numpy().tolist()) == kept


def test_keras_layer_takes_a_restrict_policy():
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3  # pylint: disable=import-outside-toplevel
  layer = keras3.Embedding(2, restrict_policy=de.TimestampRestrictPolicy,
                           name="restricted")
  for step in range(5):
    layer.params.upsert([step], [[1.0, 1.0]])
  layer.params.restrict(2)
  assert sorted(layer.params.export()[0].numpy().tolist()) == [3, 4]


def test_status_survives_checkpoints(tmp_path):
  var = de.Variable(dim=1, restrict_policy=de.FrequencyRestrictPolicy)
  _written(var, [[1, 2], [2], [2, 3]])
  path = tf.train.Checkpoint(var=var).write(str(tmp_path / "ckpt"))
  restored = de.Variable(dim=1, restrict_policy=de.FrequencyRestrictPolicy)
  tf.train.Checkpoint(var=restored).read(path).assert_consumed()
  restored.restrict(1)
  assert restored.export()[0].numpy().tolist() == [2]


def test_restrict_rejects_bad_arguments():
  var = de.Variable(dim=1, restrict_policy=de.TimestampRestrictPolicy)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_reserved"):
    var.restrict(-1)


def test_restrict_without_policy_fails_clearly():
  with pytest.raises(tf.errors.FailedPreconditionError, match="restrict_policy"):
    de.Variable(dim=1).restrict(1)
