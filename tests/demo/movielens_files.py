"""Writes MovieLens 100K / 1M files (the real formats) for the demo's tests.

The content comes from the synthetic generator, so a test can compare what
the readers return with what was written.
"""

import os

from tensorflow_recommenders_addons.demo import data


def write_100k(folder, movies, ratings):
  """u.data (tab separated) and u.item (pipe separated, 19 genre flags)."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "u.data"), "w", encoding="latin-1") as f:
    for u, m, r, t in zip(ratings.user_id, ratings.movie_id, ratings.rating,
                          ratings.timestamp):
      f.write(f"{u.decode()}\t{m.decode()}\t{int(r)}\t{t}\n")
  with open(os.path.join(folder, "u.item"), "w", encoding="latin-1") as f:
    for mid, title, genres in zip(movies.ids, movies.titles, movies.genres):
      flags = ["0"] + ["1" if g.encode() in genres else "0"
                       for g in data.GENRES]
      f.write("|".join([mid.decode(), title, "01-Jan-1995", "",
                        "http://example.com"] + flags) + "\n")


def write_1m(folder, movies, ratings):
  """ratings.dat and movies.dat, '::' separated, genres joined by '|'."""
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "ratings.dat"), "w",
            encoding="latin-1") as f:
    for u, m, r, t in zip(ratings.user_id, ratings.movie_id, ratings.rating,
                          ratings.timestamp):
      f.write(f"{u.decode()}::{m.decode()}::{int(r)}::{t}\n")
  with open(os.path.join(folder, "movies.dat"), "w", encoding="latin-1") as f:
    for mid, title, genres in zip(movies.ids, movies.titles, movies.genres):
      names = "|".join(g.decode() for g in genres if g)
      f.write(f"{mid.decode()}::{title}::{names}\n")
