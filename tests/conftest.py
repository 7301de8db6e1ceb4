"""Shared fixtures of the test suite.

Run the suite with the venv's `pytest` binary so that the *installed* package
(with its compiled op library) is imported, not the source tree.

Tests marked `scale` are skipped unless selected (`-m scale`).

Fixtures:
  key_dtype, value_dtype   parametrize a test over every supported dtype
  eager_or_function        runs a callable eagerly or inside tf.function
  shard_devices            1, 2 or 3 logical CPU devices (one table each)
  samples                  deterministic sample keys/values and a dict reference
  table_backend            every table backend (tests/conformance): a
                           TableBackend with `name` and `creator(config)`;
                           backends not built here skip with the reason
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=wrong-import-position
import pytest  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position
from logical_devices import CPU_DEVICES  # pylint: disable=wrong-import-position

# Three logical CPU devices, so sharded variables place one table per device.
# Must run before TensorFlow initializes its devices (conftest imports first).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * len(CPU_DEVICES))

KEY_DTYPES = [tf.int64, tf.int32, tf.string]
VALUE_DTYPES = [tf.float32, tf.float16, tf.bfloat16, tf.float64, tf.int8,
                tf.int32, tf.int64, tf.bool]

# Keys that exercise edge cases come first in every key sequence: extreme
# integers, and strings with NUL bytes, non-ASCII UTF-8, invalid UTF-8, the
# empty string and strings longer than the small-string buffer.
_SPECIAL_KEYS = {
    tf.int64: [0, 1, -1, 2**63 - 1, -2**63, 2**40 + 3, -(2**62), 7],
    tf.int32: [0, 1, -1, 2**31 - 1, -2**31, 65536, -7, 7],
    tf.string: [
        b"", b"\x00", b"a\x00b", b"\x00\x00\x00", "\u00e9".encode(),
        "\u65e5\u672c\u8a9e\u30ad\u30fc".encode(), b"\xff\xfe\xfd",
        b"k" * 40, b"a", b"A", b"tail\x00",
    ],
}


def _generated_key(dtype, i):
  if dtype == tf.int64:
    return 10**12 + 7919 * i
  if dtype == tf.int32:
    return 10**6 + 7919 * i
  return f"key-{i}".encode()


def key_list(dtype, n, start=0):
  """Keys number start..start+n-1 of a fixed sequence of distinct keys."""
  special = _SPECIAL_KEYS[dtype]
  return [special[i] if i < len(special) else _generated_key(dtype, i)
          for i in range(start, start + n)]


class Samples:
  """Deterministic sample data and conversions for dict-reference checks."""

  key_list = staticmethod(key_list)

  @staticmethod
  def keys(dtype, n, start=0, shape=None):
    """A key tensor of `n` distinct keys (optionally reshaped)."""
    t = tf.constant(key_list(dtype, n, start), dtype=dtype) if n else \
        tf.zeros([0], dtype=dtype)
    return t if shape is None else tf.reshape(t, shape)

  @staticmethod
  def values(dtype, shape, seed=0, low=-8, high=8):
    """Small integer-valued rows, exactly representable in every dtype."""
    rng = np.random.default_rng(seed)
    raw = rng.integers(low, high + 1, size=shape)
    if dtype == tf.bool:
      return tf.constant(raw % 2 == 1)
    return tf.cast(tf.constant(raw, dtype=tf.int64), dtype)

  @staticmethod
  def rows(t):
    """A value tensor as a float64 numpy array (bool -> 0/1)."""
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t).astype(
        np.float64)

  @staticmethod
  def py_keys(t):
    """A key tensor as a flat list of Python ints / bytes."""
    flat = np.asarray(t.numpy() if hasattr(t, "numpy") else t).reshape(-1)
    return [k if isinstance(k, bytes) else int(k) for k in flat]

  @classmethod
  def as_dict(cls, keys, values):
    """{key: row} from key and value tensors (later duplicates win)."""
    flat = cls.py_keys(keys)
    rows = cls.rows(values).reshape(len(flat), values.shape[-1])
    return {k: rows[i] for i, k in enumerate(flat)}

  @classmethod
  def expected(cls, ref, keys, default, dim):
    """What a lookup of `keys` must return given the dict `ref`."""
    flat = cls.py_keys(keys)
    default = cls.rows(default).reshape(-1, dim)
    if default.shape[0] == 1:
      default = np.repeat(default, len(flat), axis=0)
    out = np.stack([ref[k] if k in ref else default[i]
                    for i, k in enumerate(flat)]) if flat else \
        np.zeros([0, dim])
    return out.reshape(list(keys.shape) + [dim])

  @classmethod
  def content(cls, table):
    """The table's content as {key: row}, via export."""
    keys, values = table.export()
    assert len(cls.py_keys(keys)) == len(set(cls.py_keys(keys)))
    return cls.as_dict(keys, values)

  @staticmethod
  def assert_same_content(actual, expected):
    assert sorted(actual, key=repr) == sorted(expected, key=repr)
    for k, row in expected.items():
      np.testing.assert_array_equal(actual[k], row, err_msg=repr(k))


# Test distribution under pytest-xdist (scripts/test.sh runs one worker per
# core with --dist loadscope). A scope runs on one worker, so a module- or
# session-scoped fixture is built once. Scopes are test files, except:
#   folders whose tests share state beyond one file: packaging tests build
#   into the source tree (setuptools' build/), benchmark tests read one
#   shared quick run;
#   files whose tests share no fixture and are each long: the C++ core
#   builds (plain, TSan, ASan) run test by test, on any worker.
_ONE_WORKER_DIRS = ("tests/packaging", "tests/benchmarks")
_TEST_BY_TEST = ("tests/core/test_cc_core.py",)
# The longest scopes start first, so no worker is left with a long tail.
_LONG_FIRST = ("tests/packaging", "tests/core/test_cc_core.py",
               "tests/benchmarks", "tests/dynamic_embedding/distribute",
               "tests/dynamic_embedding/graph/test_graph_cluster.py",
               "tests/tfrs", "tests/demo", "tests/models/test_auc.py",
               "tests/models/test_models.py",
               "tests/core/test_kv_file_fuzz.py")


