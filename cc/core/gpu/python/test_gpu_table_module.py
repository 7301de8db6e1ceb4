"""Host-reference tests of the CUDA table through the tfra_gpu module.

Needs a GPU and CuPy or PyTorch (for device arrays), no TensorFlow and no
pytest: run it as a script on a GPU machine (exit 0 passed, 1 failed, 77 no
GPU), or collect it with pytest. Every operation is checked against NumPy
and a dict: duplicate keys in a batch (the last wins), defaults and exists,
accum's exists mask, remove/clear, paged export covering every row once,
growth, a full bounded table's evictions, concurrent streams, and unique.

  PYTHONPATH=<dir of tfra_gpu*.so> python cc/core/gpu/python/test_gpu_table_module.py
"""

import sys

import numpy as np

import tfra_gpu  # pylint: disable=import-error


class Device:
  """Device arrays from CuPy, or from PyTorch when CuPy is missing."""

  def __init__(self):
    try:
      import cupy  # pylint: disable=import-outside-toplevel
      self.cp, self.torch = cupy, None
    except ImportError:
      import torch  # pylint: disable=import-outside-toplevel
      self.cp, self.torch = None, torch

  def put(self, a):
    a = np.ascontiguousarray(a)
    if self.cp is not None:
      return self.cp.asarray(a)
    return self.torch.from_numpy(a.copy()).cuda()

  def empty(self, shape, dtype):
    return self.put(np.zeros(shape, dtype))

  def ptr(self, d):
    return d.data.ptr if self.cp is not None else d.data_ptr()

  def get(self, d):
    return self.cp.asnumpy(d) if self.cp is not None else d.cpu().numpy()

  def stream(self):
    """(stream object, raw cudaStream_t as int)."""
    if self.cp is not None:
      s = self.cp.cuda.Stream(non_blocking=True)
      return s, s.ptr
    s = self.torch.cuda.Stream()
    return s, s.cuda_stream

  def sync(self):
    if self.cp is not None:
      self.cp.cuda.Device().synchronize()
    else:
      self.torch.cuda.synchronize()


DEV = None
KEY_DTYPES = {"int64": np.int64, "int32": np.int32}


def _table(dim, key_type="int64", **kw):
  return tfra_gpu.Table(dim=dim, value_type="float32", key_type=key_type, **kw)


def _find(t, keys, dim, default=-1.0):
  d_keys = DEV.put(keys)
  out = DEV.empty((len(keys), dim), np.float32)
  dflt = DEV.put(np.full(dim, default, np.float32))
  exists = DEV.empty(len(keys), np.bool_)
  t.find(DEV.ptr(d_keys), len(keys), DEV.ptr(out), DEV.ptr(dflt),
         exists=DEV.ptr(exists))
  DEV.sync()
  return DEV.get(out), DEV.get(exists)


def _insert(t, keys, values, dropped=None):
  d_keys, d_vals = DEV.put(keys), DEV.put(values)
  d_drop = DEV.empty(len(keys), keys.dtype)
  n = t.insert(DEV.ptr(d_keys), len(keys), DEV.ptr(d_vals),
               dropped=DEV.ptr(d_drop))
  DEV.sync()
  if dropped is not None:
    dropped.extend(DEV.get(d_drop)[:n].tolist())
  return n


def _export(t, dim, key_dtype, page=1000):
  keys = DEV.empty(page, key_dtype)
  vals = DEV.empty((page, dim), np.float32)
  rows, cursor = {}, 0
  while True:
    count, cursor = t.export_batch(cursor, page, DEV.ptr(keys), DEV.ptr(vals))
    k, v = DEV.get(keys)[:count], DEV.get(vals)[:count]
    for key, row in zip(k.tolist(), v):
      assert key not in rows, f"key {key} exported twice"
      rows[key] = row
    if cursor == 0:
      return rows


def test_insert_find_export_match_a_dict():
  rng = np.random.default_rng(0)
  for key_type, dtype in KEY_DTYPES.items():
    for dim in (8, 64):
      t = _table(dim, key_type)
      ref = {}
      for _ in range(5):
        keys = rng.integers(-5000, 5000, 3000).astype(dtype)  # duplicates
        vals = rng.normal(size=(3000, dim)).astype(np.float32)
        _insert(t, keys, vals)
        for k, v in zip(keys.tolist(), vals):
          ref[k] = v  # the last duplicate wins
      probe = np.arange(-6000, 6000, 7).astype(dtype)
      got, exists = _find(t, probe, dim)
      for k, row, e in zip(probe.tolist(), got, exists):
        assert e == (k in ref), k
        np.testing.assert_array_equal(row, ref[k] if e else np.full(dim, -1.0))
      assert t.size() == len(ref)
      exported = _export(t, dim, dtype)
      assert exported.keys() == ref.keys()
      for k, v in ref.items():
        np.testing.assert_array_equal(exported[k], v)


