"""Tunable hyperparameters (α, β, γ, λ, ε …) as non-trainable variables.

Hyperparameters live in variables rather than Python floats so that a
callback, a schedule or a tuner can change them between steps without
retracing the compiled train step, and so that they are saved with the model.
"""

import math

import keras


def check_non_negative(name, value):
    """Returns `float(value)`, or raises a `ValueError` that names `name`.

    A weight must be a finite number ≥ 0: a negative weight would maximise
    its term, and NaN or ∞ would poison the whole objective.

    Example:

    >>> check_non_negative("gamma", 2)
    2.0
    >>> check_non_negative("gamma", float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: `gamma` must be a finite number ≥ 0; received inf. Use 0 to switch the term off.

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
            f"`{name}` must be a finite number ≥ 0; received {value!r}."
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"`{name}` must be a finite number ≥ 0; received {value}. "
            "Use 0 to switch the term off."
        )
    return value


def check_positive(name, value):
    """Returns `float(value)` for a finite number > 0, or raises.

    Example:

    >>> check_positive("delta", 0.5)
    0.5
    """
    value = check_non_negative(name, value)
    if value == 0:
        raise ValueError(f"`{name}` must be > 0; received 0.")
    return value


def add_hyperparameter(layer, name, value, validate=True):
    """Adds a scalar, non-trainable float32 variable holding `value`.

    Example:

    >>> layer = keras.layers.Layer()
    >>> float(add_hyperparameter(layer, "gamma", 0.5))
    0.5

    Args:
        layer: The `keras.layers.Layer` (or model) that owns the variable.
        name: The variable's name, e.g. `"alpha"`.
        value: Its initial value.
        validate: Whether to reject negative, NaN and infinite values.

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
    """Returns the Python float held by a scalar variable (for `get_config`).

    Example:

    >>> value_of(keras.Variable(0.25))
    0.25
    """
    return float(keras.ops.convert_to_numpy(variable))
