"""The demo's data: the synthetic generator, the MovieLens readers, the split."""

import numpy as np
import pytest

from tensorflow_recommenders_addons.demo import data

from movielens_files import write_100k, write_1m


@pytest.fixture(scope="module")
def small():
  return data.synthetic(num_users=120, num_movies=200, num_ratings=6000,
                        seed=3)


def test_synthetic_is_seeded():
  a = data.synthetic(50, 80, 1500, seed=1)
  b = data.synthetic(50, 80, 1500, seed=1)
  c = data.synthetic(50, 80, 1500, seed=2)
  assert np.array_equal(a[1].movie_id, b[1].movie_id)
  assert np.array_equal(a[1].rating, b[1].rating)
  assert np.array_equal(a[0].titles, b[0].titles)
  assert not np.array_equal(a[1].movie_id, c[1].movie_id)


def test_synthetic_has_movielens_columns(small):
  movies, ratings = small
  assert len(movies) == 200 and movies.genres.shape == (200, data.MAX_GENRES)
  assert abs(len(ratings) - 6000) < 300
  assert all(isinstance(u, bytes) for u in ratings.user_id[:10])
  assert all(isinstance(m, bytes) for m in ratings.movie_id[:10])
  assert set(np.unique(ratings.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
  assert data.PERIOD[0] <= ratings.timestamp.min()
  assert set(ratings.movie_id.tolist()) <= set(movies.ids.tolist())
  # Every movie has 1..3 known genres, padded with b"".
  for row in movies.genres:
    names = [g.decode() for g in row if g]
    assert 1 <= len(names) <= 3 and set(names) <= set(data.GENRES)
  assert all(t.endswith(")") and "(" in t for t in movies.titles)


def test_synthetic_pairs_are_distinct_and_users_rate_at_least_five(small):
  _, ratings = small
  pairs = set(zip(ratings.user_id.tolist(), ratings.movie_id.tolist()))
  assert len(pairs) == len(ratings)
  _, per_user = np.unique(ratings.user_id.astype(bytes), return_counts=True)
  assert per_user.min() >= 5 and len(per_user) == 120


def test_synthetic_popularity_is_skewed(small):
  _, ratings = small
  _, counts = np.unique(ratings.movie_id.astype(bytes), return_counts=True)
  counts = np.sort(counts)[::-1]
  # Zipf(1.2) over 200 movies: the top 10% draw more than twice their share
  # (less than the law alone gives, as users rate each movie once and by
  # taste too).
  assert counts[:20].sum() > 0.2 * counts.sum()


def test_temporal_split_holds_out_each_users_latest(small):
  _, ratings = small
  train, test = data.temporal_split(ratings, 0.25)
  assert len(train) + len(test) == len(ratings)
  for user in np.unique(test.user_id.astype(bytes))[:30]:
    mine, later = train.timestamp[train.user_id == user], \
        test.timestamp[test.user_id == user]
    assert len(mine) >= 1 and mine.max() <= later.min()
    total = len(mine) + len(later)
    assert len(later) == int(np.floor(total * 0.25))


@pytest.mark.parametrize("writer", [write_100k, write_1m], ids=["100k", "1m"])
def test_movielens_readers_return_what_was_written(tmp_path, small, writer):
  movies, ratings = small
  writer(str(tmp_path / "ml"), movies, ratings)
  # The parent directory works too: the reader looks one level down.
  got_movies, got = data.load_movielens(str(tmp_path))
  assert np.array_equal(got_movies.ids, movies.ids)
  assert np.array_equal(got_movies.titles, movies.titles)
  # MovieLens 100K stores genres as flags, in GENRES order.
  assert [sorted(row) for row in got_movies.genres.tolist()] == \
      [sorted(row) for row in movies.genres.tolist()]
  for column in ("user_id", "movie_id", "rating", "timestamp"):
    assert np.array_equal(getattr(got, column), getattr(ratings, column))


def test_reader_keeps_latin1_titles(tmp_path, small):
  movies, ratings = small
  movies.titles[0] = "Amélie (2001)"
  write_1m(str(tmp_path), movies, ratings)
  assert data.load_movielens(str(tmp_path))[0].titles[0] == "Amélie (2001)"


def test_missing_directory_is_named(tmp_path):
  with pytest.raises(data.DataError, match="no such directory"):
    data.load_movielens(str(tmp_path / "nope"))


def test_directory_without_movielens_files_is_named(tmp_path):
  (tmp_path / "README").write_text("not movielens")
  with pytest.raises(data.DataError, match="found neither u.data"):
    data.load_movielens(str(tmp_path))


@pytest.mark.parametrize("line,message", [
    ("1\t2\t3\n", "expected 4 fields"),
    ("1\t2\tfive\t881250949\n", "must be numbers"),
    ("1\t2\t9\t881250949\n", "not in 0.5..5"),
])
def test_bad_rating_line_names_file_and_line(tmp_path, small, line, message):
  movies, ratings = small
  write_100k(str(tmp_path), movies, ratings.take(np.arange(3)))
  with open(tmp_path / "u.data", "a", encoding="latin-1") as f:
    f.write(line)
  with pytest.raises(data.DataError, match=f"u.data:4: .*{message}"):
    data.load_movielens(str(tmp_path))