def test_accum_follows_the_exists_mask():
  dim = 4
  t = _table(dim)
  _insert(t, np.array([1, 2], np.int64), np.ones((2, dim), np.float32))
  keys = np.array([1, 2, 3, 4], np.int64)
  deltas = np.arange(16, dtype=np.float32).reshape(4, dim)
  exists = np.array([True, False, False, True])
  d_k, d_v, d_e = DEV.put(keys), DEV.put(deltas), DEV.put(exists)
  t.accum(DEV.ptr(d_k), 4, DEV.ptr(d_v), DEV.ptr(d_e))
  DEV.sync()
  got, found = _find(t, keys, dim)
  np.testing.assert_array_equal(got[0], 1 + deltas[0])  # present, exists
  np.testing.assert_array_equal(got[1], np.ones(dim))    # present, !exists
  np.testing.assert_array_equal(got[2], deltas[2])       # absent, !exists
  assert found.tolist() == [True, True, True, False]     # absent, exists


def test_remove_and_clear():
  dim = 2
  t = _table(dim)
  keys = np.arange(100, dtype=np.int64)
  _insert(t, keys, np.ones((100, dim), np.float32))
  d = DEV.put(keys[:40])
  t.remove(DEV.ptr(d), 40)
  DEV.sync()
  _, exists = _find(t, keys, dim)
  assert exists.tolist() == [False] * 40 + [True] * 60
  t.clear()
  assert t.size() == 0


def test_growth_keeps_every_row():
  dim = 8
  t = _table(dim, init_capacity=1024)
  keys = np.arange(200_000, dtype=np.int64) * 3
  vals = np.repeat(keys[:, None].astype(np.float32), dim, axis=1)
  _insert(t, keys, vals)
  assert t.capacity() >= 400_000  # load factor 0.5
  got, exists = _find(t, keys, dim)
  assert exists.all()
  np.testing.assert_array_equal(got, vals)


def test_a_full_bounded_table_evicts_and_reports():
  dim = 4
  t = _table(dim, max_capacity=4096, policy="lru")
  capacity = t.capacity()
  dropped, ref = [], {}
  for step in range(6):
    keys = np.arange(step * 3000, (step + 1) * 3000, dtype=np.int64)
    vals = np.full((3000, dim), step, np.float32)
    _insert(t, keys, vals, dropped)
    ref.update({k: step for k in keys.tolist()})
  assert t.size() <= capacity
  assert len(dropped) == len(set(dropped))
  everything = np.array(sorted(ref), np.int64)
  got, exists = _find(t, everything, dim)
  assert int(exists.sum()) == t.size()
  assert set(everything[~exists].tolist()) == set(dropped)
  for k, row, e in zip(everything.tolist(), got, exists):
    if e:
      assert (row == ref[k]).all(), k


def test_concurrent_streams_lose_nothing():
  dim = 8
  t = _table(dim)
  batches = [np.arange(i * 50_000, (i + 1) * 50_000, dtype=np.int64)
             for i in range(4)]
  held = []
  for keys in batches:
    s, handle = DEV.stream()
    d_k = DEV.put(keys)
    d_v = DEV.put(np.repeat(keys[:, None].astype(np.float32), dim, axis=1))
    DEV.sync()
    t.insert(DEV.ptr(d_k), len(keys), DEV.ptr(d_v), stream=handle)
    held.append((s, d_k, d_v))  # keep buffers alive until synced
  DEV.sync()
  allkeys = np.concatenate(batches)
  got, exists = _find(t, allkeys, dim)
  assert exists.all()
  np.testing.assert_array_equal(got[:, 0], allkeys.astype(np.float32))


def test_unique_is_first_seen_order():
  rng = np.random.default_rng(3)
  for key_type, dtype in KEY_DTYPES.items():
    keys = rng.integers(-50, 50, 10_000).astype(dtype)
    _, first = np.unique(keys, return_index=True)
    want = keys[np.sort(first)]
    rank = {k: i for i, k in enumerate(want.tolist())}
    n = len(keys)
    bytes_ = tfra_gpu.unique_scratch_bytes(n, key_type)
    scratch = DEV.empty(bytes_, np.uint8)
    d_keys, d_unique = DEV.put(keys), DEV.empty(n, dtype)
    d_idx = DEV.empty(n, np.int32)
    count = tfra_gpu.unique(DEV.ptr(d_keys), n, DEV.ptr(scratch), bytes_,
                            DEV.ptr(d_unique), DEV.ptr(d_idx), key_type)
    assert count == len(want)
    np.testing.assert_array_equal(DEV.get(d_unique)[:count], want)
    assert DEV.get(d_idx).tolist() == [rank[k] for k in keys.tolist()]


def _setup():
  global DEV  # pylint: disable=global-statement
  ok, why = tfra_gpu.gpu_available()
  if not ok:
    return why
  DEV = Device()
  return None


def setup_module():
  why = _setup()
  if why is not None:
    import pytest  # pylint: disable=import-outside-toplevel
    pytest.skip(f"needs_gpu: {why}", allow_module_level=True)


def main():
  why = _setup()
  if why is not None:
    print(f"SKIP: {why}")
    return 77
  failures = 0
  for name, fn in sorted(globals().items()):
    if name.startswith("test_") and callable(fn):
      try:
        fn()
        print(f"ok   {name}")
      except Exception as e:  # pylint: disable=broad-except
        failures += 1
        print(f"FAIL {name}: {type(e).__name__}: {e}")
  print(f"{'FAILED' if failures else 'PASSED'}: {failures} failure(s)")
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
