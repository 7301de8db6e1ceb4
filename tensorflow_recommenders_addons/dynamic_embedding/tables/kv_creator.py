"""Table creators: the seam through which storage backends plug in.

A `KVCreator` builds one table shard for a dynamic-embedding variable.
`de.Variable(kv_creator=...)` calls `create` once per shard, so a backend
(CPU hash table here; GPU or remote tables later) is chosen by passing a
different creator, with no change to the code that uses the variable.
"""

import abc

import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.tables import base
from tensorflow_recommenders_addons.dynamic_embedding.tables.cuckoo_hashtable import CuckooHashTable


class EvictStrategy:
  """Which rows a bounded table evicts first (`CuckooHashTableConfig`).

  LRU: least recently written. LFU: fewest writes (ties: least recent).
  TTL: least recently written, and rows expire `ttl` steps after their last
  write. CUSTOMIZED: lowest score given by `gen_scores_fn(keys)` at each
  write (ties: least recent). A step is one write call on the table (one
  per training step and lookup). Names follow TFRA's `HkvEvictStrategy`.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.EvictStrategy.LFU
    'lfu'
  """
  LRU = "lru"
  LFU = "lfu"
  TTL = "ttl"
  CUSTOMIZED = "custom"
  ALL = (LRU, LFU, TTL, CUSTOMIZED)


class CuckooHashTableConfig:
  """Tuning knobs and bounds of `CuckooHashTable`.

  A table with `max_capacity`, `ttl`, `admit_after` or `track_changes`
  keeps per-row bookkeeping (the step of the last write, the write count,
  a custom score), saved with checkpoints:

  * `max_capacity`: after each write the table evicts by `evict_strategy`
    down to the capacity (per shard: rows are split over the locked shards,
    whose shares add up to `max_capacity`, and a shard that overflows
    evicts down to 3/4 of its share, so the O(rows) selection pass runs
    once per 1/4 of its capacity (the table holds between 3/4 of
    `max_capacity` and all of it once full); a table has at most
    `max_capacity`
    shards).
  * `ttl`: rows not written for more than `ttl` steps read as missing and
    are swept away every `ttl/4` steps.
  * `admit_after`: a new key gets a row only on its `admit_after`-th write
    (counted in a count-min sketch of `sketch_width` 8-bit counters x 4
    per shard, aged by halving); until then writes of it are dropped.
  * Keys a write evicts or refuses are returned by
    `insert(..., return_dropped=True)`; `de.Variable` removes them from its
    optimizer slot tables.

  Args:
    num_shards: Number of independently locked shards (rounded up to a power
      of two, 1..1024). More shards mean less lock contention between
      concurrent writers and more parallelism inside one large batch; each
      shard costs a few hundred bytes when empty. Default 64.
    max_capacity: Most rows of the table (of the variable, for
      `de.Variable`, split over its devices); 0: unbounded.
    evict_strategy: A `de.EvictStrategy` (default LRU).
    ttl: Steps without a write before a row expires; 0: never.
    admit_after: Writes of a new key before it gets a row (0 or 1: at
      once; at most 255).
    sketch_width: Admission counters per sketch row per shard, a power of
      two >= 16 (default 4096).
    track_changes: Keep the bookkeeping without any bound (for
      `export_delta` and restrict policies).
    gen_scores_fn: For CUSTOMIZED: `fn(keys) -> int64 scores`, called at
      every write; the lowest scores are evicted first.

  Raises:
    tf.errors.InvalidArgumentError: an argument out of range, naming it.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> de.CuckooHashTableConfig(num_shards=8).num_shards
    8
    >>> de.CuckooHashTableConfig(max_capacity=1000,
    ...                          evict_strategy=de.EvictStrategy.LFU).bounded
    True
  """

  def __init__(self, num_shards=64, max_capacity=0,
               evict_strategy=EvictStrategy.LRU, ttl=0, admit_after=0,
               sketch_width=4096, track_changes=False, gen_scores_fn=None):
    if isinstance(num_shards, bool) or not 1 <= int(num_shards) <= 1024:
      raise v.invalid(f"num_shards: must be in [1, 1024], got {num_shards}")
    self.num_shards = int(num_shards)
    self.max_capacity = v.check_int("max_capacity", max_capacity, 0)
    if evict_strategy not in EvictStrategy.ALL:
      raise v.invalid(f"evict_strategy: must be one of {EvictStrategy.ALL}, "
                      f"got {evict_strategy!r}")
    self.evict_strategy = evict_strategy
    self.ttl = v.check_int("ttl", ttl, 0)
    self.admit_after = v.check_int("admit_after", admit_after, 0, 255)
    width = v.check_int("sketch_width", sketch_width, 0)
    if width < 16 or width & (width - 1):
      raise v.invalid(f"sketch_width: must be a power of two >= 16, got "
                      f"{sketch_width!r}")
    self.sketch_width = width
    if not isinstance(track_changes, bool):
      raise v.invalid(f"track_changes: must be True or False, got "
                      f"{track_changes!r}")
    self.track_changes = track_changes
    if evict_strategy == EvictStrategy.CUSTOMIZED and not callable(
        gen_scores_fn):
      raise v.invalid("gen_scores_fn: evict_strategy CUSTOMIZED needs a "
                      "callable fn(keys) -> int64 scores")
    if gen_scores_fn is not None and not callable(gen_scores_fn):
      raise v.invalid(f"gen_scores_fn: must be callable or None, got "
                      f"{gen_scores_fn!r}")
    self.gen_scores_fn = gen_scores_fn

  @property
  def bounded(self):
    """Whether tables keep per-row bookkeeping."""
    return bool(self.max_capacity or self.ttl or self.admit_after > 1 or
                self.track_changes)

  def replace(self, **changes):
    """A copy with some arguments changed."""
    args = self.get_config()
    args["gen_scores_fn"] = self.gen_scores_fn
    args.update(changes)
    return CuckooHashTableConfig(**args)

  def get_config(self):
    """Returns the constructor arguments as a dict (without
    `gen_scores_fn`, a function)."""
    return {"num_shards": self.num_shards, "max_capacity": self.max_capacity,
            "evict_strategy": self.evict_strategy, "ttl": self.ttl,
            "admit_after": self.admit_after,
            "sketch_width": self.sketch_width,
            "track_changes": self.track_changes}


