"""Source rules of the package: public TensorFlow only, no swallowed errors.

Scans the source tree (not the installed copy) with the `ast` module, so
strings and comments that mention the patterns do not count.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / \
    "tensorflow_recommenders_addons"
SOURCES = sorted(PACKAGE.rglob("*.py"))
PRIVATE_TF = ("tensorflow.python", "tensorflow.core", "tensorflow.compiler")
# The single module allowed to import TensorFlow internals; its docstring
# names the public API that is missing.
INTERNAL_BRIDGE = PACKAGE / "utils" / "tf_internal.py"


def _private_tf_imports(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      names = [node.module or ""]
      if node.module == "tensorflow":
        names += [f"tensorflow.{alias.name}" for alias in node.names]
    else:
      continue
    for name in names:
      if any(name == p or name.startswith(p + ".") for p in PRIVATE_TF):
        yield node.lineno, name


def _bare_excepts(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.ExceptHandler) and node.type is None:
      yield node.lineno


def _rel(path):
  return str(path.relative_to(PACKAGE.parent))


def test_package_sources_are_found():
  assert PACKAGE / "__init__.py" in SOURCES
  assert len(SOURCES) >= 5


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_private_tensorflow_imports(path):
  tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
  found = list(_private_tf_imports(tree))
  if path == INTERNAL_BRIDGE:
    assert [name for _, name in found] == [
        "tensorflow.python.eager.record",
        "tensorflow.python.ops.resource_variable_ops",
        "tensorflow.python.training.saving.saveable_object"]
  else:
    assert found == []


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_bare_except(path):
  tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
  assert list(_bare_excepts(tree)) == []


@pytest.mark.parametrize("source,found", [
    ("from tensorflow.python.ops import array_ops", True),
    ("import tensorflow.python.framework.ops as ops", True),
    ("from tensorflow import python", True),
    ("import tensorflow.python", True),
    ("from tensorflow.core.framework import types_pb2", True),
    ("import tensorflow as tf", False),
    ("from tensorflow import keras", False),
    ("from .python import x", False),
    ("s = 'from tensorflow.python import x'", False),
])
def test_private_import_scanner(source, found):
  assert bool(list(_private_tf_imports(ast.parse(source)))) == found


@pytest.mark.parametrize("source,found", [
    ("try:\n  pass\nexcept:\n  pass", True),
    ("try:\n  pass\nexcept Exception:\n  pass", False),
    ("try:\n  pass\nexcept (OSError, ValueError) as e:\n  raise", False),
])
def test_bare_except_scanner(source, found):
  assert bool(list(_bare_excepts(ast.parse(source)))) == found
