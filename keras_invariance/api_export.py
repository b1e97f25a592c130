"""One decorator that exports a public object and registers it for saving.

Keras only round-trips objects whose class is registered under a package name,
so every public layer, model, perturbation and penalty goes through
`keras_invariance_export`. Keeping the package name in one place means saved
files always resolve to `keras_invariance>ClassName`.
"""

import keras

PACKAGE = "keras_invariance"


def keras_invariance_export(cls):
    """Registers `cls` as `keras_invariance>cls.__name__` and returns it."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
