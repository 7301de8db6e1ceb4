"""`de.train`: TFRA 0.8's checkpoint names.

TFRA needed its own `de.train.Checkpoint` (`DECheckpoint`) to save tables
kept in side files; here `tf.train.Checkpoint` saves `de.Variable`s, their
slot tables and `de.FileSystemSaver` side files as they are, so both names
are `tf.train.Checkpoint`. `DEHvdSaver` needs Horovod and is not provided
(the error names the alternative).

Example:
  >>> import tensorflow as tf
  >>> from tensorflow_recommenders_addons import dynamic_embedding as de
  >>> de.train.Checkpoint is tf.train.Checkpoint
  True
"""

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding import unavailable

Checkpoint = tf.train.Checkpoint
DECheckpoint = tf.train.Checkpoint


def __getattr__(name):
  unavailable.check("de.train", name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
