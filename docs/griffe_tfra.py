"""A griffe extension: reads this package's docstrings as the API pages need.

mkdocstrings-python reads docstrings statically (griffe parses the source,
nothing is imported), with the Google style. Three habits of the package's
docstrings need help there; this extension rewrites them while griffe
loads the package (mkdocs.yml names it under `extensions`):

* `Example:` (singular) is an admonition for griffe, so doctest output such
  as `[[1.0], [2.0]]` would be read as Markdown reference links. It becomes
  `Examples:`, whose `>>>` lines render as Python console blocks.
* Args listed together (`key_dtype, value_dtype, dim: As for de.Variable.`,
  possibly over several lines) become one item per argument.
* A class docstring assembled from string constants (the Keras 3 and
  tf_keras layers share their Args text: `__doc__ = "..." + _ARGS_DOC +
  "..."`) is evaluated from the source, since there is no docstring literal.

Nothing in the package source changes; `help()` and doctests see the same
text as before.
"""

import ast
import functools
import pathlib
import re

import griffe

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Raises|Returns):\s*$")
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$")


def _indent(line):
  return len(line) - len(line.lstrip())


def _split_grouped_args(lines):
  """Expands `a, b,\\n c: text` items of Args sections into `a: text` etc."""
  out, i = [], 0
  while i < len(lines):
    match = _SECTION.match(lines[i])
    out.append(lines[i])
    i += 1
    if not match or match.group(2) not in ("Args", "Arguments"):
      continue
    header = len(match.group(1))
    item = None
    while i < len(lines) and (not lines[i].strip() or
                              _indent(lines[i]) > header):
      line = lines[i]
      if item is None and line.strip():
        item = _indent(line)
      if line.strip() and _indent(line) == item:
        # An item starts here; gather its name lines until the colon.
        j, names = i, line.strip()
        while ":" not in names and j + 1 < len(lines) and \
            _indent(lines[j + 1]) == item:
          j += 1
          names += " " + lines[j].strip()
        head, _, desc = names.partition(":")
        if "," in head:
          body = []
          k = j + 1
          while k < len(lines) and lines[k].strip() and \
              _indent(lines[k]) > item:
            body.append(lines[k])
            k += 1
          for name in (n.strip() for n in head.split(",")):
            if name:
              out.append(" " * item + f"{name}: {desc.strip()}")
              out.extend(body)
          i = k
          continue
      out.append(line)
      i += 1
  return out


def rewrite(text):
  """The docstring `text` with the rewrites of the module docstring."""
  lines = [_EXAMPLE.sub(r"\1Examples:", line) for line in text.splitlines()]
  return "\n".join(_split_grouped_args(lines))


@functools.lru_cache(maxsize=None)
def _module_strings(path):
  """Module-level `NAME = "string"` assignments of the file at `path`."""
  tree = ast.parse(pathlib.Path(path).read_text(encoding="utf-8"))
  strings = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
        isinstance(node.targets[0], ast.Name):
      value = _evaluate(node.value, strings)
      if value is not None:
        strings[node.targets[0].id] = value
  return strings


def _evaluate(node, names):
  """A string expression of constants, known names and `+`; else None."""
  if isinstance(node, ast.Constant) and isinstance(node.value, str):
    return node.value
  if isinstance(node, ast.Name):
    return names.get(node.id)
  if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
    left, right = _evaluate(node.left, names), _evaluate(node.right, names)
    if left is not None and right is not None:
      return left + right
  return None


class TfraDocstrings(griffe.Extension):
  """Rewrites docstrings as the module docstring says."""

  def on_class_instance(self, *, node, cls, agent, **kwargs):
    del agent, kwargs
    if cls.docstring is not None or not isinstance(node, ast.ClassDef):
      return
    for statement in node.body:
      if isinstance(statement, ast.Assign) and any(
          isinstance(t, ast.Name) and t.id == "__doc__"
          for t in statement.targets):
        value = _evaluate(statement.value,
                          _module_strings(str(cls.filepath)))
        if value is not None:
          cls.docstring = griffe.Docstring(
              value, lineno=statement.lineno,
              endlineno=statement.end_lineno, parent=cls)
        if "__doc__" in cls.members:
          del cls.members["__doc__"]
        return

  def on_object(self, *, obj, loader, **kwargs):
    del loader, kwargs
    docstring = obj.docstring
    if docstring is None:
      return
    text = rewrite(docstring.value)
    if text != docstring.value:
      obj.docstring = griffe.Docstring(
          text, lineno=docstring.lineno, endlineno=docstring.endlineno,
          parent=obj, parser=docstring.parser,
          parser_options=docstring.parser_options)
