"""MovieLens-shaped data for the demo: synthetic (seeded) or read from disk.

Both sources give a `Ratings` object with the columns of MovieLens:

  user_id, movie_id   raw string ids (bytes): no vocabulary is built, the
                      dynamic embedding tables take them as they are
  rating              1..5 (float32)
  timestamp           seconds since the epoch (int64)

and a `Movies` catalogue: id, title ("Name (year)") and genres (the 18
MovieLens genre names, padded with b"" to `MAX_GENRES` per movie).

The synthetic world is built so that a model has something to learn, as in
real data: movie popularity follows a Zipf law over a random ranking;
every user has a taste over genres (Dirichlet with a small concentration,
so most users favour a few genres) and an activity level; users rate movies
drawn by popularity x taste (without replacement); a rating is a user bias
+ a movie quality + how well the movie's genres fit the user's taste +
noise, rounded and clipped to 1..5 like MovieLens stars. Titles are made
from genre-flavoured words, so recommendations read sensibly.
"""

import dataclasses
import os

import numpy as np

GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
          "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
# Share of MovieLens 100K movies carrying each genre (rounded), used to
# draw the synthetic catalogue's genres.
GENRE_SHARE = (0.15, 0.08, 0.03, 0.07, 0.30, 0.07, 0.03, 0.43, 0.01, 0.01,
               0.05, 0.03, 0.04, 0.15, 0.06, 0.15, 0.04, 0.02)
MAX_GENRES = 3
# Title words: a genre's nouns name its movies, adjectives are shared.
NOUNS = {
    "Action": ("Fury", "Strike", "Vendetta", "Showdown", "Bullet"),
    "Adventure": ("Expedition", "Island", "Treasure", "Voyage", "Quest"),
    "Animation": ("Toybox", "Dragonling", "Cartoon", "Puppet", "Balloon"),
    "Children's": ("Puppy", "Playground", "Treehouse", "Birthday", "Kite"),
    "Comedy": ("Wedding", "Roommates", "Vacation", "Blunder", "Neighbors"),
    "Crime": ("Heist", "Mob", "Alibi", "Racket", "Getaway"),
    "Documentary": ("Chronicle", "Witness", "Archive", "Portrait", "Record"),
    "Drama": ("Letters", "Harvest", "Daughter", "River", "Promise"),
    "Fantasy": ("Wizard", "Kingdom", "Sorceress", "Amulet", "Unicorn"),
    "Film-Noir": ("Dame", "Fog", "Detective", "Nightclub", "Double Cross"),
    "Horror": ("Crypt", "Nightmare", "Haunting", "Curse", "Asylum"),
    "Musical": ("Ballroom", "Serenade", "Chorus", "Broadway", "Melody"),
    "Mystery": ("Riddle", "Cipher", "Manor", "Disappearance", "Clue"),
    "Romance": ("Kiss", "Sweetheart", "Honeymoon", "Love Letter", "Rendezvous"),
    "Sci-Fi": ("Galaxy", "Android", "Starship", "Mutant", "Orbit"),
    "Thriller": ("Conspiracy", "Hostage", "Stalker", "Deadline", "Pursuit"),
    "War": ("Battalion", "Trenches", "Armistice", "Squadron", "Frontline"),
    "Western": ("Outlaw", "Saloon", "Frontier", "Stagecoach", "Sheriff"),
}
ADJECTIVES = ("Silent", "Last", "Crimson", "Forgotten", "Golden", "Midnight",
              "Broken", "Wild", "Secret", "Distant", "Endless", "Lucky",
              "Iron", "Hidden", "Burning", "Little", "Lost", "Electric")
# ML-100K's rating period: 1997-09-20 .. 1998-04-22 (seconds since epoch).
PERIOD = (874724710, 893286638)


class DataError(ValueError):
  """Data that cannot be used: a missing directory, file or bad line."""


@dataclasses.dataclass
class Movies:
  """The catalogue: row i describes movie `ids[i]`.

  Attributes:
    ids: [n] bytes movie ids.
    titles: [n] str titles.
    genres: [n, MAX_GENRES] bytes genre names, b"" padded.
  """
  ids: np.ndarray
  titles: np.ndarray
  genres: np.ndarray

  def __len__(self):
    return len(self.ids)


