"""The table backend follows placement (TFRA>HashTableOfTensors backend='').

`de.CuckooHashTable` asks for the placement's own table: the CPU kernel
builds the 'cpu' backend, the GPU kernel (op libraries built with CUDA) the
'gpu' one. On a machine without a GPU, a table placed on /GPU:0 therefore
lands on the CPU under soft placement and is the CPU table; the GPU half
runs where a GPU exists (tests/conformance's 'gpu' entry).
"""

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.tables import cuckoo_hashtable

HAS_GPU = bool(tf.config.list_logical_devices("GPU"))


def _creation_op(fn):
  graph = tf.function(fn).get_concrete_function().graph
  return [op for op in graph.get_operations()
          if op.type == "TFRA>HashTableOfTensors"]


def test_the_creation_op_asks_for_the_placements_own_backend():
  def body():
    t = de.CuckooHashTable(tf.int64, tf.float32, [0.0])
    return t.size()

  ops = _creation_op(body)
  assert len(ops) == 1
  assert ops[0].get_attr("backend") == b""


@pytest.mark.skipif(HAS_GPU, reason="checks the CPU fallback; a GPU is here")
@pytest.mark.parametrize("key_dtype", [tf.int64, tf.int32, tf.string])
def test_a_table_placed_on_a_missing_gpu_is_the_cpu_table(key_dtype):
  keys = tf.constant(["a", "b"] if key_dtype == tf.string else [1, 2],
                     key_dtype)
  with tf.device("/GPU:0"):
    t = de.CuckooHashTable(key_dtype, tf.float32, [0.0, 0.0])
  assert t.backend == "cpu"
  assert "CPU" in t.resource_handle.device
  t.insert(keys, [[1.0, 2.0], [3.0, 4.0]])
  assert t.lookup(keys).numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_an_empty_backend_on_the_cpu_builds_the_cpu_table():
  handle = cuckoo_hashtable._ops().tfra_hash_table_of_tensors(  # pylint: disable=protected-access
      key_dtype=tf.int64, value_dtype=tf.float32, value_shape=[2],
      backend="")
  ops = cuckoo_hashtable._ops()  # pylint: disable=protected-access
  assert "CPU" in handle.device
  assert int(ops.tfra_hash_table_size(handle)) == 0


@pytest.mark.skipif(HAS_GPU, reason="a GPU build may have the gpu backend")
def test_asking_for_the_gpu_backend_on_the_cpu_names_it():
  with pytest.raises((tf.errors.NotFoundError,
                      tf.errors.FailedPreconditionError,
                      tf.errors.InvalidArgumentError), match="gpu"):
    with tf.device("/CPU:0"):
      cuckoo_hashtable._ops().tfra_hash_table_of_tensors(  # pylint: disable=protected-access
          key_dtype=tf.int64, value_dtype=tf.float32, value_shape=[2],
          backend="gpu")


@pytest.mark.needs_gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs_gpu: no GPU here")
def test_a_table_placed_on_the_gpu_is_the_gpu_table():
  with tf.device("/GPU:0"):
    t = de.CuckooHashTable(tf.int64, tf.float32, [0.0, 0.0])
  assert t.backend == "gpu"
  t.insert([1, 2], [[1.0, 2.0], [3.0, 4.0]])
  assert t.lookup([2, 9]).numpy().tolist() == [[3.0, 4.0], [0.0, 0.0]]
