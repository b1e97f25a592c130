"""Generic perturbations: Gaussian noise, Keras layers, and plain callables."""

import keras
from keras import ops

from keras_invariance.graph import structures
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils import keras_compat
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


@keras_invariance_export("keras_invariance.perturbations.GaussianNoise")
class GaussianNoise(Perturbation):
    """Additive Gaussian noise x̃ = x + Δx with Δx ~ N(0, σ²I).

    `stddev` (σ) is a non-trainable variable: assign to it to anneal the noise
    without retracing the train step.

    Example:

    >>> import numpy as np
    >>> noise = GaussianNoise(stddev=0.0)
    >>> noise.perturb(np.ones((2, 3), "float32")).numpy()
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)

    Args:
        stddev: σ ≥ 0, in the units of the inputs.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For a negative `stddev`, or integer inputs.

    Reference:
        Connections between noise regularization, Jacobian penalties and VAT (a PEA regularizer,
        Bachman et al. 2014), eq. 1 (Δx ~ N(0, ε²I));
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §2 (additive noise model).
    """

    def __init__(self, stddev=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = add_hyperparameter(self, "stddev", stddev)

    def perturb(self, x, context=None):
        validation.check_float(x, "GaussianNoise")

        def noisy(t):
            noise = random_ops.normal(
                ops.shape(t), dtype="float32", seed=self.seed_generator
            )
            return t + ops.cast(self.stddev * noise, t.dtype)

        # Several inputs: every float input gets noise, token ids none.
        return structures.map_float(noisy, x)

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": value_of(self.stddev)})
        return config


#: Store-key prefix of the wrapped layers' seed states (`LayerPerturbation`).
_LAYER_SEED_STATE = "layer_seed_state_"


@keras_invariance_export("keras_invariance.perturbations.LayerPerturbation")
class LayerPerturbation(Perturbation):
    """Uses Keras layers (e.g. preprocessing layers) as the noise model.

    Each layer is called with `training=True`, so Keras' random augmentation
    layers draw a new transform per call. A list of layers is applied in
    order.

    Note: Keras' spatial layers (RandomRotation, RandomTranslation, …) use
    ImageProjectiveTransformV3, which has no XLA kernel on CPU, so they do
    not work under `compile(jit_compile=True)` there.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> p = LayerPerturbation([keras.layers.GaussianNoise(0.0)])
    >>> p.perturb(np.zeros((1, 2), "float32")).numpy()
    array([[0., 0.]], dtype=float32)

    Args:
        layers: A Keras layer or a list of layers.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: If `layers` holds something that is not a Keras layer.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        eq. 2 (any ν_x).
    """

    single_input = True

    def __init__(self, layers, **kwargs):
        kwargs.pop("seed", None)
        super().__init__(**kwargs)
        layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
        for layer in layers:
            if not isinstance(layer, keras.layers.Layer):
                raise ValueError(
                    "`LayerPerturbation` takes Keras layers; received "
                    f"{layer!r}. Wrap plain functions in "
                    "`keras_invariance.perturbations.FunctionPerturbation`."
                )
        self.layers = layers

    def perturb(self, x, context=None):
        for layer in self.layers:
            x = layer(x, training=True)
        return x

    def _wrapped_seed_generators(self):
        return [
            generator
            for layer in self.layers
            for sublayer in keras_compat.flatten_layers(layer)
            for generator in keras_compat.seed_generators(sublayer)
        ]

    def save_own_variables(self, store):
        super().save_own_variables(store)
        # Keras saves no seed state, and a wrapped random layer built with
        # seed=None draws a fresh seed when the file is loaded: without its
        # state here, the reloaded model would perturb differently.
        for i, generator in enumerate(self._wrapped_seed_generators()):
            store[f"{_LAYER_SEED_STATE}{i}"] = generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        for i, generator in enumerate(self._wrapped_seed_generators()):
            if f"{_LAYER_SEED_STATE}{i}" in keys:
                generator.state.assign(store[f"{_LAYER_SEED_STATE}{i}"])
        super().load_own_variables(
            {k: store[k] for k in keys if not k.startswith(_LAYER_SEED_STATE)}
        )

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)
        config.update(
            {
                "layers": [
                    keras.saving.serialize_keras_object(layer)
                    for layer in self.layers
                ]
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [
            keras.saving.deserialize_keras_object(layer)
            for layer in config["layers"]
        ]
        return cls(**config)


@keras_invariance_export("keras_invariance.perturbations.FunctionPerturbation")
class FunctionPerturbation(Perturbation):
    """Uses a plain function `fn(x) -> x̃` as the noise model.

    To save and reload the model, register the function with
    `keras.saving.register_keras_serializable`; lambdas cannot be saved.

    Example:

    >>> import numpy as np
    >>> p = FunctionPerturbation(lambda x: 2.0 * x)
    >>> p.perturb(np.ones((1, 2), "float32"))
    array([[2., 2.]], dtype=float32)

    Args:
        fn: A callable mapping a batch to a perturbed batch of the same shape.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: If `fn` is not callable.
    """

    def __init__(self, fn, **kwargs):
        kwargs.pop("seed", None)
        super().__init__(**kwargs)
        if not callable(fn):
            raise ValueError(f"`fn` must be callable; received {fn!r}.")
        self.fn = fn

    def perturb(self, x, context=None):
        return self.fn(x)

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)
        config.update({"fn": keras.saving.serialize_keras_object(self.fn)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["fn"] = keras.saving.deserialize_keras_object(config["fn"])
        return cls(**config)


def get(identifier):
    """Resolves a perturbation from an instance, layer(s), callable or config.

    Example:

    >>> import keras
    >>> type(get(keras.layers.RandomFlip())).__name__
    'LayerPerturbation'

    Args:
        identifier: `None`, a `Perturbation`, a Keras layer or list of layers,
            a callable, or a serialized config dict.

    Returns:
        A `Perturbation`, or `None`.

    Raises:
        ValueError: For anything else.
    """
    if identifier is None or isinstance(identifier, Perturbation):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        return get(keras.saving.deserialize_keras_object(identifier))
    if isinstance(identifier, keras.layers.Layer) or (
        isinstance(identifier, (list, tuple))
        and all(isinstance(layer, keras.layers.Layer) for layer in identifier)
    ):
        return LayerPerturbation(identifier)
    if callable(identifier):
        return FunctionPerturbation(identifier)
    raise ValueError(
        f"Cannot use {identifier!r} as a perturbation. Pass a "
        "`keras_invariance.Perturbation` (e.g. `GaussianNoise(0.1)`), a Keras "
        "layer or list of layers, or a callable `fn(x) -> x_perturbed`."
    )
