"""`de.export_static` and the `StaticModel` it returns (static_export.py
freezes the tables)."""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import static_export
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v


def _signature_of(model, input_signature):
  if input_signature is not None:
    return input_signature
  try:
    inputs = model.input  # functional and Sequential models
  except (AttributeError, ValueError):
    # A Keras 3 Sequential model that was never called has only `inputs`.
    inputs = getattr(model, "inputs", None) or None
    if inputs is not None and len(inputs) == 1:
      inputs = inputs[0]
  if inputs is None:
    raise v.invalid(
        f"input_signature: model {getattr(model, 'name', model)!r} has no "
        f"symbolic inputs (a subclassed model): pass the tf.TensorSpec "
        f"structure of its input")
  return tf.nest.map_structure(
      lambda t: tf.TensorSpec(t.shape, t.dtype), inputs)


def _named(signature):
  """`signature` with unnamed specs named by their key ("user") or position
  ("inputs_1"): the input names of the SavedModel and TFLite signatures."""
  def name(label, spec):
    if not isinstance(spec, tf.TensorSpec) or spec.name:
      return spec
    return tf.TensorSpec(spec.shape, spec.dtype, name=label)
  if isinstance(signature, dict):
    return {k: name(str(k), s) for k, s in signature.items()}
  if isinstance(signature, (list, tuple)):
    return type(signature)(name(f"inputs_{i}", s)
                           for i, s in enumerate(signature))
  return name("inputs", signature)


def _tfra_ops(concrete):
  """Names of the TFRA ops in a concrete function and its library."""
  graph = concrete.graph
  names = {op.type for op in graph.get_operations()}
  for fn in graph.as_graph_def().library.function:
    names.update(node.op for node in fn.node_def)
  return sorted(n for n in names if n.startswith("TFRA>"))


class StaticModel(tf.Module):
  """A model whose dynamic tables are frozen into static lookups.

  Made by `de.export_static`. Calling it runs the traced function; it holds
  the model's dense weights and the frozen tables, and no `TFRA>` op, so
  `tf.saved_model.save`, TensorFlow Serving without this package and the
  TFLite converter all take it.

  Args:
    model: The trained Keras model (not kept: only the weights the traced
      function reads are).
    frozen: `[(layer, static_export.FrozenTable)]`.
    input_signature: The `tf.TensorSpec` structure of the one input.
    serving_fn: `fn(model, inputs) -> outputs` traced with the frozen
      tables.

  Raises:
    tf.errors.FailedPreconditionError: the traced function still holds
      `TFRA>` ops (a table read outside the embedding layers), naming them.

  Example:
    >>> import numpy as np, keras
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> model = keras.Sequential([keras.Input((2,), dtype="int64"),
    ...                           keras3.Embedding(1, initializer=0.5)])
    >>> model.layers[0].params.upsert([7], [[2.0]])
    >>> static = de.export_static(model)
    >>> static(np.array([[7, 8]])).numpy().tolist()  # 8: the default row
    [[[2.0], [0.0]]]
    >>> static.tables[0].size
    1
  """

  def __init__(self, model, frozen, input_signature, serving_fn):
    super().__init__(name="static_model")
    self.tables = [table for _, table in frozen]
    fn = tf.function(lambda inputs: serving_fn(model, inputs),
                     input_signature=[_named(input_signature)])
    with static_export.active(frozen):
      # The one trace: a ConcreteFunction, which saving (and the TFLite
      # converter, which saves) reuses instead of tracing again outside
      # the frozen tables.
      self.serve = fn.get_concrete_function()
    left = _tfra_ops(self.serve)
    if left:
      raise tf.errors.FailedPreconditionError(
          None, None,
          f"export_static: the traced model still runs {left}: a table is "
          f"read outside a de.keras.layers embedding layer (freeze only "
          f"covers those layers)")
    # The dense weights the function reads: tracked, so that saving keeps
    # them (the model itself is not tracked: it holds the dynamic tables).
    self.weights = [w for w in self.serve.variables
                    if not any(w is t.matrix for t in self.tables)]

  def __call__(self, inputs):
    """The model's outputs for `inputs` (the exported signature)."""
    return self.serve(inputs)

  def save(self, path):
    """Writes a SavedModel (signature "serving_default") with no TFRA op."""
    tf.saved_model.save(self, path, signatures={"serving_default": self.serve})

  def to_tflite(self, optimizations=None):
    """The model as a TFLite flatbuffer (bytes).

    Args:
      optimizations: `tf.lite.Optimize` values for the converter (None:
        none, float32 weights as trained).
    """
    converter = tf.lite.TFLiteConverter.from_concrete_functions([self.serve],
                                                                self)
    if optimizations:
      converter.optimizations = list(optimizations)
    return converter.convert()


def export_static(model, input_signature=None, serving_fn=None, top_n=None,
                  since=None, default_row="zeros"):
  """Freezes a trained model's dynamic tables into static lookups.

  Every `de.keras.layers` embedding layer of `model` is given a frozen copy
  of the rows you choose (all of them; the `top_n` most often written of
  each table; or those written after clock `since`), with `default_row`
  for every other id, and the model's function is traced reading those
  copies. The result is plain TensorFlow (no `TFRA>` op): save it, serve it
  without this package, or convert it to TFLite (`to_tflite`). Integer ids
  are found by a binary search over the sorted kept ids, string ids through
  a `tf.lookup.StaticHashTable`; both convert to TFLite builtins.

  Args:
    model: A trained Keras 3 or tf_keras model (or any object whose layers
      hold `de.keras.layers` embeddings).
    input_signature: The `tf.TensorSpec` structure of the model's input
      (a spec, a dict or a list of them); None reads it from a functional
      model's `model.input`.
    serving_fn: `fn(model, inputs) -> outputs` to export; None:
      `model(inputs, training=False)`. Use it to export part of a model
      (one tower) or to add top-k scoring.
    top_n: Keep the `top_n` most often written rows of each table (needs
      write counts: a table with `track_changes=True` or bounds).
    since: Keep the rows written after this table clock (a clock from
      `export_with_meta` / `export_delta`; needs bookkeeping as `top_n`).
    default_row: Row of ids not kept: "zeros", "mean" (of the kept rows) or
      `embedding_size` numbers.

  Returns:
    A `StaticModel`.

  Raises:
    tf.errors.InvalidArgumentError: a bad argument, naming it; a model
      with no embedding layer; a subclassed model without
      `input_signature`.
    tf.errors.FailedPreconditionError: `top_n`/`since` on a table without
      bookkeeping; a traced function that still reads a dynamic table.

  Example:
    >>> import numpy as np, keras, tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import keras3
    >>> emb = keras3.Embedding(2, key_dtype=tf.string, initializer="zeros")
    >>> model = keras.Sequential([keras.Input((1,), dtype="string"), emb])
    >>> emb.params.upsert(["cat", "dog"], [[1.0, 2.0], [3.0, 4.0]])
    >>> static = de.export_static(model, default_row=[9.0, 9.0])
    >>> static(tf.constant([["dog"], ["emu"]])).numpy()[:, 0].tolist()
    [[3.0, 4.0], [9.0, 9.0]]
    >>> len(static.to_tflite()) > 0
    True
  """
  if serving_fn is None:
    serving_fn = lambda m, inputs: m(inputs, training=False)  # noqa: E731
  elif not callable(serving_fn):
    raise v.invalid(f"serving_fn: must be callable, got {serving_fn!r}")
  signature = _signature_of(model, input_signature)
  frozen = static_export.freeze(model, top_n, since, default_row)
  return StaticModel(model, frozen, signature, serving_fn)
