"""The one module that reaches into TensorFlow's private packages.

TensorFlow exports no subclassable resource-variable class: `tf.Variable`'s
metaclass builds a concrete variable only when `tf.Variable` itself is
called, so `class X(tf.Variable)` yields an abstract class with no storage.
`de.TrainableWrapper` must *be* a variable (so `tf.GradientTape`, optimizers
and `isinstance(v, tf.Variable)` treat it as one) while carrying a reference
to its dynamic-embedding variable; the public API that is missing is a
subclassable `tf.Variable` implementation.

`SaveSpec` lets `_serialize_to_tensors` return a tensor *callable*, run only
when a checkpoint is written. TensorFlow also calls `_serialize_to_tensors`
on restore, only to learn the tensor names; `de.FileSystemSaver` writes
table files when its tensor is produced, which must not happen on restore.
The public API that is missing is a deferred value in the
`_serialize_to_tensors` protocol.

`SaveableObject` is what `tf.compat.v1.train.Saver` saves: its default
`var_list` is the global variables plus the graph's `SAVEABLE_OBJECTS`
collection, where TensorFlow's own graph-mode hash tables put one each. A
`de.Variable` built in a TF1 graph adds one there so that the Saver that
`tf.compat.v1.train.MonitoredTrainingSession`'s Scaffold builds includes its
rows. (A Trackable in that collection is saved under an empty name, so two
variables would collide.) The public API that is missing is a saveable a
graph Saver accepts.

`could_possibly_record` tells whether a `tf.GradientTape` is recording:
two lookups of one variable in a training step share their wrapper's rows
(dynamic_embedding/call_groups.py), and a lookup no tape records (an
evaluation step, a lookup after the forward pass) must not join them. The
public API that is missing is a query of the active tapes.

Nothing else in the package may import `tensorflow.python`
(tests/test_style.py enforces it).
"""

from tensorflow.python.eager.record import could_possibly_record  # pylint: disable=unused-import
from tensorflow.python.ops.resource_variable_ops import ResourceVariable  # pylint: disable=unused-import
from tensorflow.python.training.saving.saveable_object import SaveableObject, SaveSpec  # pylint: disable=unused-import

__all__ = ["ResourceVariable", "could_possibly_record", "SaveableObject", "SaveSpec"]
