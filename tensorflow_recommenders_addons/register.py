"""Explicit registration of every op library, for serving processes."""

from tensorflow_recommenders_addons.utils import resource_loader


def register_all():
  """Loads every op library of the package so that its ops are registered.

  Importing the package calls it already (and keeps a failure for the
  first op use); calling it again costs nothing and raises a library's
  load error here, which suits a serving process that wants to fail at
  start-up rather than at its first request.

  Returns:
    The list of paths of the loaded libraries.

  Raises:
    tensorflow_recommenders_addons.utils.resource_loader.OpLibraryError: a
      library is missing or was built for another TensorFlow version.

  Example:
    >>> import tensorflow_recommenders_addons as tfra
    >>> paths = tfra.register_all()
    >>> any(p.endswith("_cuckoo_hashtable_ops.so") for p in paths)
    True
  """
  loaded = []
  for lib in resource_loader.LIBRARIES.values():
    lib.ops  # pylint: disable=pointless-statement
    loaded.append(lib.path)
  return loaded
