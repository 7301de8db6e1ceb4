"""Quick start: a dynamic-embedding variable, lookups, a training step,
saving, a Keras model trained with model.fit, saved, reloaded and exported
for serving.

Run: .venv/bin/python examples/quickstart.py
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

import tensorflow_recommenders_addons as tfra  # pylint: disable=wrong-import-position
from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=wrong-import-position


def main():
  dim = 8
  print(f"tensorflow_recommenders_addons {tfra.__version__} on TensorFlow {tf.__version__}")

  # A table keyed by raw string ids: no vocabulary, rows appear when trained.
  items = de.Variable(key_dtype=tf.string, value_dtype=tf.float32, dim=dim,
                      name="item_emb",
                      initializer=tf.keras.initializers.RandomNormal(stddev=0.1))
  ids = tf.constant([["item:7", "item:42", "item:7"], ["item:99", "new", "item:42"]])
  print(f"lookup of ids {ids.shape} -> {de.embedding_lookup(items, ids).shape}; "
        f"rows stored: {int(items.size())} (lookups never insert)")

  # Training: gradients reach the looked-up rows through the trainable wrapper.
  target = tf.ones([2, 3, dim])
  for step in range(50):
    with tf.GradientTape() as tape:
      emb, wrapper = de.embedding_lookup(items, ids, name="train",
                                         return_trainable=True)
      loss = tf.reduce_mean(tf.square(emb - target))
    wrapper.assign_sub(2.0 * tape.gradient(loss, wrapper))  # plain SGD
    wrapper.update_op()  # write the updated rows back into the table
    if step in (0, 49):
      print(f"step {step:2d}: loss {float(loss):.4f}")
  print(f"rows stored after training: {int(items.size())} "
        f"(the distinct ids of the batch: {sorted(wrapper.ids.numpy())})")

  # Sparse features: mean of each example's ids, like tf.nn.embedding_lookup_sparse.
  bags = tf.ragged.constant([["item:7", "item:42"], ["item:99"]])
  print("mean-combined bag embeddings:", de.embedding_lookup_sparse(items, bags, None).shape)

  # Checkpoints restore into any shard count; file saves stream per shard.
  workdir = tempfile.mkdtemp(prefix="tfra-quickstart-")
  path = tf.train.Checkpoint(items=items).save(os.path.join(workdir, "ckpt"))
  sharded = de.Variable(key_dtype=tf.string, dim=dim, name="item_emb",
                        devices=["/CPU:0", "/CPU:0"])
  tf.train.Checkpoint(items=sharded).restore(path)
  items.save_to_file_system(os.path.join(workdir, "files"))
  from_files = de.Variable(key_dtype=tf.string, dim=dim, name="item_emb")
  from_files.load_from_file_system(os.path.join(workdir, "files"))
  probe = tf.constant(["item:7", "item:42", "item:99", "new"])
  same = all(np.array_equal(v.lookup(probe), items.lookup(probe))
             for v in (sharded, from_files))
  print(f"saved to {workdir}; restores (2 shards, files) match: {same}")
  assert same and float(loss) < 0.01
  keras_fit(workdir)


def keras_fit(workdir):
  """A click model on raw string ids: de.keras.layers + model.fit (Keras 3,
  which is tf.keras; with TF_USE_LEGACY_KERAS=1 the same code runs on
  tf_keras)."""
  keras = tf.keras
  rng = np.random.default_rng(0)
  users = rng.integers(0, 500, size=(2048, 3))
  ids = tf.constant(np.char.add("user:", users.astype(str)).astype(object))
  # Clicked when at least 2 of the 3 ids are even: learnable from the ids.
  clicks = ((users % 2 == 0).sum(axis=1, keepdims=True) >= 2).astype(np.float32)

  inputs = keras.Input([3], dtype=tf.string)
  emb = de.keras.layers.SquashedEmbedding(   # [batch, 3] ids -> [batch, 8]
      8, key_dtype=tf.string, combiner="mean", name="user_emb",
      initializer=keras.initializers.RandomNormal(stddev=0.05))(inputs)
  hidden = keras.layers.Dense(16, activation="relu")(emb)
  model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
  model.compile(
      # Wrapping keeps the optimizer's slots in tables like the embedding.
      optimizer=de.DynamicEmbeddingOptimizer(keras.optimizers.Adam(0.05)),
      loss=keras.losses.BinaryCrossentropy(from_logits=True))
  history = model.fit(ids, clicks, batch_size=256, epochs=8, verbose=0)
  losses = history.history["loss"]
  table = model.get_layer("user_emb").params
  print(f"keras fit: loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
        f"{int(table.size())} user rows in the table")
  assert losses[-1] < 0.6 * losses[0]
  # Keras's own format holds the tables (keys and rows) and the optimizer's
  # slot tables along with the dense weights; so do TF checkpoints and
  # SavedModels.
  path = os.path.join(workdir, "clicks.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  same = np.allclose(loaded.predict(ids, verbose=0),
                     model.predict(ids, verbose=0), atol=1e-6)
  print(f"model.save + load_model: predictions match: {same}")
  assert same
  # Serving: in inference mode lookups only read (thread-safe); export the
  # model as a SavedModel that any process loads after importing the package.
  de.enable_inference_mode()
  loaded.export(os.path.join(workdir, "clicks_serving"), verbose=False)
  served = tf.saved_model.load(os.path.join(workdir, "clicks_serving"))
  same = np.allclose(served.serve(ids[:4]).numpy(),
                     model.predict(ids[:4], verbose=0), atol=1e-6)
  de.enable_train_mode()
  print(f"model.export (inference mode) serves the same scores: {same}")
  assert same


if __name__ == "__main__":
  main()
