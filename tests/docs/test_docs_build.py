"""The documentation site builds with `mkdocs build --strict` and its API
pages hold the rendered docstrings of every public name.

mkdocs and mkdocstrings[python] are in requirements-dev.txt: without them
these tests fail, they do not skip.
"""

import ast
import html
import pathlib
import re
import subprocess
import sys

import griffe  # mkdocstrings' docstring reader (mkdocstrings[python])
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tensorflow_recommenders_addons"
DE = "tensorflow_recommenders_addons.dynamic_embedding"

# Docstrings known not to parse, with why; each is an xfail(strict=True),
# so fixing one fails the test until its entry is removed.
KNOWN_UNPARSED = {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  """Builds the site once into a temporary folder; returns the folder and
  the build log."""
  out = tmp_path_factory.mktemp("site")
  result = subprocess.run(
      [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
       str(out), "--config-file", str(ROOT / "mkdocs.yml")],
      cwd=str(ROOT), capture_output=True, text=True, timeout=300,
      check=False)
  log = result.stdout + result.stderr
  assert result.returncode == 0, f"mkdocs build --strict failed:\n{log}"
  return out, log


def _page(site, name):
  """The HTML of a built page (`api/variables` -> api/variables/index.html)."""
  return (site[0] / name / "index.html").read_text(encoding="utf-8")


def _text(page):
  """A page's visible text, whitespace collapsed."""
  page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
  return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _all(module_file):
  """The `__all__` list of a module, read from its source."""
  tree = ast.parse(module_file.read_text(encoding="utf-8"))
  for node in tree.body:
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
      return ast.literal_eval(node.value)
  raise AssertionError(f"{module_file} has no __all__")


def test_build_has_no_warnings(site):
  assert "WARNING" not in site[1], site[1]


def test_every_page_of_nav_is_built(site):
  for page in ("getting-started", "migration", "architecture",
               "troubleshooting", "contributing", "api"):
    assert (site[0] / page / "index.html").is_file(), page
  assert (site[0] / "index.html").is_file()


def test_variable_docstring_is_rendered(site):
  text = _text(_page(site, "api/variables"))
  assert "A dynamic embedding table: ids of any value map to" in text
  # The Args section, rendered as parameters.
  assert "Parameters:" in text
  assert "key_dtype – tf.int64 , tf.int32 or tf.string ." in text
  assert "dim – Row width, an int >= 1." in text
  # Methods come from the mixins too (saving, bounds, training hooks).
  for method in ("lookup", "upsert", "save_to_file_system", "export_delta",
                 "get_slot_variables"):
    assert f'id="{DE}.Variable.{method}"' in _page(site, "api/variables")


def test_lookup_docstrings_are_rendered(site):
  page = _page(site, "api/lookups")
  text = _text(page)
  assert "Looks up ids in a de.Variable , like tf.nn.embedding_lookup ." \
      in text
  assert "return_trainable – Also return the de.TrainableWrapper ." in text
  # Docstring examples render as Python console blocks, not as prose.
  assert "language-pycon" in page


def test_keras_layer_docstrings_are_assembled(site):
  # The layers' docstrings are built from shared strings (`__doc__ = ... +
  # _ARGS_DOC`); docs/griffe_tfra.py evaluates them.
  text = _text(_page(site, "api/keras-layers"))
  assert "A dynamic embedding layer for Keras 3: ids of any value to rows." \
      in text
  assert "max_unique_ids (the most distinct ids one training call may" \
      in text
  # Grouped arguments ("embedding_size, key_dtype, ...: As for ...") are
  # split into one parameter each.
  assert "short_file_name – As for BasicEmbedding ." in text


def test_optimizer_docstring_is_rendered(site):
  text = _text(_page(site, "api/optimizers"))
  assert "Makes a Keras 3 or tf_keras optimizer able to train dynamic " \
      "embeddings." in text
  assert "Lazy updates." in text


@pytest.mark.parametrize("name", _all(PACKAGE / "dynamic_embedding" /
                                      "__init__.py"))
def test_every_de_name_is_documented(site, name):
  pages = "".join(_page(site, p) for p in (
      "api/variables", "api/lookups", "api/tables", "api/bounds",
      "api/optimizers", "api/keras-layers", "api/saving"))
  if name == "keras":
    for layer in ("BasicEmbedding", "Embedding", "SquashedEmbedding",
                  "FieldWiseEmbedding"):
      for flavour in ("keras3", "tf_keras"):
        assert f'id="{DE}.keras.layers.{flavour}.{layer}"' in pages
  elif name == "shadow_ops":
    assert f'id="{DE}.shadow_ops.ShadowVariable"' in pages
    assert f'id="{DE}.shadow_ops.embedding_lookup"' in pages
  else:
    assert f'id="{DE}.{name}"' in pages, f"de.{name} has no API entry"


@pytest.mark.parametrize("name", _all(PACKAGE / "__init__.py"))
def test_every_tfra_name_is_documented(site, name):
  page = _page(site, "api/package")
  if name == "dynamic_embedding":
    assert 'href="variables/"' in _page(site, "api")
  elif name == "__version__":
    assert 'id="tensorflow_recommenders_addons.version.__version__"' in page
  else:
    assert f'id="tensorflow_recommenders_addons.{name}"' in page


def _api_objects():
  """Every object the API pages render: the `:::` targets and their public
  members, as griffe (with docs/griffe_tfra.py) reads them."""
  extension = f"{ROOT / 'docs' / 'griffe_tfra.py'}:TfraDocstrings"
  package = griffe.load(
      "tensorflow_recommenders_addons", search_paths=[str(ROOT)],
      extensions=griffe.load_extensions(extension), allow_inspection=False,
      resolve_aliases=True)
  targets = []
  for page in sorted((ROOT / "docs" / "api").glob("*.md")):
    targets += re.findall(r"^::: (\S+)", page.read_text(encoding="utf-8"),
                          re.M)
  objects = {}
  for target in targets:
    obj = package[target.split(".", 1)[1]]
    objects[target] = obj
    if obj.is_class:
      for name, member in obj.all_members.items():
        if not name.startswith("_"):
          objects[f"{target}.{name}"] = member
  return objects


def _params():
  objects = _api_objects()
  for path in sorted(objects):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_UNPARSED[path])] \
        if path in KNOWN_UNPARSED else []
    short = path[len("tensorflow_recommenders_addons."):]
    yield pytest.param(objects[path], id=short, marks=marks)


_SECTION_TITLE = re.compile(
    r"^\s*(Args|Arguments|Returns|Raises|Yields|Example|Examples):\s*$", re.M)


@pytest.mark.parametrize("obj", list(_params()))
def test_docstring_sections_are_parsed(obj):
  """No Google-style section of a rendered docstring is left as plain text
  (which `mkdocs build --strict` does not report)."""
  if obj.docstring is None:
    return
  sections = obj.docstring.parse("google", warn_missing_types=False)
  text = [s.value for s in sections if s.kind.value == "text"]
  unparsed = [m.group(0).strip() for t in text
              for m in _SECTION_TITLE.finditer(t)]
  assert not unparsed, f"{obj.path}: sections left as text: {unparsed}"
