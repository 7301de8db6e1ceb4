"""An optimizer's variables and slot tables in a Keras weights store.

Keras's own formats (`model.save("x.keras")`, `save_weights("x.weights.h5")`
and their loaders) save an optimizer with `save_own_variables(store)`: each
of `optimizer.variables` under its index. For a dynamic embedding, the
variable at such an index is a per-step view of a slot table (a tf_keras
slot wrapper, or the slot of a row buffer) whose content matters only
within a step; its index holds the slot table's rows instead (layout in
keras/layers/_weights_store.py, prefix "<index>:").

The mixin serves any wrapped optimizer, Keras 3 or tf_keras.
"""

import warnings

from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper


def _store_lib():
  # Imported on use: the store module lives with the Keras layers, which
  # import a Keras.
  from tensorflow_recommenders_addons.dynamic_embedding.keras.layers import _weights_store  # pylint: disable=import-outside-toplevel
  return _weights_store


def slot_tables(optimizer):
  """{index in `optimizer.variables`: slot table} of a wrapped optimizer's
  per-step slot views: tf_keras slot wrappers, and the slots paired with
  row buffers."""
  by_slot = {id(slot): table
             for entry in optimizer._de_entries.by_key.values()  # pylint: disable=protected-access
             for slot, table in entry.slots}
  tables = {}
  for i, var in enumerate(optimizer.variables):
    if isinstance(var, TrainableWrapper):
      tables[i] = var.params
    elif id(var) in by_slot:
      tables[i] = by_slot[id(var)]
  return tables


def _state(optimizer):
  """`(skip, tables)` for `_weights_store.save_state` / `load_state`:
  `skip(variable)` names the slot views, `tables` maps "<index>:" to the
  slot table of the view at that index."""
  tables = slot_tables(optimizer)
  views = {id(optimizer.variables[i]) for i in tables}
  return (lambda var: id(var) in views,
          {f"{i}:": table for i, table in tables.items()})


def _matches(store, variables, skip, tables):
  """Whether `store` holds exactly what `save_state` writes for these
  variables (False e.g. for a file saved before the optimizer was built)."""
  names = set(store.keys())
  saved_tables = {n[:-len("format")] for n in names if n.endswith(":format")}
  dense = set(_store_lib().dense_names(variables, skip))
  return ({n for n in names if n.isdigit()} == dense and
          saved_tables == set(tables))


class OwnVariablesMixin:
  """`save_own_variables` / `load_own_variables` of both optimizer mixins
  (tf_keras and Keras 3), called by their Keras's `.keras` and
  `.weights.h5` formats."""

  def save_own_variables(self, store):
    """Saves the optimizer's variables and its slot tables: variables by
    index as Keras saves them, except that a per-step slot view's index
    holds its slot table's rows.

    Args:
      store: The optimizer's Keras weights store (name -> numpy array).
    """
    skip, tables = _state(self)
    _store_lib().save_state(store, self.variables, skip, tables)

  def load_own_variables(self, store):
    """Restores what `save_own_variables` saved; slot tables are replaced
    (routed through their current partitioner), and everything is checked
    before anything is written. As Keras does, a file holding another set
    of variables (e.g. saved before the optimizer was built) is skipped
    with a warning.

    Args:
      store: The optimizer's Keras weights store.

    Raises:
      tf.errors.InvalidArgumentError: a variable of another shape, or a
        slot table of another key dtype or dim (naming the optimizer);
        nothing is changed.
    """
    skip, tables = _state(self)
    if not _matches(store, self.variables, skip, tables):
      warnings.warn(
          f"Skipping variable loading for optimizer {self.name!r}: the file "
          f"holds {len(list(store.keys()))} entries that do not match its "
          f"{len(self.variables)} variables ({len(tables)} of them slot "
          f"tables); was it saved before the optimizer was built?",
          stacklevel=2)
      return
    _store_lib().load_state(store, self.variables, skip, tables,
                            f"optimizer {self.name!r}")
