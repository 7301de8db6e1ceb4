"""The one module that reaches into TensorFlow's private packages.

TensorFlow exports no subclassable resource-variable class: `tf.Variable`'s
metaclass builds a concrete variable only when `tf.Variable` itself is
called, so `class X(tf.Variable)` yields an abstract class with no storage.
`de.TrainableWrapper` must *be* a variable (so `tf.GradientTape`, optimizers
and `isinstance(v, tf.Variable)` treat it as one) while carrying a reference
to its dynamic-embedding variable; the public API that is missing is a
subclassable `tf.Variable` implementation. Nothing else in the package may
import `tensorflow.python` (tests/test_style.py enforces it).
"""

from tensorflow.python.ops.resource_variable_ops import ResourceVariable  # pylint: disable=unused-import

__all__ = ["ResourceVariable"]
