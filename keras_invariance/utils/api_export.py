"""One decorator that exports a public object and registers it for saving.

Keras only round-trips objects whose class is registered under a package name,
so every public layer, model, perturbation and penalty goes through
`keras_invariance_export`. Keeping the package name in one place means saved
files always resolve to `keras_invariance>ClassName`.
"""

import keras

PACKAGE = "keras_invariance"


def keras_invariance_export(cls):
    """Registers `cls` as `keras_invariance>cls.__name__` and returns it.

    Example:

    >>> import keras
    >>> @keras_invariance_export
    ... class Scale(keras.layers.Layer):
    ...     pass
    >>> keras.saving.get_registered_name(Scale)
    'keras_invariance>Scale'

    Args:
        cls: A class with a round-tripping `get_config`.

    Returns:
        `cls`, registered.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
