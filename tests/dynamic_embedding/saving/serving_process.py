"""Runs a SavedModel's serving signature (and `__call__`, when it has one)
in a fresh Python process that only imports the package before
`tf.saved_model.load`, as a serving process does; for the saving tests."""

import json
import os
import subprocess
import sys
import textwrap

import tensorflow as tf

import pyproc

_SCRIPT = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    import tensorflow_recommenders_addons  # registers the TFRA ops
    ids = tf.io.parse_tensor(tf.io.read_file(sys.argv[2]),
                             tf.as_dtype(sys.argv[3]))
    loaded = tf.saved_model.load(sys.argv[1])
    signature = loaded.signatures["serving_default"]
    (name,) = signature.structured_input_signature[1]
    (out,) = signature(**{name: ids}).values()
    result = {"signature": out.numpy().tolist()}
    if callable(loaded):
      result["call"] = loaded(ids).numpy().tolist()
    print(json.dumps(result))
""")


def serve(path, ids, workdir):
  """`{"signature": outputs[, "call": outputs]}` of the SavedModel at
  `path` for the tensor `ids`, computed in a fresh process."""
  ids_file = os.path.join(str(workdir), "ids.tensor")
  tf.io.write_file(ids_file, tf.io.serialize_tensor(ids))
  out = subprocess.run(
      pyproc.python("-c", _SCRIPT, str(path), ids_file, ids.dtype.name),
      capture_output=True, text=True, timeout=120, check=False,
      cwd=str(workdir))
  assert out.returncode == 0, out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


def saved_lookup(var, path):
  """Saves a `tf.Module` holding `var` whose `serve(ids)` (int64 `[None]`)
  is `de.embedding_lookup(var, ids)` to `path`; returns it loaded back."""
  # Imported here: the rest of this module needs only TensorFlow.
  from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=import-outside-toplevel
  module = tf.Module()
  module.var = var

  @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
  def serve(ids):
    return de.embedding_lookup(module.var, ids)

  module.serve = serve
  tf.saved_model.save(module, str(path))
  return tf.saved_model.load(str(path))
