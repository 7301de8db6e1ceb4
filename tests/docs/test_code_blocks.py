"""The code blocks of README.md and docs/**/*.md run as written.

Marking convention (an HTML comment on its own line right before a fence,
blank lines allowed between; it shows neither on GitHub nor in the site):

  ```python blocks     run by default. Opt out with
                       `<!-- not-runnable: why -->` (the reason is
                       required: fragments, installs, long trainings).
  ```bash / ```sh      run only when marked `<!-- runnable -->`.
  other fences         (output, yaml, text, no language) never run.

A runnable marker may carry options after a colon, separated by spaces:

  `<!-- runnable: continues -->`  the block continues the previous runnable
      block of the same file (it relies on its variables): the chain runs
      as one script, one test named after its first block.
  `<!-- runnable: env NAME=VALUE ... -->`  extra environment variables,
      e.g. `env TF_USE_LEGACY_KERAS=1` for tf_keras code.

Each block (or chain) runs in a fresh subprocess, Python with
`sys.executable`, bash with `bash -e` and the interpreter's bin directory
first on PATH, in an empty temporary working directory (so relative paths
such as `ckpt/model` land there), with `TF_CPP_MIN_LOG_LEVEL=2` and a
timeout. Test ids are `<file>:L<line of the opening fence>`.
"""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys

import pytest

import pyproc

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 240

PYTHON_LANGS = ("python", "py", "python3")
SHELL_LANGS = ("bash", "sh", "shell")
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(
    r"^\s*<!--\s*(?P<kind>runnable|not-runnable)\b(?P<rest>.*?)-->\s*$")
# Only a comment that starts its line is a marker (prose may quote one).
_ANY_MARKER = re.compile(r"^\s*<!--\s*(runnable|not-runnable)")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")


class MarkerError(ValueError):
  """A marker that breaks the convention (module docstring)."""


@dataclasses.dataclass
class Block:
  path: str           # relative to the repository root
  line: int           # 1-based line of the opening fence
  lang: str
  code: str
  marker: str = None  # "runnable", "not-runnable" or None
  reason: str = ""
  continues: bool = False
  env: dict = dataclasses.field(default_factory=dict)

  @property
  def id(self):
    return f"{self.path}:L{self.line}"

  @property
  def runs(self):
    if self.lang in PYTHON_LANGS:
      return self.marker != "not-runnable"
    return self.lang in SHELL_LANGS and self.marker == "runnable"


def _parse_marker(text, where):
  """`(kind, reason, continues, env)` of a marker comment."""
  match = _MARKER.match(text)
  if not match:
    raise MarkerError(f"{where}: malformed marker {text.strip()!r}")
  kind, rest = match.group("kind"), match.group("rest").strip()
  if kind == "not-runnable":
    reason = rest[1:].strip() if rest.startswith(":") else ""
    if not reason:
      raise MarkerError(f"{where}: `not-runnable` needs a reason: "
                        f"<!-- not-runnable: why -->")
    return kind, reason, False, {}
  if rest and not rest.startswith(":"):
    raise MarkerError(f"{where}: malformed marker {text.strip()!r}")
  continues, env, tokens = False, {}, rest[1:].split()
  i = 0
  while i < len(tokens):
    token = tokens[i]
    if token == "continues":
      continues = True
    elif token == "env":
      i += 1
      if i == len(tokens) or not _ENV.match(tokens[i]):
        raise MarkerError(f"{where}: `env` needs NAME=VALUE pairs")
      while i < len(tokens) and _ENV.match(tokens[i]):
        name, _, value = tokens[i].partition("=")
        env[name] = value
        i += 1
      continue
    else:
      raise MarkerError(f"{where}: unknown marker option {token!r}")
    i += 1
  return kind, "", continues, env


def parse_blocks(text, path):
  """Every fenced code block of Markdown `text`, with its marker.

  Raises:
    MarkerError: a malformed marker, a marker not directly followed by a
      fence, a runnable marker on a block that cannot run, or an unclosed
      fence.
  """
  lines = text.splitlines()
  blocks, pending, i = [], None, 0
  while i < len(lines):
    line = lines[i]
    fence = _FENCE.match(line)
    if _ANY_MARKER.search(line):
      if pending is not None:
        raise MarkerError(f"{path}:L{pending[0]}: marker not followed by a "
                          f"code block")
      pending = (i + 1, _parse_marker(line, f"{path}:L{i + 1}"))
      i += 1
      continue
    if fence is None:
      if pending is not None and line.strip():
        raise MarkerError(f"{path}:L{pending[0]}: marker not followed by a "
                          f"code block (the next line must open a fence)")
      i += 1
      continue
    indent, mark = fence.group("indent"), fence.group("fence")
    body, j = [], i + 1
    while j < len(lines) and not (
        lines[j].strip().startswith(mark) and
        lines[j].strip().strip(mark[0]) == ""):
      body.append(lines[j][len(indent):] if lines[j].startswith(indent)
                  else lines[j].lstrip())
      j += 1
    if j == len(lines):
      raise MarkerError(f"{path}:L{i + 1}: unclosed code fence")
    block = Block(path, i + 1, fence.group("lang").lower(),
                  "\n".join(body) + "\n")
    if pending is not None:
      block.marker, block.reason, block.continues, block.env = pending[1]
      if block.marker == "runnable" and block.lang not in (
          PYTHON_LANGS + SHELL_LANGS):
        raise MarkerError(f"{block.id}: a ```{block.lang} block cannot run")
      pending = None
    blocks.append(block)
    i = j + 1
  if pending is not None:
    raise MarkerError(f"{path}:L{pending[0]}: marker at the end of the file")
  return blocks


