"""Table files whose header fields disagree are refused, even with a valid CRC.

Each case rewrites one field of a valid file (cc/core/kv_file.h: header
"TFRAKV01" | version | key_kind | value_dtype | value_bytes | dim, footer
count | crc32c | 0 | "TFRAEND1") and recomputes the checksum, so only the
cross-checks between fields can catch it. Loading must raise DataLoss naming
the file and the field, and leave the table or variable as it was: never
read rows of the wrong width (a heap overflow before these checks).
"""

import struct

import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de
from tensorflow_recommenders_addons.dynamic_embedding.tables import cuckoo_hashtable

DIM = 3
_HEADER = struct.Struct("<8sIIIIq")
_FOOTER = struct.Struct("<QII8s")


def _crc32c_table():
  table = []
  for i in range(256):
    c = i
    for _ in range(8):
      c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
  return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
  c = 0xFFFFFFFF
  for b in data:
    c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
  return c ^ 0xFFFFFFFF


def rewrite(path, **fields):
  """Replaces header fields of the table file `path` and re-signs it with a
  valid CRC (a wrong one would fail as "fails its checksum" instead)."""
  data = path.read_bytes()
  names = ["magic", "version", "key_kind", "value_dtype", "value_bytes",
           "dim"]
  header = dict(zip(names, _HEADER.unpack_from(data)))
  header.update(fields)
  count, _, zero, end = _FOOTER.unpack_from(data, len(data) - _FOOTER.size)
  body = _HEADER.pack(*[header[n] for n in names]) + \
      data[_HEADER.size:len(data) - _FOOTER.size]
  path.write_bytes(body + _FOOTER.pack(count, crc32c(body),
                                       zero, end))


# case -> (dtype of the file's writer, field changes, message fragment).
# DT_FLOAT is 1, DT_DOUBLE 2. (A footer row count that disagrees with the
# records was already refused by the verify pass; the C++ tests and the
# fuzzer cover it.)
# The first two are complete, consistent files of 8- and 2-byte values that
# claim to hold float32: only value_bytes against the dtype tells.
F32, F64, F16 = tf.float32, tf.float64, tf.float16
CASES = {
    "float64_rows_labelled_float32": (F64, dict(value_dtype=1),
                                      "value_bytes 8"),
    "float16_rows_labelled_float32": (F16, dict(value_dtype=1),
                                      "value_bytes 2"),
    "value_bytes_wider_than_dtype": (F32, dict(value_bytes=8),
                                     "records of"),
    "value_bytes_not_a_width": (F32, dict(value_bytes=3), "value_bytes 3"),
    "value_bytes_zero": (F32, dict(value_bytes=0), "value_bytes 0"),
    "dtype_of_other_width": (F32, dict(value_dtype=2), "value_bytes 4"),
    "dtype_code_unknown": (F32, dict(value_dtype=999),
                           "value dtype code 999"),
    "key_kind_unknown": (F32, dict(key_kind=7), "key kind 7"),
    "dim_zero": (F32, dict(dim=0), "dim 0"),
    "dim_negative": (F32, dict(dim=-DIM), "dim -3"),
    "dim_huge": (F32, dict(dim=2**61), "dim 2305843009213693952"),
}


@pytest.fixture
def file_of(samples, tmp_path):
  """file_of(key_dtype, n, value_dtype): a valid file of n rows in
  tmp_path/emb.tfrakv, written by a table of dim DIM."""

  def make(key_dtype, n=40, value_dtype=tf.float32):
    source = de.CuckooHashTable(key_dtype, value_dtype,
                                tf.zeros([DIM], value_dtype), name="emb")
    source.insert(samples.keys(key_dtype, n),
                  samples.values(value_dtype, [n, DIM], seed=3))
    source.save_to_file_system(str(tmp_path))
    return tmp_path / "emb.tfrakv"

  return make


def _check_refused(samples, target, load, path, fragment):
  before = samples.content(target)
  with pytest.raises(tf.errors.DataLossError) as info:
    load()
  assert str(path) in str(info.value), str(info.value)
  assert "corrupt" in str(info.value) and fragment in str(info.value), \
      str(info.value)
  samples.assert_same_content(samples.content(target), before)


@pytest.mark.parametrize("case", sorted(CASES))
def test_table_refuses_disagreeing_header(samples, key_dtype, file_of, case):
  writer, fields, fragment = CASES[case]
  path = file_of(key_dtype, value_dtype=writer)
  rewrite(path, **fields)
  table = de.CuckooHashTable(key_dtype, tf.float32, [0.0] * DIM, name="emb")
  table.insert(samples.keys(key_dtype, 4, start=200), tf.ones([4, DIM]))
  _check_refused(samples, table,
                 lambda: table.load_from_file_system(str(path.parent)),
                 path, fragment)


@pytest.mark.parametrize("case", sorted(CASES))
def test_variable_refuses_disagreeing_header(samples, file_of, case):
  # de.Variable loads go through KvFileVerify / KvFileReadRows.
  writer, fields, fragment = CASES[case]
  var = de.Variable(dim=DIM, key_dtype=tf.int64, name="emb")
  var.upsert(samples.keys(tf.int64, 4, start=200), tf.ones([4, DIM]))
  path = file_of(tf.int64, value_dtype=writer)
  name = var.file_name(0) + ".tfrakv"
  path = path.rename(path.parent / name)
  rewrite(path, **fields)
  _check_refused(samples, var,
                 lambda: var.load_from_file_system(str(path.parent)),
                 path, fragment)


# The raw export ops -> a call with another Tvalues than the table's.
EXPORTS = {
    "export": lambda ops, t, wrong: ops.tfra_hash_table_export(
        t.resource_handle, Tkeys=tf.int64, Tvalues=wrong),
    "export_with_meta": lambda ops, t, wrong:
        ops.tfra_hash_table_export_with_meta(
            t.resource_handle, Tkeys=tf.int64, Tvalues=wrong),
    "export_delta": lambda ops, t, wrong:
        ops.tfra_hash_table_export_delta(
            t.resource_handle, tf.constant(0, tf.int64), Tkeys=tf.int64,
            Tvalues=wrong),
}


@pytest.mark.parametrize("op", sorted(EXPORTS))
@pytest.mark.parametrize("wrong", [tf.float64, tf.float16, tf.int32])
def test_export_op_refuses_another_value_dtype(op, wrong):
  table = de.CuckooHashTable(
      tf.int64, tf.float32, [0.0] * DIM,
      config=de.CuckooHashTableConfig(track_changes=True))
  table.insert([1, 2], tf.ones([2, DIM]))
  ops = cuckoo_hashtable._ops()  # pylint: disable=protected-access
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="Tvalues: dtype .* table's value dtype float"):
    EXPORTS[op](ops, table, wrong)
  keys, values = table.export()
  assert sorted(keys.numpy().tolist()) == [1, 2]
  assert values.numpy().tolist() == [[1.0] * DIM] * 2
