"""Random sequences of table operations agree with a dict model (hypothesis).

Small batches draw keys from a few "hot" keys, so batches hold duplicates and
keys are removed and re-inserted often; bulk rules insert or remove long
ranges from a larger pool, so shards grow, rehash, shrink and move rows.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from hypothesis.stateful import run_state_machine_as_test

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 2
HOT = 12      # keys used by small batches
POOL = 600    # keys used by bulk rules
DEFAULT = [-1000.0, -2000.0]

small_ints = st.integers(-50, 50)
rows = st.lists(small_ints, min_size=DIM, max_size=DIM)
hot_index = st.integers(0, HOT - 1)


def _batch(*parts):
  return st.lists(st.tuples(*parts), max_size=10)


class TableMachine(RuleBasedStateMachine):
  """Applies each op to a CuckooHashTable and to `self.model`."""

  key_dtype = None
  num_shards = 64
  key_list = None  # filled in by make_machine

  def __init__(self):
    super().__init__()
    self.table = de.CuckooHashTable(
        self.key_dtype, tf.float32, DEFAULT,
        config=de.CuckooHashTableConfig(num_shards=self.num_shards))
    self.model = {}

  def _keys(self, indexes):
    keys = [self.key_list[i] for i in indexes]
    return tf.constant(keys, self.key_dtype) if keys else \
        tf.zeros([0], self.key_dtype)

  @staticmethod
  def _rows(values):
    return tf.constant(np.asarray(values, np.float32).reshape(-1, DIM))

  @rule(batch=_batch(hot_index, rows))
  def insert(self, batch):
    self.table.insert(self._keys([i for i, _ in batch]),
                      self._rows([r for _, r in batch]))
    for i, r in batch:
      self.model[self.key_list[i]] = np.asarray(r, np.float64)

  @rule(batch=_batch(hot_index, rows, st.booleans()))
  def accum(self, batch):
    self.table.accum(self._keys([i for i, _, _ in batch]),
                     self._rows([r for _, r, _ in batch]),
                     tf.constant([e for _, _, e in batch], tf.bool,
                                 shape=[len(batch)]))
    for i, r, exists in batch:
      k = self.key_list[i]
      if k in self.model and exists:
        self.model[k] = self.model[k] + np.asarray(r, np.float64)
      elif k not in self.model and not exists:
        self.model[k] = np.asarray(r, np.float64)

  @rule(indexes=st.lists(hot_index, max_size=10))
  def remove(self, indexes):
    self.table.remove(self._keys(indexes))
    for i in indexes:
      self.model.pop(self.key_list[i], None)

  @rule(start=st.integers(0, POOL - 1), length=st.integers(1, 300),
        value=small_ints)
  def insert_range(self, start, length, value):
    indexes = list(range(start, min(POOL, start + length)))
    self.table.insert(self._keys(indexes),
                      tf.fill([len(indexes), DIM], float(value)))
    for i in indexes:
      self.model[self.key_list[i]] = np.full(DIM, float(value))

  @rule(start=st.integers(0, POOL - 1), length=st.integers(1, 400))
  def remove_range(self, start, length):
    indexes = list(range(start, min(POOL, start + length)))
    self.table.remove(self._keys(indexes))
    for i in indexes:
      self.model.pop(self.key_list[i], None)

  @rule()
  def clear(self):
    self.table.clear()
    self.model.clear()

  @rule(indexes=st.lists(st.integers(0, POOL - 1), max_size=20))
  def lookup(self, indexes):
    values, exists = self.table.lookup(self._keys(indexes),
                                       return_exists=True)
    keys = [self.key_list[i] for i in indexes]
    assert exists.numpy().tolist() == [k in self.model for k in keys]
    expected = [self.model.get(k, DEFAULT) for k in keys]
    np.testing.assert_array_equal(values.numpy().reshape(-1, DIM),
                                  np.asarray(expected).reshape(-1, DIM))

  @rule()
  def export(self):
    keys, values = self.table.export()
    flat = [k if isinstance(k, bytes) else int(k) for k in keys.numpy()]
    assert sorted(flat, key=repr) == sorted(self.model, key=repr)
    for k, row in zip(flat, values.numpy()):
      np.testing.assert_array_equal(row, self.model[k])

  @invariant()
  def size_matches(self):
    assert int(self.table.size()) == len(self.model)


def make_machine(key_dtype, num_shards, keys):
  return type(f"TableMachine_{key_dtype.name}", (TableMachine,), {
      "key_dtype": key_dtype,
      "num_shards": num_shards,
      "key_list": keys,
  })


@pytest.mark.parametrize("key_dtype,num_shards", [
    (tf.int64, 1), (tf.int64, 64), (tf.string, 2)],
                         ids=["int64-1shard", "int64-64shards",
                              "string-2shards"])
def test_random_op_sequences_match_a_dict(samples, key_dtype, num_shards):
  run_state_machine_as_test(
      make_machine(key_dtype, num_shards, samples.key_list(key_dtype, POOL)),
      settings=settings(max_examples=60, stateful_step_count=25,
                        deadline=None, database=None,
                        suppress_health_check=[HealthCheck.too_slow]))