def xdist_scope(nodeid):
  """The distribution scope of a test id (see above)."""
  path = nodeid.split("::", 1)[0]
  for folder in _ONE_WORKER_DIRS:
    if path.startswith(folder + "/"):
      return folder
  return nodeid if path in _TEST_BY_TEST else path


def _long_first_rank(item):
  for rank, prefix in enumerate(_LONG_FIRST):
    if item.nodeid.startswith(prefix):
      return rank
  return len(_LONG_FIRST)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
  """--dist loadscope with xdist_scope's scopes (pytest-xdist's own
  loadgroup marks no longer reach its scheduler under pytest 9)."""
  if config.getoption("dist") != "loadscope":
    return None
  from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

  class Scheduling(LoadScopeScheduling):

    def _split_scope(self, nodeid):
      return xdist_scope(nodeid)

  return Scheduling(config, log)


def pytest_collection_modifyitems(config, items):
  """Tests marked `scale` (heavy; each has a small default twin that always
  runs) run only when selected with `-m scale`. Under pytest-xdist the
  longest scopes are moved to the front (a stable sort: the order within
  a scope is kept)."""
  if os.environ.get("PYTEST_XDIST_WORKER"):
    items.sort(key=_long_first_rank)
  if "scale" in (config.getoption("markexpr") or ""):
    return
  skip = pytest.mark.skip(reason="heavy scale test: run with -m scale")
  for item in items:
    if "scale" in item.keywords:
      item.add_marker(skip)


@pytest.fixture
def samples():
  return Samples


@pytest.fixture(params=KEY_DTYPES, ids=lambda d: d.name)
def key_dtype(request):
  return request.param


@pytest.fixture(params=VALUE_DTYPES, ids=lambda d: d.name)
def value_dtype(request):
  return request.param


@pytest.fixture(params=["eager", "function"])
def eager_or_function(request):
  """Returns run(fn, *args): fn(*args) eagerly, or tf.function(fn)(*args).

  Tensors passed as args become tf.function inputs with their static shapes.
  A returned tf.Operation (graph-mode result of a write) is dropped, since a
  tf.function can only return tensors; writes still run, in program order.
  One tf.function per fn for the test: calling run(fn, ...) again (a training
  loop) reuses its trace when the inputs' signature is the same, as a user's
  training step does, instead of tracing every call.
  """
  if request.param == "eager":
    return lambda fn, *args: fn(*args)
  functions = {}

  def run(fn, *args):
    if fn not in functions:
      def body(*inner):
        result = fn(*inner)
        return None if isinstance(result, tf.Operation) else result
      functions[fn] = tf.function(body)
    return functions[fn](*args)

  return run


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"{n}shard")
def shard_devices(request):
  """Device lists for a de.Variable with 1, 2 or 3 shards."""
  return CPU_DEVICES[:request.param]


class TableBackend:
  """One table backend for the conformance suite: its name, a function
  building its `de.KVCreator` from a backend config (None: defaults), and
  the device its tables are placed on ('' lets TensorFlow choose)."""

  def __init__(self, name, make_creator, device=""):
    self.name = name
    self.device = device
    self._make_creator = make_creator

  def creator(self, config=None, saver=None):
    return self._make_creator(config, saver)

  def shard_devices(self, n):
    """n devices for a sharded de.Variable: this backend's device n times,
    or the logical CPUs when it has none."""
    return [self.device] * n if self.device else CPU_DEVICES[:n]

  def __repr__(self):
    return f"TableBackend({self.name!r})"


def _cpu_creator(config, saver):
  from tensorflow_recommenders_addons import dynamic_embedding as de  # pylint: disable=import-outside-toplevel
  return de.CuckooHashTableCreator(config, saver=saver)


def _not_built(reason):
  def make(config, saver):  # pylint: disable=unused-argument
    pytest.skip(reason)
  return make


def _gpu_creator():
  """The 'gpu' entry's creator: the CPU creator's tables placed on /GPU:0
  (the placement picks the CUDA table), when this op library was built with
  CUDA and a GPU is here; else a skip naming what is missing."""
  from tensorflow_recommenders_addons.utils import resource_loader  # pylint: disable=import-outside-toplevel
  if not resource_loader.read_build_info().get("cuda"):
    return _not_built("needs_gpu: this op library was built without CUDA "
                      "(TFRA_CUDA=1 builds the gpu backend)")
  if not tf.config.list_logical_devices("GPU"):
    return _not_built("needs_gpu: no GPU here")
  return _cpu_creator


# A backend joins the suite by adding an entry here (with its marker).
TABLE_BACKENDS = [
    pytest.param(TableBackend("cpu", _cpu_creator), id="cpu"),
    pytest.param(TableBackend("gpu", _gpu_creator(), device="/GPU:0"),
                 id="gpu", marks=pytest.mark.needs_gpu),
    pytest.param(TableBackend("redis", _not_built(
        "needs_redis: the Redis table backend is not built into this op "
        "library")), id="redis", marks=pytest.mark.needs_redis),
]


@pytest.fixture(params=TABLE_BACKENDS)
def table_backend(request):
  backend = request.param
  backend.creator()  # skips a backend that is not available here
  return backend
