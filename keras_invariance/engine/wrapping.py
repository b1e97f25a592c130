"""What `InvariantModel(...)` wraps: a model, or `(inputs, outputs)`."""

import keras

from keras_invariance.utils.hyperparameters import value_of


def base_model_from_arguments(args, kwargs):
    """The model an `InvariantModel` wraps, from its positional arguments.

    Pops `model=`, `inputs=` and `outputs=` from `kwargs`; `(inputs,
    outputs)` builds a Functional model. Returns `None` when there is
    nothing to wrap (a subclassed `InvariantModel`).

    Example:

    >>> import keras
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> base_model_from_arguments((base,), {}) is base
    True

    Raises:
        ValueError: For a layer instead of a model, too many positional
            arguments, or `inputs` without `outputs`.
    """
    model = kwargs.pop("model", None)
    inputs = kwargs.pop("inputs", None)
    outputs = kwargs.pop("outputs", None)
    if len(args) == 2:
        inputs, outputs = args
    elif len(args) == 1:
        if isinstance(args[0], keras.Model) and outputs is None:
            model = args[0]
        elif isinstance(args[0], keras.layers.Layer) and outputs is None:
            raise _layer_error(args[0])
        else:
            inputs = args[0]
    elif len(args) > 2:
        raise ValueError(
            "InvariantModel takes a model to wrap or `(inputs, outputs)`; "
            f"received {len(args)} positional arguments."
        )
    if inputs is not None or outputs is not None:
        if model is not None or inputs is None or outputs is None:
            raise ValueError(
                "Pass either a model to wrap or both `inputs` and `outputs`."
            )
        # Wrapping a Functional model (rather than becoming one) keeps Keras
        # from rewriting InvariantModel's base classes for every later use.
        model = keras.Model(inputs, outputs)
    if model is not None and not isinstance(model, keras.Model):
        raise ValueError(
            f"InvariantModel wraps a `keras.Model`; received {model!r}."
        )
    return model


def check_backend():
    """Raises unless Keras runs on TensorFlow (tapes and jvps need it).

    Example:

    >>> check_backend()
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "keras_invariance trains on the TensorFlow backend only (its "
            "penalties need tf.GradientTape and forward-mode jvps). Set "
            "KERAS_BACKEND=tensorflow before importing keras; found "
            f"{keras.backend.backend()!r}."
        )


def nothing_to_wrap():
    """The error for an `InvariantModel` with no model and no `call`."""
    return ValueError(
        "InvariantModel needs a model: wrap one "
        "(`InvariantModel(base_model, ...)`), build it functionally "
        "(`InvariantModel(inputs, outputs, ...)`), or subclass it "
        "and implement `call`."
    )


def _layer_error(layer):
    return ValueError(
        "InvariantModel wraps a `keras.Model`, but received the layer "
        f"{type(layer).__name__} {layer.name!r}. Build a model around it first, "
        "e.g. `keras.Sequential([keras.Input(shape), layer])`."
    )


def serialize(obj):
    """`keras.saving.serialize_keras_object`, with `None` kept as `None`.

    Example:

    >>> serialize(None) is None
    True
    """
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def deserialized_arguments(config):
    """`InvariantModel` constructor arguments from its config.

    Example:

    >>> deserialized_arguments({"penalties": [], "alpha": 1.0})
    {'penalties': [], 'alpha': 1.0}
    """
    config = dict(config)
    for key in ("model", "perturbation", "global_augmentation"):
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    config["penalties"] = [
        keras.saving.deserialize_keras_object(p) for p in config.get("penalties") or []
    ]
    return config


def model_config(model):
    """`InvariantModel.get_config()`: its arguments, the wrapped model serialized.

    Example:

    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> sorted(model_config(ki.InvariantModel(base)))[:3]
    ['alpha', 'batching', 'beta']
    """
    config = {
        "name": model.name,
        "trainable": model.trainable,
        "alpha": value_of(model.alpha),
        "beta": value_of(model.beta),
        "perturbation": serialize(model.perturbation),
        "num_samples": model.num_samples,
        "penalties": [serialize(p) for p in model.penalties],
        "global_augmentation": serialize(model.global_augmentation),
        "batching": model.batching,
        "check_finite": model.check_finite,
        "from_logits": model.from_logits,
        "unconnected_inputs": model.unconnected_inputs,
        "validation_terms": model.validation_terms,
    }
    if not model._subclassed:
        config["model"] = serialize(model._base_model)
    return config
