"""Trains dynamic layers under MirroredStrategy over 2 logical CPUs and on
one device; prints a JSON line {case: [max |difference|, max |change|]}.

Run as a script (`python mirrored_script.py keras3|tf_keras`): the logical
devices must be configured before TensorFlow initializes, which the test
process has already done, so test_mirrored.py runs this in a subprocess.

Cases (each trains the same model, data and optimizer twice, with and
without the strategy, and compares every table row and the dense kernel):
  fit_int64       model.fit, int64 ids, Adam
  fit_bp_v2       model.fit, int64 ids, Adam with bp_v2 (tables must be
                  written once per step, not once per replica)
  fit_string      model.fit, string ids (tf_keras only: Keras 3's fit
                  averages the first batch of every input under a
                  strategy, which string inputs cannot do)
  loop_string     a custom loop with strategy.run, string ids
"""

import json
import sys

import numpy as np
import tensorflow as tf

V, D, N, BATCH, EXAMPLES = 12, 4, 5, 8, 64


def _setup():
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


def _modules(flavour):
  # pylint: disable=import-outside-toplevel
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import tf_keras as tfk_layers
  if flavour == "tf_keras":
    import tf_keras
    return tf_keras, tfk_layers
  import keras
  return keras, keras3


def _data(key_dtype):
  rng = np.random.RandomState(1)
  keys = np.arange(V, dtype=np.int64)
  if key_dtype == "string":
    keys = np.array([f"item-{i}" for i in range(V)], dtype=object)
  ids = keys[rng.randint(0, V, size=(EXAMPLES, N))]
  labels = rng.normal(size=(EXAMPLES, 1)).astype(np.float32)
  init = np.random.RandomState(0).normal(size=(V, D)).astype(np.float32)
  return keys, ids, labels, init


def _build(keras, layers, de, key_dtype, keys, init, bp_v2):
  emb = layers.SquashedEmbedding(D, key_dtype=key_dtype, combiner="mean",
                                 name="emb", bp_v2=bp_v2)
  emb.params.upsert(keys, init)
  model = keras.Sequential([
      keras.Input((N,), dtype=key_dtype), emb,
      keras.layers.Dense(1, kernel_initializer="ones", name="head")])
  opt = de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05))
  return model, emb, opt


def _train(case, flavour, strategy):
  from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=import-outside-toplevel
  keras, layers = _modules(flavour)
  key_dtype = "string" if case.endswith("string") else "int64"
  keys, ids, labels, init = _data(key_dtype)
  with strategy.scope():
    model, emb, opt = _build(keras, layers, de, key_dtype, keys, init,
                             bp_v2=case == "fit_bp_v2")
    if case.startswith("loop"):
      opt.build(model.trainable_variables)
  dataset = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(BATCH)
  if case.startswith("fit"):
    with strategy.scope():
      model.compile(opt, "mse")
    model.fit(dataset, epochs=2, verbose=0)
  else:
    _custom_loop(model, opt, strategy, dataset)
  rows = emb.params.lookup(keys).numpy()
  return rows, model.get_layer("head").kernel.numpy(), init


def _custom_loop(model, opt, strategy, dataset):
  @tf.function
  def step(x, y):
    def replica_step(x, y):
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(x) - y)) / BATCH
      grads = tape.gradient(loss, model.trainable_variables)
      opt.apply_gradients(zip(grads, model.trainable_variables))
      return loss
    return strategy.reduce("SUM", strategy.run(replica_step, (x, y)), None)

  for _ in range(2):
    for x, y in strategy.experimental_distribute_dataset(dataset):
      step(x, y)


def main(flavour):
  _setup()
  cases = ["fit_int64", "fit_bp_v2", "loop_string"]
  if flavour == "tf_keras":
    cases.append("fit_string")
  mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
  result = {}
  for case in cases:
    one_rows, one_kernel, init = _train(case, flavour,
                                        tf.distribute.get_strategy())
    two_rows, two_kernel, _ = _train(case, flavour, mirrored)
    result[case] = [
        float(max(np.abs(one_rows - two_rows).max(),
                  np.abs(one_kernel - two_kernel).max())),
        float(np.abs(one_rows - init).max())]
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv[1])
