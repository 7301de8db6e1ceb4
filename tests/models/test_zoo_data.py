"""The zoo's data: synthetic generators and the Criteo/Avazu reader."""

import numpy as np
import pytest
import tensorflow as tf

from tensorflow_recommenders_addons.models import data


def test_synthetic_ctr_is_reproducible_and_criteo_shaped():
  a = data.synthetic_ctr(5000, seed=3)
  b = data.synthetic_ctr(5000, seed=3)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert a["categorical"].shape == (5000, 26)
  assert a["dense"].shape == (5000, 13)
  assert abs(a["click"].mean() - 0.25) < 0.03
  clicked = a["click"] == 1
  assert abs(a["conversion"][clicked].mean() - 0.2) < 0.05
  assert not a["conversion"][~clicked].any()
  assert (a["dense"] >= 0).all()


def test_synthetic_ctr_ids_are_zipf_distributed_raw_hashes():
  d = data.synthetic_ctr(20_000, num_fields=1, num_dense=0,
                         vocabulary_size=1000, seed=1)
  ids, counts = np.unique(d["categorical"][:, 0], return_counts=True)
  counts = np.sort(counts)[::-1]
  assert ids.min() >= 0 and ids.max() < 2**32 and ids.max() > 1000
  # Zipf: the top id is about twice the second, ten times the tenth.
  assert 1.5 < counts[0] / counts[1] < 2.7
  assert 6 < counts[0] / counts[9] < 18


@pytest.mark.parametrize("kwargs,arg", [
    ({"num_examples": 0}, "num_examples"),
    ({"num_examples": 10, "ctr": 1.0}, "ctr"),
    ({"num_examples": 10, "vocabulary_size": 5}, "vocabulary_size"),
    ({"num_examples": 10, "zipf_exponent": -1}, "zipf_exponent"),
])
def test_synthetic_ctr_names_bad_arguments(kwargs, arg):
  with pytest.raises(tf.errors.InvalidArgumentError, match=arg):
    data.synthetic_ctr(**kwargs)


def test_synthetic_retrieval_histories_follow_the_users():
  d = data.synthetic_retrieval(3000, num_users=50, num_items=100,
                               history_length=5, seed=0)
  assert set(d["history"].ravel()) <= set(d["items"])
  assert 0 not in d["items"]
  # A user's label is more often in their own history than in a random
  # other user's (the hidden vectors make users' items cluster).
  own = np.mean([d["item"][i, 0] in d["history"][i] for i in range(3000)])
  other = np.mean([d["item"][i, 0] in d["history"][(i + 1) % 3000]
                   for i in range(3000)])
  assert own > other + 0.05
  np.testing.assert_allclose(
      d["item_probability"][0],
      np.mean(d["item"][:, 0] == d["item"][0, 0]), rtol=1e-6)


def _write(tmp_path, name, lines):
  path = tmp_path / name
  path.write_text("".join(line + "\n" for line in lines))
  return str(path)


def test_criteo_reader_parses_labels_counts_and_empty_fields(tmp_path):
  rows = [["1"] + ["0", "", "7"] + ["2"] * 10 + ["a1"] * 25 + [""],
          ["0"] + ["-1"] * 13 + ["b2"] * 26]
  path = _write(tmp_path, "day.tsv", ["\t".join(r) for r in rows])
  batches = list(data.read_ctr_files([path, path], "criteo", batch_size=3))
  assert [int(b[1].shape[0]) for b in batches] == [3, 1]
  x, y = batches[0]
  assert y.numpy().ravel().tolist() == [1.0, 0.0, 1.0]
  np.testing.assert_allclose(x["dense"][0, :3], [0.0, 0.0, np.log1p(7)],
                             rtol=1e-6)
  assert x["dense"][1, 0] == 0.0  # negative counts read 0
  assert x["categorical"][0, -1].numpy() == b""
  assert x["categorical"].shape == (3, 26)


def test_avazu_reader_skips_the_header(tmp_path):
  header = ",".join(["id", "click"] + [f"c{i}" for i in range(22)])
  line = ",".join(["1000", "1"] + [f"v{i}" for i in range(22)])
  path = _write(tmp_path, "train.csv", [header, line])
  (x, y), = list(data.read_ctr_files(path, "avazu"))
  assert y.numpy().tolist() == [[1.0]]
  assert x["categorical"].numpy()[0, :2].tolist() == [b"v0", b"v1"]
  assert "dense" not in x


def test_reader_refuses_lines_with_missing_columns(tmp_path):
  path = _write(tmp_path, "bad.tsv", ["1\t2\t3"])
  with pytest.raises(tf.errors.InvalidArgumentError, match="40 columns"):
    list(data.read_ctr_files(path))


def test_reader_names_a_bad_layout():
  with pytest.raises(tf.errors.InvalidArgumentError, match="layout"):
    data.read_ctr_files("x.tsv", layout="movielens")
