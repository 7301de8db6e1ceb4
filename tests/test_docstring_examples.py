"""Every docstring example of the public modules runs and prints what it shows."""

import doctest
import importlib
import inspect

import pytest

MODULES = [
    "tensorflow_recommenders_addons.register",
    "tensorflow_recommenders_addons.utils.resource_loader",
    "tensorflow_recommenders_addons.utils.autograph",
    "tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable",
    "tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator",
    "tensorflow_recommenders_addons.dynamic_embedding.partition",
    "tensorflow_recommenders_addons.dynamic_embedding.variable",
    "tensorflow_recommenders_addons.dynamic_embedding.saving",
    "tensorflow_recommenders_addons.dynamic_embedding.file_system_saver",
    "tensorflow_recommenders_addons.dynamic_embedding.model_mode",
    "tensorflow_recommenders_addons.dynamic_embedding.bounds",
    "tensorflow_recommenders_addons.dynamic_embedding.restrict_policies",
    "tensorflow_recommenders_addons.dynamic_embedding.tables.bounded",
    "tensorflow_recommenders_addons.dynamic_embedding.variable_store",
    "tensorflow_recommenders_addons.dynamic_embedding.training_hooks",
    "tensorflow_recommenders_addons.dynamic_embedding.trainable",
    "tensorflow_recommenders_addons.dynamic_embedding.lookup",
    "tensorflow_recommenders_addons.dynamic_embedding.shadow_ops",
    "tensorflow_recommenders_addons.dynamic_embedding.unique",
    "tensorflow_recommenders_addons.dynamic_embedding.optimizers.wrap",
    "tensorflow_recommenders_addons.dynamic_embedding.keras_registration",
    "tensorflow_recommenders_addons.dynamic_embedding.math",
    "tensorflow_recommenders_addons.dynamic_embedding.data_flow",
    "tensorflow_recommenders_addons.dynamic_embedding.unavailable",
    "tensorflow_recommenders_addons.dynamic_embedding.train",
    "tensorflow_recommenders_addons.dynamic_embedding.static_model",
    "tensorflow_recommenders_addons.dynamic_embedding.keras.callbacks",
    "tensorflow_recommenders_addons.dynamic_embedding.keras.models",
    "tensorflow_recommenders_addons.dynamic_embedding.keras.layers.tf_keras",
    "tensorflow_recommenders_addons.dynamic_embedding.keras.layers.keras3",
    "tensorflow_recommenders_addons.dynamic_embedding.keras.layers._weights_store",
    "tensorflow_recommenders_addons.models.keras3",
    "tensorflow_recommenders_addons.models.tf_keras",
    "tensorflow_recommenders_addons.models.data",
    "tensorflow_recommenders_addons.demo.cli",
    "tensorflow_recommenders_addons.demo.data",
    "tensorflow_recommenders_addons.demo.metrics",
]


def _public_symbols():
  de = importlib.import_module(
      "tensorflow_recommenders_addons.dynamic_embedding")
  for name in de.__all__:
    obj = getattr(de, name)
    if callable(obj):
      yield f"de.{name}", obj
  demo = importlib.import_module("tensorflow_recommenders_addons.demo")
  yield "demo.main", demo.main
  for name in ("ShadowVariable", "embedding_lookup"):
    yield f"de.shadow_ops.{name}", getattr(de.shadow_ops, name)
  for flavour in ("tf_keras", "keras3"):
    keras_layers = importlib.import_module(
        f"tensorflow_recommenders_addons.dynamic_embedding.keras.layers."
        f"{flavour}")
    for name in ("BasicEmbedding", "Embedding", "SquashedEmbedding",
                 "FieldWiseEmbedding"):
      yield (f"de.keras.layers.{flavour}.{name}",
             getattr(keras_layers, name))
    zoo = importlib.import_module(
        f"tensorflow_recommenders_addons.models.{flavour}")
    for name in zoo.__all__:
      yield f"models.{flavour}.{name}", getattr(zoo, name)
  data = importlib.import_module("tensorflow_recommenders_addons.models.data")
  for name in ("synthetic_ctr", "synthetic_retrieval", "read_ctr_files"):
    yield f"models.data.{name}", getattr(data, name)


@pytest.mark.parametrize("label,obj", list(_public_symbols()),
                         ids=lambda x: x if isinstance(x, str) else "")
def test_public_symbol_has_example(label, obj):
  doc = obj.__doc__ or ""
  assert ">>>" in doc, f"{label} has no runnable docstring example"
  if isinstance(obj, type) and obj.__init__ is not object.__init__:
    assert "Args:" in doc, f"{label} documents no Args"


class _Finder(doctest.DocTestFinder):
  """Also finds the examples of functions wrapped by a decorator (the
  package's `run_as_is` entry points), which doctest would take for
  another module's: a wrapper's globals are its decorator's module's."""

  def _from_module(self, module, object):  # pylint: disable=redefined-builtin
    return super()._from_module(module, inspect.unwrap(object))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  finder = _Finder(exclude_empty=True)
  tests = [t for t in finder.find(module) if t.examples]
  assert tests, f"{name} has no docstring examples"
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
  for test in tests:
    runner.run(test)
  result = runner.summarize(verbose=False)
  assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
