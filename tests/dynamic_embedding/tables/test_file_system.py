"""save_to_file_system / load_from_file_system checked against a dict.

The file buffers are at least 4 KiB whatever `buffer_size` asks for, so the
round trips below write enough bytes (or long keys / wide rows) to cross
several buffer boundaries.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

DIM = 4
SMALL_BUFFER = 64


def make_table(key_dtype, value_dtype=tf.float32, dim=DIM, name="emb"):
  return de.CuckooHashTable(key_dtype, value_dtype,
                            tf.zeros([dim], value_dtype), name=name)


def filled(samples, key_dtype, value_dtype=tf.float32, n=600, start=0,
           seed=0, dim=DIM, name="emb"):
  table = make_table(key_dtype, value_dtype, dim, name)
  keys = samples.keys(key_dtype, n, start=start)
  values = samples.values(value_dtype, [n, dim], seed=seed)
  table.insert(keys, values)
  return table, samples.as_dict(keys, values)


def test_round_trip(samples, key_dtype, value_dtype, tmp_path,
                    eager_or_function):
  source, ref = filled(samples, key_dtype, value_dtype)
  target = make_table(key_dtype, value_dtype)
  eager_or_function(lambda: source.save_to_file_system(
      str(tmp_path), buffer_size=SMALL_BUFFER))
  eager_or_function(lambda: target.load_from_file_system(
      str(tmp_path), buffer_size=SMALL_BUFFER))
  samples.assert_same_content(samples.content(target), ref)


def test_round_trip_with_default_buffer(samples, key_dtype, tmp_path):
  source, ref = filled(samples, key_dtype, n=5000)
  source.save_to_file_system(str(tmp_path))
  target = make_table(key_dtype)
  target.load_from_file_system(str(tmp_path))
  samples.assert_same_content(samples.content(target), ref)


def test_round_trip_of_string_keys_longer_than_the_buffer(samples, tmp_path):
  keys = [b"", b"x", b"\x00" * 4095, b"y" * 4096, b"z\x00" * 2049,
          "\u00e9".encode() * 5000]
  source = make_table(tf.string)
  source.insert(keys, tf.reshape(tf.range(len(keys) * DIM, dtype=tf.float32),
                                 [len(keys), DIM]))
  source.save_to_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  target = make_table(tf.string)
  target.load_from_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  samples.assert_same_content(samples.content(target),
                              samples.content(source))


def test_round_trip_of_rows_wider_than_the_buffer(samples, key_dtype,
                                                  tmp_path):
  source, ref = filled(samples, key_dtype, tf.float32, n=7, dim=1100)
  source.save_to_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  target = make_table(key_dtype, dim=1100)
  target.load_from_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  samples.assert_same_content(samples.content(target), ref)


def test_file_name_defaults_to_the_table_name(samples, tmp_path):
  table, _ = filled(samples, tf.int64, n=3, name="my_table")
  table.save_to_file_system(str(tmp_path))
  assert os.listdir(tmp_path) == ["my_table.tfrakv"]


def test_slashes_in_the_table_name_become_underscores(samples, tmp_path):
  table, _ = filled(samples, tf.int64, n=3, name="scope/emb")
  table.save_to_file_system(str(tmp_path))
  assert os.listdir(tmp_path) == ["scope_emb.tfrakv"]


def test_explicit_file_name_is_used_for_save_and_load(samples, key_dtype,
                                                      tmp_path):
  source, ref = filled(samples, key_dtype, n=20, name="a")
  source.save_to_file_system(str(tmp_path), file_name="shard-0")
  assert os.listdir(tmp_path) == ["shard-0.tfrakv"]
  target = make_table(key_dtype, name="b")
  target.load_from_file_system(str(tmp_path), file_name="shard-0")
  samples.assert_same_content(samples.content(target), ref)


def test_load_merges_into_existing_content(samples, key_dtype, tmp_path):
  source, file_rows = filled(samples, key_dtype, n=20, start=10, seed=1)
  source.save_to_file_system(str(tmp_path))
  target, ref = filled(samples, key_dtype, n=20, start=0, seed=2)
  target.load_from_file_system(str(tmp_path))
  ref.update(file_rows)  # keys 10..19 are in both: the file wins
  samples.assert_same_content(samples.content(target), ref)
  assert int(target.size()) == 30


def test_load_entire_dir_loads_every_file_later_names_win(samples, key_dtype,
                                                          tmp_path):
  ref = {}
  for i, name in enumerate(["part-b", "part-a", "part-c"]):
    table, _ = filled(samples, key_dtype, n=300, start=100 * i, seed=i)
    table.save_to_file_system(str(tmp_path), file_name=name,
                              buffer_size=SMALL_BUFFER)
  # Apply in name order: part-a (i=1), part-b (i=0), part-c (i=2).
  for i in (1, 0, 2):
    keys = samples.keys(key_dtype, 300, start=100 * i)
    ref.update(samples.as_dict(
        keys, samples.values(tf.float32, [300, DIM], seed=i)))
  (tmp_path / "notes.txt").write_text("ignored")
  target = make_table(key_dtype)
  target.load_from_file_system(str(tmp_path), load_entire_dir=True,
                               buffer_size=SMALL_BUFFER)
  samples.assert_same_content(samples.content(target), ref)


def test_save_leaves_no_temporary_files(samples, key_dtype, tmp_path):
  table, _ = filled(samples, key_dtype)
  for _ in range(3):
    table.save_to_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  assert os.listdir(tmp_path) == ["emb.tfrakv"]


def test_save_over_an_existing_file_replaces_it(samples, key_dtype, tmp_path):
  big, _ = filled(samples, key_dtype, n=500, seed=1)
  big.save_to_file_system(str(tmp_path))
  small, ref = filled(samples, key_dtype, n=5, start=1000, seed=2)
  small.save_to_file_system(str(tmp_path))
  target = make_table(key_dtype)
  target.load_from_file_system(str(tmp_path))
  samples.assert_same_content(samples.content(target), ref)


def test_save_creates_missing_directories(samples, tmp_path):
  table, ref = filled(samples, tf.int64, n=3)
  nested = tmp_path / "a" / "b" / "c"
  table.save_to_file_system(str(nested))
  target = make_table(tf.int64)
  target.load_from_file_system(str(nested))
  samples.assert_same_content(samples.content(target), ref)


def test_empty_table_round_trip_loads_nothing(samples, key_dtype, tmp_path):
  make_table(key_dtype).save_to_file_system(str(tmp_path))
  target, ref = filled(samples, key_dtype, n=4)
  target.load_from_file_system(str(tmp_path))
  samples.assert_same_content(samples.content(target), ref)


def test_removed_rows_are_not_saved(samples, key_dtype, tmp_path):
  table, ref = filled(samples, key_dtype, n=100)
  gone = samples.keys(key_dtype, 60, start=20)
  table.remove(gone)
  for k in samples.py_keys(gone):
    del ref[k]
  table.save_to_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  target = make_table(key_dtype)
  target.load_from_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  samples.assert_same_content(samples.content(target), ref)


@pytest.mark.parametrize("dim", [1, 33])
def test_round_trip_with_dim(samples, tmp_path, dim):
  source, ref = filled(samples, tf.int64, tf.float16, n=200, dim=dim)
  source.save_to_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  target = make_table(tf.int64, tf.float16, dim=dim)
  target.load_from_file_system(str(tmp_path), buffer_size=SMALL_BUFFER)
  samples.assert_same_content(samples.content(target), ref)
  np.testing.assert_array_equal(
      samples.rows(target.lookup(samples.keys(tf.int64, 1, start=500))),
      np.zeros([1, dim]))
