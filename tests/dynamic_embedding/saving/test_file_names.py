"""Distinct variable names never share files on disk.

File prefixes escape the variable name (bytes outside [A-Za-z0-9._-] become
%XX) instead of replacing '/', so 'user/emb' and 'user_emb' save side by
side in one directory and each loads its own rows.
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons import dynamic_embedding as de

NAMES = ["user/emb", "user_emb", "user%2Femb", "user emb*"]


def _content(var):
  keys, values = var.export()
  return dict(zip(keys.numpy().tolist(), values.numpy().tolist()))


def _filled(name, i):
  var = de.Variable(tf.int64, dim=1, name=name)
  var.upsert(np.arange(i + 1, dtype=np.int64), np.full([i + 1, 1], i,
                                                        np.float32))
  return var


def test_file_system_saves_of_similar_names_stay_apart(tmp_path):
  sources = [_filled(name, i) for i, name in enumerate(NAMES)]
  for var in sources:
    var.save_to_file_system(str(tmp_path))
  # One table file and one save mark per variable.
  assert len(list(tmp_path.glob("*.tfrakv"))) == len(NAMES)
  assert len(list(tmp_path.glob("*.tfraseq"))) == len(NAMES)
  for var in sources:
    target = de.Variable(tf.int64, dim=1, name=var.name)
    target.load_from_file_system(str(tmp_path))
    assert _content(target) == _content(var)
