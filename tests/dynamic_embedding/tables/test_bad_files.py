"""load_from_file_system refuses bad files and leaves the table unchanged.

Truncated, corrupt and foreign files are DataLoss, missing files NotFound, and
files written by a table of another key dtype, value dtype or dim
InvalidArgument; every message names the file (or directory) at fault.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 3


def make_table(key_dtype=tf.int64, value_dtype=tf.float32, dim=DIM):
  return de.CuckooHashTable(key_dtype, value_dtype, tf.zeros([dim],
                                                             value_dtype),
                            name="emb")


@pytest.fixture
def table(samples, key_dtype):
  """The table under test, holding rows the bad load must not disturb."""
  t = make_table(key_dtype)
  t.insert(samples.keys(key_dtype, 5, start=100),
           samples.values(tf.float32, [5, DIM], seed=1))
  return t


@pytest.fixture
def saved_file(samples, key_dtype, tmp_path):
  """Path of a valid file of 50 rows for the table under test ("emb")."""
  source = make_table(key_dtype)
  source.insert(samples.keys(key_dtype, 50),
                samples.values(tf.float32, [50, DIM], seed=2))
  source.save_to_file_system(str(tmp_path))
  return tmp_path / "emb.tfrakv"


@pytest.fixture
def expect_load_error(samples, tmp_path):
  """expect_load_error(table, error, *fragments, **load_kwargs)."""

  def check(table, error, *fragments, **kwargs):
    before = samples.content(table)
    kwargs.setdefault("dirpath", str(tmp_path))
    with pytest.raises(error) as info:
      table.load_from_file_system(**kwargs)
    for fragment in fragments:
      assert fragment in str(info.value), str(info.value)
    samples.assert_same_content(samples.content(table), before)

  return check


def test_valid_file_loads(samples, table, saved_file):
  # The baseline the corruptions below are measured against.
  table.load_from_file_system(str(saved_file.parent))
  assert int(table.size()) == 55


@pytest.mark.parametrize("keep", [0.5, 0.99, 20])
def test_truncated_file_is_data_loss(table, saved_file, expect_load_error,
                                     keep):
  data = saved_file.read_bytes()
  saved_file.write_bytes(data[:int(keep if keep > 1 else len(data) * keep)])
  expect_load_error(table, tf.errors.DataLossError, str(saved_file))


def test_file_with_a_trailing_row_cut_is_data_loss(table, saved_file,
                                                   expect_load_error):
  # Drop bytes from the middle but keep the footer: structure/CRC mismatch.
  data = saved_file.read_bytes()
  saved_file.write_bytes(data[:100] + data[100 + DIM * 4:])
  expect_load_error(table, tf.errors.DataLossError, str(saved_file))


def test_flipped_byte_is_data_loss(table, saved_file, expect_load_error):
  data = bytearray(saved_file.read_bytes())
  data[len(data) // 2] ^= 0x5A
  saved_file.write_bytes(bytes(data))
  expect_load_error(table, tf.errors.DataLossError, str(saved_file))


@pytest.mark.parametrize("size", [10, 1000])
def test_foreign_file_is_data_loss(table, tmp_path, expect_load_error, size):
  path = tmp_path / "emb.tfrakv"
  path.write_bytes(np.random.default_rng(size).bytes(size))
  expect_load_error(table, tf.errors.DataLossError, str(path))


def test_missing_file_is_not_found(table, tmp_path, expect_load_error):
  expect_load_error(table, tf.errors.NotFoundError,
                    str(tmp_path / "other.tfrakv"), file_name="other")


def test_missing_directory_is_not_found(table, tmp_path, expect_load_error):
  expect_load_error(table, tf.errors.NotFoundError, str(tmp_path / "nope"),
                    dirpath=str(tmp_path / "nope"))


def test_entire_dir_without_table_files_is_not_found(table, tmp_path,
                                                     expect_load_error):
  (tmp_path / "emb.txt").write_text("not a table file")
  (tmp_path / "emb.tfrakv.tmp-1").write_bytes(b"partial")
  expect_load_error(table, tf.errors.NotFoundError, str(tmp_path),
                    load_entire_dir=True)


def test_entire_dir_of_missing_directory_is_not_found(table, tmp_path,
                                                      expect_load_error):
  expect_load_error(table, tf.errors.NotFoundError, str(tmp_path / "nope"),
                    dirpath=str(tmp_path / "nope"), load_entire_dir=True)


def _other_key_dtype(key_dtype):
  return {tf.int64: tf.int32, tf.int32: tf.string, tf.string: tf.int64}[
      key_dtype]


# What the file's writer differs in -> (table factory, message fragment).
MISMATCHES = {
    "key_dtype": (lambda kd: make_table(_other_key_dtype(kd)), "keys"),
    "value_dtype": (lambda kd: make_table(kd, tf.float64), "value dtype"),
    "value_dtype_same_width": (lambda kd: make_table(kd, tf.int32),
                               "value dtype"),
    "dim": (lambda kd: make_table(kd, dim=DIM + 1), "dim"),
}


@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
def test_file_of_another_table_type_is_invalid_argument(
    samples, table, key_dtype, tmp_path, expect_load_error, mismatch):
  factory, fragment = MISMATCHES[mismatch]
  writer = factory(key_dtype)
  writer.insert(samples.keys(writer.key_dtype, 3),
                tf.zeros([3, writer.dim], writer.value_dtype))
  writer.save_to_file_system(str(tmp_path))
  expect_load_error(table, tf.errors.InvalidArgumentError,
                    str(tmp_path / "emb.tfrakv"), fragment)


def test_one_bad_file_in_dir_loads_nothing(samples, table, key_dtype,
                                           tmp_path, expect_load_error):
  good = make_table(key_dtype)
  good.insert(samples.keys(key_dtype, 10), tf.ones([10, DIM]))
  good.save_to_file_system(str(tmp_path), file_name="a_good")
  bad = tmp_path / "b_bad.tfrakv"
  bad.write_bytes(b"\x00" * 100)
  expect_load_error(table, tf.errors.DataLossError, str(bad),
                    load_entire_dir=True)


def test_failed_save_leaves_no_file(samples, tmp_path):
  table = make_table()
  table.insert([1, 2], tf.ones([2, DIM]))
  blocker = tmp_path / "file"
  blocker.write_text("a file where a directory is expected")
  with pytest.raises(tf.errors.OpError):
    table.save_to_file_system(str(blocker / "sub"))
  assert os.listdir(tmp_path) == ["file"]
