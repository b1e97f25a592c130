"""Tunable hyperparameters (α, β, γ, λ, ε …) as non-trainable variables.

Hyperparameters live in variables rather than Python floats so that a
callback, a schedule or a tuner can change them between steps without
retracing the compiled train step, and so that they are saved with the model.
"""

import math

import keras


def check_non_negative(name, value):
    """Raises a `ValueError` that says what to do unless `value` is ≥ 0.

    Example:

    >>> check_non_negative("gamma", 2)
    2.0

    Args:
        name: The argument's name, used in the message.
        value: A Python number.

    Returns:
        `float(value)`.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a non-negative number; received {value!r}."
        ) from None
    if math.isnan(value) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative number; received {value}. "
            "Use 0 to switch the term off."
        )
    return value


def add_hyperparameter(layer, name, value, validate=True):
    """Adds a scalar, non-trainable float32 variable holding `value`.

    Args:
        layer: The `keras.layers.Layer` (or model) that owns the variable.
        name: The variable's name, e.g. `"alpha"`.
        value: Its initial value.
        validate: Whether to reject negative values.

    Returns:
        The new `keras.Variable`. Change it with `variable.assign(x)`.
    """
    if validate:
        value = check_non_negative(name, value)
    return layer.add_weight(
        name=name,
        shape=(),
        dtype="float32",
        initializer=keras.initializers.Constant(float(value)),
        trainable=False,
        autocast=False,
    )


def value_of(variable):
    """Returns the Python float held by a scalar variable (for `get_config`)."""
    return float(keras.ops.convert_to_numpy(variable))
