"""Dynamic-embedding training for TF1 optimizers (`tf.compat.v1.train.*`).

`tf.compat.v1.train.Optimizer` subclasses (GradientDescent, Momentum,
Adagrad, Adam, Ftrl, RMSProp, Adadelta, ProximalAdagrad, ...) create slots
in `_create_slots(var_list)` with `_zeros_slot`, `_get_or_make_slot` and
`_get_or_make_slot_with_initializer`, keep non-slot variables (Adam's beta
powers) with `_create_non_slot_variable`, and update one variable with
`_resource_apply_dense(grad, var)`. `DynamicEmbeddingOptimizer(opt)` gives
such an optimizer a subclass of its own class (e.g.
`DynamicEmbeddingAdamOptimizer(AdamOptimizer)`) that treats
`de.TrainableWrapper`s specially and leaves every other variable to the
optimizer's own code:

* `_create_slots` hands the optimizer's own code a `[1, dim]` stand-in per
  wrapper, so it computes each slot's initial row (Adagrad's
  `initial_accumulator_value`, RMSProp's ones, zeros); the slot methods turn
  that row into a slot table plus a slot wrapper (slots.py), as for the
  tf_keras optimizers. Non-slot variables stay ordinary variables, created
  where the optimizer's code puts them (in a TF1 graph: graph variables that
  `tf.compat.v1.global_variables_initializer()` initializes);
* `_resource_apply_dense` of a wrapper loads the slot rows of its ids into
  the slot wrappers, runs the optimizer's own update on the wrapper and slot
  wrappers, and writes rows and slots back (upsert, or accum of the deltas
  with bp_v2). In a TF1 graph, control dependencies order the three (reads
  after the gradient, loads before the update, stores after it), so the op
  `apply_gradients`/`minimize` returns does all of it, then the optimizer's
  `_finish` (Adam's beta powers) and the `global_step` increment.

`get_slot(wrapper, name)` is the slot wrapper (its `params` is the slot
table), as in TFRA; the slot tables themselves are listed by
`var.get_slot_variables(optimizer)` and saved by `tf.train.Checkpoint` as
dependencies of the optimizer (`_de_slot_tables`).
"""

import numpy as np
import tensorflow as tf

from tensorflow_recommenders_addons.dynamic_embedding.optimizers import merge as _merge
from tensorflow_recommenders_addons.dynamic_embedding.optimizers import slots as _slots
from tensorflow_recommenders_addons.dynamic_embedding.tables import _validation as v
from tensorflow_recommenders_addons.dynamic_embedding.trainable import TrainableWrapper
from tensorflow_recommenders_addons.utils.autograph import run_as_is


def _is_wrapper(variable):
  return isinstance(variable, TrainableWrapper)


class _Template(_slots.SlotTemplate):
  """The `[1, dim]` stand-in for a wrapper in `_create_slots`, with what v1
  optimizers ask of a variable there (`get_shape()`, colocation)."""

  def get_shape(self):
    return self.shape

  @property
  def device(self):
    return self.wrapper.device

  @property
  def handle(self):
    return self.wrapper.handle

  @property
  def graph(self):
    return self.wrapper.graph


