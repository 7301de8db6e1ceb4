"""The table protocol every backend implements, and the creator registry.

A backend is a C++ table registered under a name (cc/core/table_factory.h:
"cpu" today) plus, here, a table class implementing `DynamicTable` and a
`de.KVCreator` subclass registered with `register_kv_creator`. The variable,
saving, bounds and Keras config code rely only on what this module names:

* `DynamicTable`: the methods `de.Variable` calls on each shard's table.
  Capabilities beyond them (bookkeeping for capacity, eviction and delta
  export: `export_with_meta`, `import_with_meta`, `export_delta`, `clock`,
  `export_keys_and_scores`, sketches) are present when `bounded_capable` is
  True; callers check it and raise `FailedPreconditionError` naming the
  backend otherwise.
* `KVCreator` hooks (kv_creator.py): `shard_configs` (how a variable's
  config is split over its shard tables, e.g. capacity), `follower` (the
  creator of optimizer slot tables), `get_config` / `from_config`, and the
  class attributes `backend` and `config_class`.
* The registry: a creator class registered by name round-trips through
  `get_config()` / `kv_creator_from_config()`, so `.keras` files and layer
  configs rebuild it.
"""

import tensorflow as tf


class DynamicTable:
  """What a table class of any backend provides (see `de.CuckooHashTable`
  for the argument conventions: keys of any shape, values
  `keys.shape + [dim]`, `name=None` on every method).

  Example:
    >>> import tensorflow as tf
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> from tensorflow_recommenders_addons.dynamic_embedding.tables import base
    >>> isinstance(de.CuckooHashTable(tf.int64, tf.float32, [0.0]),
    ...            base.DynamicTable)
    True
  """

  # A plain class, not an abc.ABC: table classes are also TF Trackables,
  # whose metaclass an ABCMeta would conflict with. Completeness is checked
  # when a subclass is defined instead (__init_subclass__).

  #: The C++ backend name (the `backend` attr of TFRA>HashTableOfTensors).
  backend = None
  #: Whether the table class has the bookkeeping capability (bounded.py).
  bounded_capable = False

  _PROTOCOL = ("key_dtype", "value_dtype", "dim", "size", "lookup", "insert",
               "accum", "remove", "clear", "export", "import_",
               "save_to_file_system", "load_from_file_system")

  def __init_subclass__(cls, abstract=False, **kwargs):
    super().__init_subclass__(**kwargs)
    if abstract:
      return
    missing = [m for m in cls._PROTOCOL
               if getattr(cls, m) is getattr(DynamicTable, m)]
    if missing or not isinstance(cls.backend, str):
      raise TypeError(f"{cls.__name__}: a DynamicTable must define "
                      f"{missing or ['backend']}")

  @property
  def key_dtype(self):
    """The key dtype."""
    raise NotImplementedError

  @property
  def value_dtype(self):
    """The value dtype."""
    raise NotImplementedError

  @property
  def dim(self):
    """Elements per row."""
    raise NotImplementedError

  def size(self, name=None):
    """The number of rows (an int64 scalar)."""
    raise NotImplementedError

  def lookup(self, keys, dynamic_default_values=None, return_exists=False,
             name=None):
    """Rows of `keys` (defaults where missing), and `exists` if asked."""
    raise NotImplementedError

  def insert(self, keys, values, name=None, scores=None, return_dropped=False):
    """Insert-or-assign rows."""
    raise NotImplementedError

  def accum(self, keys, values_or_deltas, exists, name=None,
            return_dropped=False):
    """Add deltas to present rows and insert absent ones, by `exists`."""
    raise NotImplementedError

  def remove(self, keys, name=None):
    """Remove rows."""
    raise NotImplementedError

  def clear(self, name=None):
    """Remove every row."""
    raise NotImplementedError

  def export(self, name=None):
    """`(keys, values)` of every row."""
    raise NotImplementedError

  def import_(self, keys, values, name=None):
    """Replace the content with the given rows."""
    raise NotImplementedError

  def save_to_file_system(self, dirpath, file_name=None, buffer_size=None,
                          name=None):
    """Write the rows to a table file."""
    raise NotImplementedError

  def load_from_file_system(self, dirpath, file_name=None,
                            load_entire_dir=False, buffer_size=None,
                            name=None):
    """Insert rows from table files."""
    raise NotImplementedError


def missing_capability(table, what):
  """The `FailedPreconditionError` for a capability a table lacks.

  Args:
    table: The table (its `backend` is named).
    what: What was asked for.

  Returns:
    A `tf.errors.FailedPreconditionError` to raise.

  Example:
    >>> from tensorflow_recommenders_addons.dynamic_embedding.tables import base
    >>> class T:
    ...   backend = "mine"
    >>> str(base.missing_capability(T(), "export_delta"))
    "the 'mine' table backend has no export_delta"
  """
  backend = getattr(table, "backend", None) or type(table).__name__
  return tf.errors.FailedPreconditionError(
      None, None, f"the '{backend}' table backend has no {what}")


_CREATORS = {}


def register_kv_creator(cls):
  """Class decorator: makes a `de.KVCreator` subclass rebuildable from its
  `get_config()` (layer configs, `.keras` files) by its class name.

  Args:
    cls: The creator class.

  Returns:
    `cls`.

  Raises:
    ValueError: another class is registered under the same name.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> @de.register_kv_creator
    ... class MyCreator(de.CuckooHashTableCreator):
    ...   pass
    >>> de.kv_creator_from_config(MyCreator().get_config()).__class__.__name__
    'MyCreator'
  """
  name = cls.__name__
  if _CREATORS.get(name, cls) is not cls:
    raise ValueError(f"kv_creator: a creator class named {name!r} is already "
                     f"registered ({_CREATORS[name]!r})")
  _CREATORS[name] = cls
  return cls


def registered_kv_creator(obj):
  """Whether `obj` (a creator, or a creator class) is registered."""
  cls = obj if isinstance(obj, type) else type(obj)
  return _CREATORS.get(cls.__name__) is cls


def kv_creator_from_config(config, gen_scores_fn=None):
  """Rebuilds a registered creator from its `get_config()`.

  Args:
    config: A creator's `get_config()` dict (with `class_name`).
    gen_scores_fn: The CUSTOMIZED eviction strategy's function, if any.

  Returns:
    The creator.

  Raises:
    ValueError: `class_name` names no registered creator.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> c = de.CuckooHashTableCreator(de.CuckooHashTableConfig(num_shards=4))
    >>> de.kv_creator_from_config(c.get_config()).config.num_shards
    4
  """
  name = config.get("class_name")
  if name not in _CREATORS:
    raise ValueError(f"kv_creator: cannot rebuild a {name!r} from a config; "
                     f"register its class with de.register_kv_creator, or "
                     f"pass it again: config['kv_creator'] = creator "
                     f"(registered: {sorted(_CREATORS)})")
  return _CREATORS[name].from_config(config, gen_scores_fn=gen_scores_fn)
