"""The optimizer configurations every oracle test runs, for either Keras:
`optimizers(tf_keras)` or `optimizers(keras)` gives {name: factory}."""

_CONFIGS = {
    "sgd": lambda k: k.optimizers.SGD(0.05),
    "sgd_momentum": lambda k: k.optimizers.SGD(0.05, momentum=0.9),
    "sgd_nesterov": lambda k: k.optimizers.SGD(0.05, momentum=0.9,
                                               nesterov=True),
    "adagrad": lambda k: k.optimizers.Adagrad(
        0.1, initial_accumulator_value=0.2),
    "adam": lambda k: k.optimizers.Adam(0.02),
    "adam_amsgrad": lambda k: k.optimizers.Adam(0.02, amsgrad=True),
    "adamw": lambda k: k.optimizers.AdamW(0.02, weight_decay=0.05),
    "adamax": lambda k: k.optimizers.Adamax(0.02),
    "nadam": lambda k: k.optimizers.Nadam(0.02),
    "rmsprop": lambda k: k.optimizers.RMSprop(0.01),
    "rmsprop_momentum": lambda k: k.optimizers.RMSprop(0.01, momentum=0.5),
    "rmsprop_centered": lambda k: k.optimizers.RMSprop(0.01, centered=True),
    "ftrl": lambda k: k.optimizers.Ftrl(
        0.1, l1_regularization_strength=0.01,
        l2_regularization_strength=0.02,
        l2_shrinkage_regularization_strength=0.01, beta=0.1),
    "adadelta": lambda k: k.optimizers.Adadelta(1.0),
    "lion": lambda k: k.optimizers.Lion(0.003),
}


def optimizers(keras_module):
  """{name: factory of a fresh optimizer} of `keras_module`."""
  return {name: (lambda make=make: make(keras_module))
          for name, make in _CONFIGS.items()}