@dataclasses.dataclass
class Ratings:
  """Rating events, one per row (columns of equal length)."""
  user_id: np.ndarray
  movie_id: np.ndarray
  rating: np.ndarray
  timestamp: np.ndarray

  def __len__(self):
    return len(self.user_id)

  def take(self, rows):
    """The ratings at `rows` (an index array or boolean mask)."""
    return Ratings(*(getattr(self, f.name)[rows]
                     for f in dataclasses.fields(self)))


def pad_genres(genre_lists):
  """[n, MAX_GENRES] bytes array of genre names, b"" padded."""
  out = np.full([len(genre_lists), MAX_GENRES], b"", dtype=object)
  for row, names in enumerate(genre_lists):
    for col, name in enumerate(list(names)[:MAX_GENRES]):
      out[row, col] = name.encode() if isinstance(name, str) else name
  return out


def synthetic(num_users=943, num_movies=1682, num_ratings=100_000, seed=0,
              zipf_a=1.2):
  """A seeded MovieLens-shaped dataset (defaults: the size of ML-100K).

  Args:
    num_users: Users (string ids b"U00000"...); each rates at least 5.
    num_movies: Movies (string ids b"M00000"...).
    num_ratings: Approximate number of ratings (at most half of all
      user x movie pairs).
    seed: Seed of every random draw: equal seeds give equal data.
    zipf_a: Exponent of the popularity law (rank r has weight r^-a).

  Returns:
    (Movies, Ratings), ratings sorted by user then time.

  Example:
    >>> from tensorflow_recommenders_addons.demo import data
    >>> movies, ratings = data.synthetic(num_users=50, num_movies=80,
    ...                                  num_ratings=1000, seed=1)
    >>> len(movies), len(ratings) > 900, ratings.user_id[0], movies.ids[0]
    (80, True, b'U00000', b'M00000')
  """
  rng = np.random.default_rng(seed)
  num_ratings = min(num_ratings, num_users * max(5, num_movies // 2))
  # Catalogue: 1-3 genres per movie, drawn by MovieLens genre frequency.
  share = np.array(GENRE_SHARE) / np.sum(GENRE_SHARE)
  counts = rng.choice([1, 2, 3], size=num_movies, p=[0.5, 0.35, 0.15])
  genre_idx = [rng.choice(len(GENRES), size=c, replace=False, p=share)
               for c in counts]
  onehot = np.zeros([num_movies, len(GENRES)], np.float32)
  for movie, idx in enumerate(genre_idx):
    onehot[movie, idx] = 1.0
  years = rng.integers(1930, 1998, num_movies)
  titles, seen = [], {}
  for movie, idx in enumerate(genre_idx):
    name = (f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} "
            f"{NOUNS[GENRES[idx[0]]][rng.integers(5)]}")
    seen[name] = seen.get(name, 0) + 1
    sequel = f" {_roman(seen[name])}" if seen[name] > 1 else ""
    titles.append(f"The {name}{sequel} ({years[movie]})")
  movies = Movies(
      ids=np.array([f"M{m:05d}".encode() for m in range(num_movies)],
                   dtype=object),
      titles=np.array(titles, dtype=object),
      genres=pad_genres([[GENRES[g] for g in idx] for idx in genre_idx]))

  # Popularity: Zipf over a random ranking of the movies.
  popularity = 1.0 / np.arange(1, num_movies + 1) ** zipf_a
  popularity = popularity[rng.permutation(num_movies)]
  # Taste: a peaked distribution over genres; activity: lognormal counts.
  taste = rng.dirichlet(np.full(len(GENRES), 0.3), size=num_users)
  fit = taste @ onehot.T / np.maximum(onehot.sum(1), 1.0)  # [users, movies]
  activity = rng.lognormal(0.0, 0.8, num_users)
  cap = max(5, num_movies // 2)
  per_user = np.clip(np.round(activity / activity.sum() * num_ratings), 5,
                     cap).astype(int)
  for _ in range(5):  # hand the ratings lost to the cap to the others
    room, deficit = cap - per_user, num_ratings - per_user.sum()
    if deficit <= 0 or not room.any():
      break
    per_user += np.minimum(room, np.ceil(deficit * room / room.sum())
                           ).astype(int)

  # Each user's movies: top-n of log(weight) + Gumbel noise, which draws n
  # without replacement with probability proportional to the weight.
  log_weight = np.log(popularity)[None, :] + 2.0 * np.log(fit + 1e-3)
  user_bias = rng.normal(0.0, 0.35, num_users)
  quality = rng.normal(0.0, 0.45, num_movies)
  users, items, ratings, times = [], [], [], []
  for user in range(num_users):
    keys = log_weight[user] + rng.gumbel(size=num_movies)
    chosen = np.argpartition(-keys, per_user[user])[:per_user[user]]
    affinity = fit[user, chosen] / max(fit[user].max(), 1e-6)
    stars = (2.7 + user_bias[user] + quality[chosen] + 1.6 * affinity +
             rng.normal(0.0, 0.7, len(chosen)))
    start = rng.integers(PERIOD[0], PERIOD[1] - 86_400 * 60)
    gaps = rng.exponential(86_400 * 3, len(chosen))
    users.append(np.full(len(chosen), user))
    items.append(chosen)
    ratings.append(np.clip(np.round(stars), 1, 5))
    times.append(start + np.cumsum(gaps).astype(np.int64))
  users, items = np.concatenate(users), np.concatenate(items)
  return movies, Ratings(
      user_id=np.array([f"U{u:05d}".encode() for u in range(num_users)],
                       dtype=object)[users],
      movie_id=movies.ids[items],
      rating=np.concatenate(ratings).astype(np.float32),
      timestamp=np.concatenate(times).astype(np.int64))


def _roman(n):
  """Sequel numbers II..X, then plain digits."""
  numerals = ("", "", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
  return numerals[n] if n < len(numerals) else str(n)


def load_movielens(path):
  """Reads MovieLens 100K (u.data, u.item) or 1M (ratings.dat, movies.dat).

  Args:
    path: The unpacked directory (`ml-100k/` or `ml-1m/`), or a directory
      holding exactly one of them.

  Returns:
    (Movies, Ratings), with the files' ids as byte strings.

  Raises:
    DataError: `path` is not a directory, holds neither format, or a line
      does not parse (the message names file and line).
  """
  if not os.path.isdir(path):
    raise DataError(f"--data {path}: no such directory")
  candidates = [path] + sorted(
      os.path.join(path, d) for d in os.listdir(path)
      if os.path.isdir(os.path.join(path, d)))
  for folder in candidates:
    if _has(folder, "u.data", "u.item"):
      return _read_100k(folder)
    if _has(folder, "ratings.dat", "movies.dat"):
      return _read_1m(folder)
  raise DataError(
      f"--data {path}: found neither u.data + u.item (MovieLens 100K) nor "
      f"ratings.dat + movies.dat (MovieLens 1M) in it or its subdirectories")


def _has(folder, *names):
  return all(os.path.isfile(os.path.join(folder, n)) for n in names)


def _lines(path):
  """(line number, text) of a Latin-1 file (MovieLens' encoding)."""
  with open(path, encoding="latin-1") as f:
    for number, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if line:
        yield number, line


def _fields(path, number, line, sep, count):
  parts = line.split(sep)
  if len(parts) < count:
    raise DataError(f"{path}:{number}: expected {count} fields separated by "
                    f"{sep!r}, got {len(parts)}: {line[:80]!r}")
  return parts


def _ratings(path, sep):
  """Ratings from lines 'user sep movie sep rating sep timestamp'."""
  columns = [[], [], [], []]
  for number, line in _lines(path):
    parts = _fields(path, number, line, sep, 4)
    try:
      rating, stamp = float(parts[2]), int(parts[3])
    except ValueError:
      raise DataError(f"{path}:{number}: rating and timestamp must be "
                      f"numbers: {line[:80]!r}") from None
    if not 0.5 <= rating <= 5:
      raise DataError(f"{path}:{number}: rating {parts[2]} is not in 0.5..5")
    for column, value in zip(columns, (parts[0].encode(), parts[1].encode(),
                                       rating, stamp)):
      column.append(value)
  if not columns[0]:
    raise DataError(f"{path}: no ratings")
  return Ratings(np.array(columns[0], dtype=object),
                 np.array(columns[1], dtype=object),
                 np.array(columns[2], np.float32),
                 np.array(columns[3], np.int64))


def _read_100k(folder):
  """u.item: id|title|release|video release|url|19 genre flags."""
  item_path = os.path.join(folder, "u.item")
  ids, titles, genres = [], [], []
  # ML-100K's genre flags start with "unknown", then the 18 GENRES.
  for number, line in _lines(item_path):
    parts = _fields(item_path, number, line, "|", 5 + 1 + len(GENRES))
    flags = parts[-len(GENRES):]
    ids.append(parts[0].encode())
    titles.append(parts[1])
    genres.append([g for g, f in zip(GENRES, flags) if f == "1"])
  movies = Movies(np.array(ids, dtype=object), np.array(titles, dtype=object),
                  pad_genres(genres))
  return movies, _ratings(os.path.join(folder, "u.data"), "\t")


def _read_1m(folder):
  """movies.dat: id::title::genre|genre...; ratings.dat: u::m::r::t."""
  movie_path = os.path.join(folder, "movies.dat")
  ids, titles, genres = [], [], []
  for number, line in _lines(movie_path):
    parts = _fields(movie_path, number, line, "::", 3)
    ids.append(parts[0].encode())
    titles.append(parts[1])
    genres.append([g for g in parts[2].split("|") if g])
  movies = Movies(np.array(ids, dtype=object), np.array(titles, dtype=object),
                  pad_genres(genres))
  return movies, _ratings(os.path.join(folder, "ratings.dat"), "::")


def temporal_split(ratings, test_fraction):
  """Holds out each user's latest ratings.

  Args:
    ratings: All ratings.
    test_fraction: Share of each user's ratings (by time, the latest) that
      go to the test split; users with one rating keep it for training.

  Returns:
    (train, test) `Ratings`.

  Example:
    >>> from tensorflow_recommenders_addons.demo import data
    >>> _, ratings = data.synthetic(50, 80, 1000, seed=1)
    >>> train, test = data.temporal_split(ratings, 0.2)
    >>> len(train) + len(test) == len(ratings), len(test) > 0
    (True, True)
  """
  order = np.lexsort((ratings.timestamp, ratings.user_id.astype(bytes)))
  ordered = ratings.take(order)
  users = ordered.user_id.astype(bytes)
  starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
  sizes = np.diff(np.r_[starts, len(users)])
  position = np.arange(len(users)) - np.repeat(starts, sizes)
  held = np.floor(sizes * test_fraction).astype(int)
  test = position >= np.repeat(sizes - held, sizes)
  return ordered.take(~test), ordered.take(test)


def load(options, say=print):
  """The demo's data and its split, as the command line asks.

  Args:
    options: Parsed options with `data`, `users`, `movies`, `ratings`,
      `seed` and `test_fraction` (see `cli.parser()`).
    say: Prints one line.

  Returns:
    (Movies, train Ratings, test Ratings).

  Raises:
    DataError: As `load_movielens`, or the split holds out nothing.
  """
  if options.data:
    movies, ratings = load_movielens(options.data)
    source = f"MovieLens files in {options.data}"
  else:
    movies, ratings = synthetic(
        options.users, options.movies, options.ratings, seed=options.seed)
    source = f"synthetic MovieLens-shaped data (seed {options.seed})"
  train, test = temporal_split(ratings, options.test_fraction)
  users = len(set(ratings.user_id.tolist()))
  say(f"data: {source}: {users:,} users, {len(movies):,} movies, "
      f"{len(ratings):,} ratings (mean {ratings.rating.mean():.2f} stars)")
  say(f"split: each user's latest {options.test_fraction:.0%} of ratings "
      f"held out: {len(train):,} train, {len(test):,} test")
  if not len(test):
    raise DataError(
        "no held-out ratings: users need at least "
        f"{int(np.ceil(1 / options.test_fraction))} ratings each for "
        f"--test-fraction {options.test_fraction}")
  return movies, train, test
