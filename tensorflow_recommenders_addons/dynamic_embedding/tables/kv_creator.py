"""Table creators: the seam through which storage backends plug in.

A `KVCreator` builds one table shard for a dynamic-embedding variable.
`de.Variable(kv_creator=...)` calls `create` once per shard, so a backend
(CPU hash table here; GPU or remote tables later) is chosen by passing a
different creator, with no change to the code that uses the variable.
"""

import abc

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import CuckooHashTable


class CuckooHashTableConfig:
  """Tuning knobs of `CuckooHashTable`.

  Args:
    num_shards: Number of independently locked shards (rounded up to a power
      of two, 1..1024). More shards mean less lock contention between
      concurrent writers and more parallelism inside one large batch; each
      shard costs a few hundred bytes when empty. Default 64.

  Raises:
    tf.errors.InvalidArgumentError: `num_shards` out of range.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.CuckooHashTableConfig(num_shards=8).num_shards
    8
  """

  def __init__(self, num_shards=64):
    if not 1 <= int(num_shards) <= 1024:
      raise v.invalid(f"num_shards: must be in [1, 1024], got {num_shards}")
    self.num_shards = int(num_shards)

  def get_config(self):
    """Returns the constructor arguments as a dict."""
    return {"num_shards": self.num_shards}


class KVCreator(abc.ABC):
  """Base class of table creators.

  Subclasses implement `create`, returning a table object with the
  `CuckooHashTable` method set (`lookup`, `insert`, `accum`, `remove`,
  `clear`, `size`, `export`, file-system save/load).

  Args:
    config: Backend-specific configuration object, or None.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> class SmallTables(de.KVCreator):
    ...   def create(self, key_dtype=None, value_dtype=None, default_value=None,
    ...              name=None, checkpoint=None, init_size=None, config=None,
    ...              device=None, shard_saveable_object_fn=None):
    ...     return de.CuckooHashTable(key_dtype, value_dtype, default_value,
    ...                               name=name, init_size=16)
    >>> SmallTables().create(tf.int64, tf.float32, [0.0], name="t").dim
    1
  """

  def __init__(self, config=None):
    self.config = config

  @abc.abstractmethod
  def create(self,
             key_dtype=None,
             value_dtype=None,
             default_value=None,
             name=None,
             checkpoint=None,
             init_size=None,
             config=None,
             device=None,
             shard_saveable_object_fn=None):
    """Creates one table; see `CuckooHashTable` for the arguments."""

  def get_config(self):
    """Returns a serializable description of the creator."""
    cfg = self.config.get_config() if hasattr(self.config, "get_config") else None
    return {"class_name": type(self).__name__, "config": cfg}


class CuckooHashTableCreator(KVCreator):
  """Creates `CuckooHashTable` shards (the default backend).

  Args:
    config: A `CuckooHashTableConfig`, or None for defaults.
    saver: Optional saver object used by checkpointing of file-system backed
      saves (`de.FileSystemSaver`); stored on the creator as `saver`.

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> creator = de.CuckooHashTableCreator(de.CuckooHashTableConfig(num_shards=4))
    >>> t = creator.create(tf.int64, tf.float32, [0.0, 0.0], name="emb")
    >>> int(t.size())
    0
  """

  def __init__(self, config=None, saver=None):
    super().__init__(config if config is not None else CuckooHashTableConfig())
    self.saver = saver

  def create(self,
             key_dtype=None,
             value_dtype=None,
             default_value=None,
             name=None,
             checkpoint=None,
             init_size=None,
             config=None,
             device=None,
             shard_saveable_object_fn=None):
    return CuckooHashTable(
        key_dtype=key_dtype,
        value_dtype=value_dtype,
        default_value=default_value,
        name=name or "CuckooHashTable",
        checkpoint=True if checkpoint is None else checkpoint,
        init_size=init_size or 0,
        config=config if config is not None else self.config,
        device=device or "",
        shard_saveable_object_fn=shard_saveable_object_fn)