@run_as_is
class Tf1Mixin:
  """Dynamic-embedding behaviour mixed in front of a
  `tf.compat.v1.train.Optimizer`."""

  @property
  def name(self):
    """The optimizer's name (used in slot table names)."""
    return self._name

  def __setattr__(self, name, value):
    super().__setattr__(name, value)
    if name == "_de_slot_tables":
      # A v1 optimizer tracks only what it is told to: the slot tables are
      # saved, and restored when created after `restore`, under this name.
      self._track_trackable(value, name, overwrite=True)

  def apply_gradients(self, grads_and_vars, global_step=None, name=None,
                      **kwargs):
    grads_and_vars = list(grads_and_vars)
    if tf.distribute.has_strategy() and any(
        _is_wrapper(var) for _, var in grads_and_vars):
      raise tf.errors.UnimplementedError(
          None, None, f"grads_and_vars: {type(self).__name__} (a "
          "tf.compat.v1.train optimizer) cannot train dynamic embeddings "
          "under a tf.distribute strategy; use a tf_keras optimizer")
    # One update per de.Variable, whatever its number of wrappers.
    grads_and_vars = _merge.prepare(grads_and_vars, self._de_synchronous,
                                    keep_merged=False)
    return super().apply_gradients(grads_and_vars, global_step=global_step,
                                   name=name, **kwargs)

  # -- slots ------------------------------------------------------------

  def _create_slots(self, var_list):
    super()._create_slots(
        [_Template(var) if _is_wrapper(var) else var for var in var_list])

  def _create_non_slot_variable(self, initial_value, name, colocate_with):
    if not isinstance(colocate_with, _Template):
      return super()._create_non_slot_variable(initial_value, name,
                                               colocate_with)
    wrapper = colocate_with.wrapper
    if tf.executing_eagerly():
      return super()._create_non_slot_variable(initial_value, name, wrapper)
    # In a graph the optimizer's code would colocate Adam's beta powers with
    # the wrapper, a local variable on the worker that built it: another
    # worker's graph would then ask for a variable on its own task that no
    # chief initialises, and wait for ever (TFRA's non-chief hang). They go
    # where the variable's first table lives instead (the ps), as global
    # variables the chief initialises and every worker shares.
    key = (name, wrapper.graph)
    var = self._non_slot_dict.get(key)
    if var is None:
      self._maybe_initialize_trackable()
      with tf.compat.v1.colocate_with(None, ignore_existing=True), \
          tf.device(wrapper.params.devices[0]):
        var = tf.compat.v1.Variable(initial_value, name=name,
                                    trainable=False, use_resource=True)
      self._handle_deferred_dependencies(name=name, trackable=var)
      self._non_slot_dict[key] = var
    return var

  def _zeros_slot(self, var, slot_name, op_name):
    if not isinstance(var, _Template):
      return super()._zeros_slot(var, slot_name, op_name)
    return self._de_slot(var, slot_name, lambda: None)

  def _get_or_make_slot(self, var, val, slot_name, op_name):
    if not isinstance(var, _Template):
      return super()._get_or_make_slot(var, val, slot_name, op_name)
    return self._de_slot(var, slot_name,
                         lambda: _static_row(slot_name, val))

  def _get_or_make_slot_with_initializer(self, var, initializer, shape, dtype,
                                         slot_name, op_name):
    if not isinstance(var, _Template):
      return super()._get_or_make_slot_with_initializer(
          var, initializer, shape, dtype, slot_name, op_name)
    return self._de_slot(
        var, slot_name,
        lambda: _initializer_row(initializer, shape, dtype))

  def _de_slot(self, template, slot_name, first_row):
    """The slot wrapper of `template.wrapper` for `slot_name`, created with
    its slot table (default row `first_row()`: `[1, dim]` numbers, or None
    for zeros) on first use."""
    wrapper = template.wrapper
    existing = dict(self._de_slots.slots_of(wrapper)).get(slot_name)
    if existing is not None:
      return existing
    self._slot_dict(slot_name)  # get_slot_names() lists it
    row = first_row()
    return self._de_slots.slot_wrapper(self, wrapper, slot_name,
                                       template.shape, row)

  def get_slot(self, var, name):
    if not _is_wrapper(var):
      return super().get_slot(var, name)
    return dict(self._de_slots.slots_of(var)).get(name)

  def _create_or_restore_slot_variable(self, slot_variable_position,
                                       slot_name, variable, *args, **kwargs):
    if _is_wrapper(variable):
      return None  # slot tables are restored as the optimizer's dependencies
    return super()._create_or_restore_slot_variable(
        slot_variable_position, slot_name, variable, *args, **kwargs)

  # -- updates ----------------------------------------------------------

  def _resource_apply_dense(self, grad, handle):
    if not _is_wrapper(handle):
      return super()._resource_apply_dense(grad, handle)
    return self._de_update(
        handle, grad,
        lambda: super(Tf1Mixin, self)._resource_apply_dense(grad, handle))

  def _resource_apply_sparse_duplicate_indices(self, grad, handle, indices):
    if not _is_wrapper(handle):
      return super()._resource_apply_sparse_duplicate_indices(
          grad, handle, indices)
    return self._de_update(
        handle, grad,
        lambda: super(Tf1Mixin, self)._resource_apply_sparse_duplicate_indices(
            grad, handle, indices))

  def _de_update(self, wrapper, grad, run_update):
    """load slots -> the optimizer's own update -> store (module
    docstring), ordered by control dependencies for TF1 graphs."""
    bp_v2 = self._de_bp_v2 or wrapper.params.bp_v2
    # The gradient reloads the lookup's ids and rows into the wrapper.
    with tf.control_dependencies([grad]):
      ids = wrapper.ids.value()
      old_rows = wrapper.value() if bp_v2 else None
      with _at_tables():
        loaded, before = _slots.load_slots_with_ops(
            self._de_slots.slots_of(wrapper), ids)
    if old_rows is not None:
      before.append(old_rows)
    with tf.control_dependencies(before):
      update = run_update()
    with tf.control_dependencies([] if update is None else [update]), \
        _at_tables():
      ops = _slots.store(wrapper, ids, old_rows, loaded, bp_v2=bp_v2)
    return tf.group(ops) if ops else update


def _at_tables():
  """Drops the colocation with the wrapper that `apply_gradients` puts
  around the update: table reads and writes run where each shard's table
  lives."""
  return tf.compat.v1.colocate_with(None, ignore_existing=True)


def _static_row(slot_name, value):
  """The value of a `[1, dim]` slot initial value tensor, as numpy."""
  row = tf.get_static_value(value)
  if row is None:
    raise v.invalid(f"slot {slot_name!r}: its initial value is not a "
                    "constant, so new ids cannot start from it")
  return np.asarray(row)


def _initializer_row(initializer, shape, dtype):
  """`initializer(shape, dtype)` for a `[1, dim]` shape, as numpy.

  Under `init_scope` an optimizer inside a `tf.function` executes eagerly;
  in a TF1 graph the initializer is built and run in a scratch graph, so
  the model's graph gets no stray ops.
  """
  dtype = tf.as_dtype(dtype).base_dtype
  if tf.executing_eagerly():
    return np.asarray(initializer(shape, dtype=dtype))
  with tf.Graph().as_default() as graph:
    value = initializer(shape, dtype=dtype)
    row = tf.get_static_value(value)
    if row is None:
      with tf.compat.v1.Session(graph=graph) as session:
        row = session.run(value)
  return np.asarray(row)
