"""Turning what a user passes as `perturbation=` into a `Perturbation`."""

from keras_invariance.perturbations import noise as noise_lib
from keras_invariance.perturbations.per_input import PerInputPerturbation


def get(identifier):
    """A perturbation from an instance, layer(s), callable, config or dict.

    A dict of `{input name: perturbation}` (not a serialized config) gives a
    `PerInputPerturbation` for a multi-input model.

    Example:

    >>> import keras_invariance as ki
    >>> type(get({"image": ki.perturbations.GaussianNoise(0.1)})).__name__
    'PerInputPerturbation'
    >>> get(None) is None
    True

    Args:
        identifier: `None`, a `Perturbation`, a Keras layer or list of
            layers, a callable, a serialized config, or a per-input dict.

    Returns:
        A `Perturbation`, or `None`.

    Raises:
        ValueError: For anything else.
    """
    if isinstance(identifier, dict) and "class_name" not in identifier:
        return PerInputPerturbation(identifier)
    return noise_lib.get(identifier)