def markdown_files():
  """README.md and every page of docs/, as paths relative to ROOT."""
  pages = sorted((ROOT / "docs").rglob("*.md"))
  return ["README.md"] + [str(p.relative_to(ROOT)) for p in pages]


def chains(blocks):
  """Runnable blocks grouped into scripts: a `continues` block joins the
  previous runnable block of its file."""
  out = []
  for block in blocks:
    if not block.runs:
      continue
    if block.continues:
      if not out or out[-1][0].path != block.path:
        raise MarkerError(f"{block.id}: `continues` but no runnable block "
                          f"before it in {block.path}")
      if block.lang != out[-1][0].lang:
        raise MarkerError(f"{block.id}: continues a {out[-1][0].lang} block")
      out[-1].append(block)
    else:
      out.append([block])
  return out


def _collect():
  blocks = []
  for path in markdown_files():
    blocks += parse_blocks((ROOT / path).read_text(encoding="utf-8"), path)
  return blocks


def _chains_or_error():
  """The chains to run; on a marker error one chain-less entry that fails,
  so collection never breaks the whole session."""
  try:
    return [pytest.param(c, id=c[0].id) for c in chains(_collect())]
  except MarkerError as e:
    return [pytest.param(e, id="marker-error")]


def _script(chain):
  """The chain as one script, and which script lines come from where."""
  parts, origins, line = [], [], 1
  for block in chain:
    n = block.code.count("\n")
    origins.append(f"script lines {line}-{line + n - 1}: {block.id}")
    parts.append(block.code)
    line += n
  return "".join(parts), origins


@pytest.mark.parametrize("chain", _chains_or_error())
def test_code_block_runs(chain, tmp_path):
  if isinstance(chain, MarkerError):
    pytest.fail(str(chain))
  script, origins = _script(chain)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PATH=os.path.dirname(sys.executable) + os.pathsep +
             os.environ.get("PATH", ""))
  for block in chain:
    env.update(block.env)
  work = tmp_path / "cwd"
  work.mkdir()
  if chain[0].lang in PYTHON_LANGS:
    (tmp_path / "block.py").write_text(script, encoding="utf-8")
    command = pyproc.python(str(tmp_path / "block.py"))
  else:
    (tmp_path / "block.sh").write_text(script, encoding="utf-8")
    command = ["bash", "-e", str(tmp_path / "block.sh")]
  try:
    result = subprocess.run(command, cwd=str(work), env=env, text=True,
                            capture_output=True, timeout=TIMEOUT_S,
                            check=False)
  except subprocess.TimeoutExpired:
    pytest.fail(f"{chain[0].id} ran longer than {TIMEOUT_S} s")
  if result.returncode != 0:
    pytest.fail(
        f"{chain[0].id} failed (exit {result.returncode}); "
        f"{'; '.join(origins)}\n--- stderr (tail) ---\n"
        f"{result.stderr[-4000:]}\n--- stdout (tail) ---\n"
        f"{result.stdout[-2000:]}", pytrace=False)


# The convention itself -----------------------------------------------------


def test_markers_are_well_formed():
  """Every marker in README and docs is valid and attached to a block."""
  chains(_collect())  # raises MarkerError with the file and line


@pytest.mark.parametrize("prefix", ["README.md", "docs/"])
def test_runnable_blocks_exist(prefix):
  runnable = [b for b in _collect() if b.runs and b.path.startswith(prefix)]
  assert runnable, f"no runnable code block found in {prefix}"


def test_python_blocks_run_by_default():
  (block,) = parse_blocks("```python\nprint(1)\n```\n", "x.md")
  assert block.runs and block.code == "print(1)\n"


def test_bash_blocks_run_only_when_marked():
  plain, marked = parse_blocks(
      "```bash\nls\n```\n\n<!-- runnable -->\n```bash\nls\n```\n", "x.md")
  assert not plain.runs and marked.runs


def test_not_runnable_needs_a_reason():
  with pytest.raises(MarkerError, match="needs a reason"):
    parse_blocks("<!-- not-runnable -->\n```python\nx\n```\n", "x.md")
  (block,) = parse_blocks(
      "<!-- not-runnable: a fragment -->\n```python\nx\n```\n", "x.md")
  assert not block.runs and block.reason == "a fragment"


def test_marker_must_be_attached_to_a_block():
  with pytest.raises(MarkerError, match="not followed by a code block"):
    parse_blocks("<!-- runnable -->\nsome text\n```bash\nls\n```\n", "x.md")
  with pytest.raises(MarkerError, match="end of the file"):
    parse_blocks("```python\nx = 1\n```\n<!-- runnable -->\n", "x.md")


def test_marker_options():
  (block,) = parse_blocks(
      "<!-- runnable: continues env A=1 B=x -->\n```python\nx\n```\n", "x.md")
  assert block.continues and block.env == {"A": "1", "B": "x"}
  with pytest.raises(MarkerError, match="unknown marker option"):
    parse_blocks("<!-- runnable: sometimes -->\n```python\nx\n```\n", "x.md")
  with pytest.raises(MarkerError, match="cannot run"):
    parse_blocks("<!-- runnable -->\n```text\nx\n```\n", "x.md")


def test_continues_joins_the_previous_runnable_block():
  blocks = parse_blocks(
      "```python\na = 1\n```\n```text\nout\n```\n"
      "<!-- runnable: continues -->\n```python\nprint(a)\n```\n", "x.md")
  (chain,) = chains(blocks)
  assert _script(chain)[0] == "a = 1\nprint(a)\n"
  with pytest.raises(MarkerError, match="no runnable block before"):
    chains(parse_blocks(
        "<!-- runnable: continues -->\n```python\nx\n```\n", "x.md"))
