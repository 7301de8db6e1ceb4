"""An optimizer's variables and slot tables in a Keras weights store.

Keras's own formats (`model.save("x.keras")`, `save_weights("x.weights.h5")`
and their loaders) save an optimizer with `save_own_variables(store)`: each
of `optimizer.variables` under its index. For a dynamic embedding, the
variable at such an index is a per-step view of a slot table (a tf_keras
slot wrapper, or the slot of a row buffer) whose content matters only
within a step; its index holds the slot table's rows instead (layout in
keras/layers/_weights_store.py, prefix "<index>:").

The functions take any wrapped optimizer, Keras 3 or tf_keras.
"""

import warnings

from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
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


def _skip(variables, tables):
  views = {id(variables[i]) for i in tables}
  return lambda var: id(var) in views


def save(store, variables, tables):
  """Writes `variables` by index, slot tables in place of their views.

  Args:
    store: The optimizer's Keras weights store (name -> numpy array).
    variables: `optimizer.variables`, in Keras order.
    tables: {index in `variables`: the slot table (`de.Variable`) that the
      variable at that index is a per-step view of}.
  """
  store_lib = _store_lib()
  store_lib.write_dense(store, variables, _skip(variables, tables))
  for i, table in tables.items():
    store_lib.write_table(store, f"{i}:", table)


def matches(store, variables, tables):
  """Whether `store` holds exactly what `save` writes for these variables
  (False e.g. for a file saved before the optimizer was built)."""
  names = set(store.keys())
  saved_tables = {n[:-len(":format")] for n in names if n.endswith(":format")}
  dense = set(_store_lib().dense_names(variables, _skip(variables, tables)))
  return ({n for n in names if n.isdigit()} == dense and
          saved_tables == {str(i) for i in tables})


def load(store, variables, tables, owner):
  """Restores what `save` wrote; checks everything before writing.

  Args:
    store: The optimizer's Keras weights store.
    variables, tables: As for `save`.
    owner: Names the optimizer in errors.

  Raises:
    tf.errors.InvalidArgumentError: the store does not match the variables
      (see `matches`), a variable of another shape, or a slot table of
      another key dtype or dim, naming `owner`; nothing is changed.
  """
  if not matches(store, variables, tables):
    raise v.invalid(f"{owner}: the file holds {len(list(store.keys()))} "
                    f"entries that do not match its {len(variables)} "
                    f"variables ({len(tables)} of them slot tables)")
  store_lib = _store_lib()
  dense = store_lib.read_dense(store, variables, _skip(variables, tables),
                               owner)
  contents = [store_lib.read_table(store, f"{i}:", table, owner)
              for i, table in tables.items()]
  for variable, value in dense:
    variable.assign(value)
  for content in contents:
    content.restore()


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
    save(store, self.variables, slot_tables(self))

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
    tables = slot_tables(self)
    if not matches(store, self.variables, tables):
      warnings.warn(
          f"Skipping variable loading for optimizer {self.name!r}: the file "
          f"holds {len(list(store.keys()))} entries that do not match its "
          f"{len(self.variables)} variables ({len(tables)} of them slot "
          f"tables); was it saved before the optimizer was built?",
          stacklevel=2)
      return
    load(store, self.variables, tables, f"optimizer {self.name!r}")
