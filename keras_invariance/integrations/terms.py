"""A model's term weights and strengths, by name: read, print, assign.

`term_hyperparameters(model)` lists the scalar variables of every term
(`"alpha"`, `"irl_distance.weight"`, `"perturbation.epsilon"`, …);
Keras Tuner searches them (`keras_invariance.integrations.tuning`), the
report prints and saves them, and
`keras_invariance.integrations.callbacks.WeightSchedule` finds its term
through them. Nothing here needs Keras Tuner.
"""

import keras

from keras_invariance.utils.hyperparameters import value_of


def term_hyperparameters(model):
    """A model's term weights and strengths, by name, as its variables.

    Names: `"alpha"`, `"beta"`, `"perturbation.<variable>"` (e.g.
    `"perturbation.epsilon"`, `"perturbation.stddev"`) and
    `"<penalty name>.<variable>"` for every scalar float variable of each
    penalty (its `weight` λ_j, per-layer `layer_weight_<layer>`, its distance's
    `cosine_weight`, VAT's `epsilon` …), in that order. The values are
    whatever the variables hold (the weights actually used, including any
    a schedule changed).

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.VAT(base)
    >>> sorted(term_hyperparameters(model))[:3]
    ['alpha', 'beta', 'vat.epsilon']

    Args:
        model: A `keras_invariance.InvariantModel`.

    Returns:
        A dict from name to scalar `keras.Variable`.

    Raises:
        ValueError: For a model that is not an `InvariantModel`.
    """
    if not hasattr(model, "penalties") or not hasattr(model, "alpha"):
        raise ValueError(
            "term_hyperparameters needs a keras_invariance.InvariantModel; "
            f"received {type(model).__name__}."
        )
    found = {"alpha": model.alpha, "beta": model.beta}
    owners = [("perturbation", model.perturbation)]
    owners += [(penalty.name, penalty) for penalty in model.penalties]
    for prefix, owner in owners:
        if owner is None:
            continue
        for variable in owner.non_trainable_variables:
            if tuple(variable.shape) == () and variable.dtype == "float32":
                found.setdefault(f"{prefix}.{variable.name}", variable)
    return found


def term_values(model):
    """`term_hyperparameters(model)` as Python floats (for printing, JSON).

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> term_values(ki.IRL(base, preset="plain"))
    {'alpha': 1.0, 'beta': 0.0}

    Args:
        model: A `keras_invariance.InvariantModel`.

    Returns:
        A dict from name to float.
    """
    return {name: value_of(v) for name, v in term_hyperparameters(model).items()}


def assign_terms(model, values):
    """Sets a model's term weights and strengths by name (e.g. tuned ones).

    The names are those of `term_hyperparameters`; a PGD step size keeps
    its fraction of a changed radius, as in a tuner trial.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.VAT(base)
    >>> assign_terms(model, {"vat.weight": 0.3})
    >>> round(term_values(model)["vat.weight"], 3)
    0.3

    Args:
        model: A `keras_invariance.InvariantModel`.
        values: `{name: float}`.

    Raises:
        ValueError: For a name the model does not have (the message lists
            its names).
    """
    variables = term_hyperparameters(model)
    unknown = sorted(set(values) - set(variables))
    if unknown:
        raise ValueError(
            f"assign_terms: {unknown} are not terms of this model; its names "
            f"are {list(variables)}."
        )
    for name, value in values.items():
        _assign(model, name, variables[name], float(value))


def _assign(model, name, variable, value):
    previous = value_of(variable)
    variable.assign(value)
    # A PGD step size is kept at the same fraction of its radius.
    if name == "perturbation.epsilon" and previous > 0:
        step = getattr(model.perturbation, "step_size", None)
        if isinstance(step, keras.Variable):
            step.assign(value_of(step) * value / previous)
