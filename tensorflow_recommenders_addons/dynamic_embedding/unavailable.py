"""TFRA 0.8 names that this release does not provide, and the error that
says so where TFRA users look for them (`de.HkvHashTableCreator`,
`de.keras.layers.HvdAllToAllEmbedding`, ...): each names the alternative.

The error is both a `NotImplementedError` (what it means) and an
`AttributeError` (so `hasattr(de, "HkvHashTable")` is False and tools that
probe attributes keep working).
"""

_GPU = ("GPU (HierarchicalKV) tables are not part of this release; use "
        "de.CuckooHashTableCreator (CPU tables, with capacity and eviction "
        "through de.CuckooHashTableConfig(max_capacity=..., "
        "evict_strategy=...))")
_REDIS = ("Redis tables are not part of this release; use "
          "de.CuckooHashTableCreator, with de.FileSystemSaver to keep big "
          "tables out of the checkpoint bundle")
_PS = ("tf.distribute.ParameterServerStrategy training of dynamic embeddings "
       "is not part of this release; train between-graph (ps/worker "
       "tf.distribute.Server + MonitoredTrainingSession) or with "
       "tf.distribute.MirroredStrategy")
_HOROVOD = ("Horovod is not supported (it does not build against current "
            "TensorFlow); train on several devices with "
            "tf.distribute.MirroredStrategy and the de.keras.layers, and "
            "checkpoint with de.keras.callbacks.ModelCheckpoint")

# module ("de", "de.keras.layers", "de.keras.callbacks") -> name -> why
MISSING = {
    "de": {name: _GPU for name in (
        "HkvHashTable", "HkvHashTableConfig", "HkvHashTableCreator",
        "HkvEvictStrategy")} | {name: _REDIS for name in (
            "RedisTable", "RedisTableConfig", "RedisTableCreator")} | {
                "DistributedVariableWrapper": _PS},
    "de.keras.layers": {"HvdAllToAllEmbedding": _HOROVOD},
    "de.keras.callbacks": {
        "DEHvdModelCheckpoint": _HOROVOD,
        "DEHvdBroadcastGlobalVariablesCallback": _HOROVOD},
    "de.train": {"DEHvdSaver": _HOROVOD},
}


class UnavailableError(AttributeError, NotImplementedError):
  """A TFRA 0.8 name this release does not provide (module docstring)."""


def check(module, name):
  """Raises `UnavailableError` when `module` ("de", ...) lacks TFRA's
  `name`; returns otherwise.

  Args:
    module: "de", "de.keras.layers", "de.keras.callbacks" or "de.train".
    name: The attribute looked up.

  Raises:
    UnavailableError: `name` is one of TFRA's names listed in `MISSING`.

  Example:
    >>> from tensorflow_recommenders_addons import dynamic_embedding as de
    >>> try:
    ...   de.HkvHashTableCreator
    ... except NotImplementedError as e:
    ...   print(str(e).split(";")[0])
    de.HkvHashTableCreator: GPU (HierarchicalKV) tables are not part of this release
    >>> hasattr(de, "RedisTableCreator")
    False
  """
  why = MISSING.get(module, {}).get(name)
  if why is not None:
    raise UnavailableError(f"{module}.{name}: {why}")
