"""Every docstring example of the public modules runs and prints what it shows."""

import doctest
import importlib

import pytest

MODULES = [
    "tensorflow_recommenders_addons.register",
    "tensorflow_recommenders_addons.utils.resource_loader",
    "tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable",
    "tensorflow_recommenders_addons.dynamic_embedding.tables.kv_creator",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
  module = importlib.import_module(name)
  finder = doctest.DocTestFinder(exclude_empty=True)
  tests = [t for t in finder.find(module) if t.examples]
  assert tests, f"{name} has no docstring examples"
  runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
  for test in tests:
    runner.run(test)
  result = runner.summarize(verbose=False)
  assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
