"""Stopping `fit()` at the first step whose loss, a penalty or the inputs are
not finite, with an error that names it.

A NaN in the data trains on silently in plain Keras; with invariance terms
the damage multiplies (a non-finite perturbed copy poisons every penalty). The
guard computes, inside the step (eager, graph, XLA and every strategy alike),
one 0/1 flag per checked quantity, zeroes that step's gradients when a flag
is up, and raises on the host once the step returns. It costs a small
reduction per term and one host read of the flags per step; turn it off with
`InvariantModel(..., check_finite=False)`.
"""

import numpy as np
import tensorflow as tf
from keras import ops
from keras import tree

from keras_invariance import validation

#: The log entry carrying the flags from the step to the host (removed
#: before Keras' callbacks and progress bar see the logs).
LOG_KEY = "_keras_invariance_nonfinite"


class NonFiniteError(FloatingPointError):
    """Raised when a training step's loss, a penalty or the inputs are not finite."""


def nonfinite_flags(x, terms, total, x_perturbed=None):
    """(names, float32 flags): 1 where the inputs or a term are not finite.

    Example:

    >>> names, flags = nonfinite_flags(
    ...     np.array([[1.0, np.nan]], "float32"),
    ...     {"clean_loss": tf.constant(0.5)}, tf.constant(0.5))
    >>> names, flags.numpy().tolist()
    (['inputs', 'perturbed inputs', 'clean_loss', 'loss'], [1.0, 0.0, 0.0, 0.0])

    Args:
        x: The step's inputs (only float inputs are checked).
        terms: `{name: value}` of the objective's terms.
        x_perturbed: The perturbed copies, checked as "perturbed inputs".
        total: The whole objective.

    Returns:
        The names in check order, and a float32 vector of 0/1 flags.
    """
    def all_finite(structure):
        ok = tf.constant(True)
        for t in tree.flatten(structure):
            if isinstance(t, tf.SparseTensor):
                t = t.values
            if t is not None and validation.is_float(t):
                ok = tf.logical_and(ok, tf.reduce_all(tf.math.is_finite(t)))
        return ok

    names = ["inputs", "perturbed inputs"] + list(terms) + ["loss"]
    ok = [all_finite(x), all_finite(x_perturbed)] + [
        tf.reduce_all(tf.math.is_finite(ops.cast(v, "float32"))) for v in terms.values()
    ] + [tf.reduce_all(tf.math.is_finite(ops.cast(total, "float32")))]
    return names, 1.0 - tf.cast(tf.stack(ok), tf.float32)


def hold_gradients(gradients, flags):
    """Zero gradients when any flag is up, so the weights are not poisoned."""
    bad = tf.reduce_any(flags > 0)
    return [
        None if g is None else tf.where(bad, tf.zeros_like(g), g)
        for g in gradients
    ]


def guarded(train_function, names_of, step_of):
    """Wraps Keras' train function: raises `NonFiniteError` on a flagged step.

    Example:

    >>> fn = guarded(lambda it: {"loss": 1.0, LOG_KEY: np.array([0.0, 1.0])},
    ...              lambda: ["inputs", "vat"], lambda: 3)
    >>> fn(None)
    Traceback (most recent call last):
    ...
    keras_invariance.finite_guard.NonFiniteError: The penalty 'vat' became non-finite ...

    Args:
        train_function: What `make_train_function` built.
        names_of: Returns the flag names (fixed when the step was traced).
        step_of: Returns the optimizer's step counter.

    Returns:
        The wrapped function.
    """

    def run(iterator):
        logs = dict(train_function(iterator))
        flags = logs.pop(LOG_KEY, None)
        if flags is not None:
            flags = np.asarray(flags).reshape(-1)
            if flags.any():
                raise NonFiniteError(_message(names_of()[int(np.argmax(flags > 0))], step_of()))
        return logs

    return run


def _message(name, step):
    where = {
        "inputs": "The inputs contain NaN or infinity",
        "perturbed inputs": "The perturbation produced NaN or infinity",
        "loss": "The total objective became non-finite",
        "clean_loss": "The clean loss L(x) became non-finite",
        "perturbed_loss": "The perturbed loss L(x̃) became non-finite",
    }.get(name, f"The penalty {name!r} became non-finite")
    hint = (
        "Clean the data (e.g. `np.nan_to_num`) or drop the bad rows."
        if name == "inputs"
        else "Check the perturbation's parameters for this data's range."
        if name == "perturbed inputs"
        else "Lower the learning rate or this term's weight, or check its "
        "perturbation (ε, σ) for this data's scale."
    )
    return (
        f"{where} at training step {step}; fit() stopped and this step's "
        f"gradients were not applied. {hint} (Turn the check off with "
        "`InvariantModel(..., check_finite=False)`.)"
    )