class KVCreator(abc.ABC):
  """Base class of table creators.

  Subclasses implement `create`, returning a table implementing
  `tables.base.DynamicTable` (the `CuckooHashTable` method set: `lookup`,
  `insert`, `accum`, `remove`, `clear`, `size`, `export`, file-system
  save/load). The hooks below have defaults a backend overrides where it
  can do more (the CPU creator splits capacities over shards and gives slot
  tables an unbounded config); `de.register_kv_creator` makes a subclass
  rebuildable from `get_config()`.

  Args:
    config: Backend-specific configuration object, or None.
    saver: Optional `de.FileSystemSaver` (stored as `saver`): checkpoints
      then keep the rows in its side files.

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

  #: The C++ table backend the creator's tables use (None: not a C++ one).
  backend = None
  #: The class of `config`, used by the default `from_config`.
  config_class = None

  def __init__(self, config=None, saver=None):
    self.config = config
    self.saver = saver

  def shard_configs(self, shard_num, restrict_policy=None):  # pylint: disable=unused-argument
    """The config of each of a variable's `shard_num` tables (passed to
    `create(config=...)`). Default: this creator's config for every shard.

    Args:
      shard_num: The variable's number of shard tables.
      restrict_policy: The variable's restrict policy class, or None.

    Returns:
      A list of `shard_num` configs.
    """
    return [self.config] * shard_num

  def follower(self):
    """The creator of a variable's optimizer slot tables. Default: this one.

    Returns:
      A `KVCreator`.
    """
    return self

  @classmethod
  def from_config(cls, config, gen_scores_fn=None):
    """Inverse of `get_config`: `cls(config_class(**config["config"]))`
    with a `de.FileSystemSaver` saver rebuilt.

    Args:
      config: `get_config()` output.
      gen_scores_fn: The CUSTOMIZED strategy's function, if any (for
        configs that take one).

    Returns:
      The creator.
    """
    # Imported here: file_system_saver depends on this module's package.
    from tensorflow_recommenders_addons.dynamic_embedding.file_system_saver import FileSystemSaver  # pylint: disable=import-outside-toplevel
    table = dict(config.get("config") or {})
    if gen_scores_fn is not None:
      table["gen_scores_fn"] = gen_scores_fn
    saver = config.get("saver")
    table_config = None
    if table and cls.config_class is not None:
      table_config = cls.config_class(**table)
    return cls(table_config,
               saver=None if saver is None else FileSystemSaver(**saver))

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
    """The creator as plain data: its class name, its config's
    `get_config()` and its saver's config, if any."""
    cfg = self.config.get_config() if hasattr(self.config, "get_config") else None
    saver = self.saver
    return {"class_name": type(self).__name__, "config": cfg,
            "saver": saver.get_config() if hasattr(saver, "get_config")
                     else None}


@base.register_kv_creator
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
    super().__init__(config if config is not None else CuckooHashTableConfig(),
                     saver)

  backend = "cpu"
  config_class = CuckooHashTableConfig

  def shard_configs(self, shard_num, restrict_policy=None):
    """Each shard table gets this config with `max_capacity` split exactly
    (the first `max_capacity % shard_num` tables get one row more), and
    bookkeeping switched on for a restrict policy.

    Raises:
      tf.errors.InvalidArgumentError: fewer rows than shards.
    """
    config = self.config
    if not isinstance(config, CuckooHashTableConfig):
      return [config] * shard_num
    changes = {}
    if restrict_policy is not None and not config.bounded:
      changes["track_changes"] = True
    if config.max_capacity and shard_num > 1:
      if config.max_capacity < shard_num:
        # A shard needs room for one row; more shards than rows would hold
        # more rows than max_capacity.
        raise tf.errors.InvalidArgumentError(
            None, None, f"max_capacity: {config.max_capacity} rows cannot be "
            f"split over {shard_num} devices (each shard holds at least one "
            "row); use fewer devices or a larger max_capacity")
      share, extra = divmod(config.max_capacity, shard_num)
      return [config.replace(max_capacity=share + (idx < extra), **changes)
              for idx in range(shard_num)]
    config = config.replace(**changes) if changes else config
    return [config] * shard_num

  def follower(self):
    """Slot tables take this config without bounds: slot rows follow their
    rows' evictions instead (bounds.py)."""
    config = self.config
    if isinstance(config, CuckooHashTableConfig) and config.bounded:
      return type(self)(
          config.replace(max_capacity=0, ttl=0, admit_after=0,
                         track_changes=False, evict_strategy="lru",
                         gen_scores_fn=None),
          saver=self.saver)
    return self

  def create(self,
             key_dtype=None,
             value_dtype=None,
             default_value=None,
             name=None,
             checkpoint=None,
             init_size=0,
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
