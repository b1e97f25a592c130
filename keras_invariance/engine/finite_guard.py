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

from keras import ops
from keras import tree
import numpy as np
import tensorflow as tf

from keras_invariance.utils import validation

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


#: Flags one step can carry: the inputs, the perturbed inputs, each term,
#: the loss (a fixed size, so the store is built before the step is traced).
MAX_FLAGS = 64


def flag_store(strategy):
    """The variable holding every flag raised since the host last read it.

    Keras runs `steps_per_execution` steps in one call and returns only the
    last step's logs, so a flag raised by an earlier step of the call has to
    outlive its step. The flags are made global before they are stored
    (`accumulate`), so every replica holds the same value.
    """
    with strategy.scope():
        return tf.Variable(
            tf.zeros([MAX_FLAGS]), trainable=False, name="nonfinite_flags",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )


def accumulate(store, flags):
    """OR-s this step's flags, from every replica, into `store`.

    Returns the flags raised so far in this call (a float32 vector as long as
    `flags`): the step's gradients are held when any is up, so the steps of
    an execution after a non-finite one leave the weights as they were.

    Example:

    >>> store = flag_store(tf.distribute.get_strategy())
    >>> _ = accumulate(store, tf.constant([0.0, 1.0]))
    >>> accumulate(store, tf.constant([0.0, 0.0])).numpy().tolist()
    [0.0, 1.0]
    """
    count = flags.shape[0]
    if count > MAX_FLAGS:
        raise ValueError(
            f"The non-finite check follows at most {MAX_FLAGS} quantities per "
            f"step and this model has {count} (inputs, terms and loss); turn "
            "it off with `InvariantModel(..., check_finite=False)`."
        )
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        # A NaN on one replica stops every replica's update, not just its own.
        flags = context.all_reduce(tf.distribute.ReduceOp.SUM, flags)
    raised = tf.maximum(store[:count], tf.cast(flags > 0, tf.float32))
    store.assign(tf.pad(raised, [[0, MAX_FLAGS - count]]))
    return raised


def hold_gradients(gradients, flags):
    """Zero gradients when any flag is up, so the weights are not poisoned."""
    bad = tf.reduce_any(flags > 0)
    return [
        None if g is None else tf.where(bad, tf.zeros_like(g), g)
        for g in gradients
    ]


def guarded(train_function, names_of, step_of, reset=None, span_of=lambda: 1):
    """Wraps Keras' train function: raises `NonFiniteError` on a flagged step.

    Example:

    >>> fn = guarded(lambda it: {"loss": 1.0, LOG_KEY: np.array([0.0, 1.0])},
    ...              lambda: ["inputs", "vat"], lambda: 3)
    >>> fn(None)
    Traceback (most recent call last):
    ...
    keras_invariance.engine.finite_guard.NonFiniteError: The penalty 'vat' became non-finite ...

    Args:
        train_function: What `make_train_function` built.
        names_of: Returns the flag names (fixed when the step was traced).
        step_of: Returns the optimizer's step counter.
        reset: Called before raising (clears the `flag_store`, so a caught
            error does not follow the next `fit()`).
        span_of: Returns the steps one call runs (`steps_per_execution`).

    Returns:
        The wrapped function.
    """

    def run(iterator):
        logs = dict(train_function(iterator))
        flags = logs.pop(LOG_KEY, None)
        if flags is not None:
            flags = np.asarray(flags).reshape(-1)
            if flags.any():
                if reset is not None:
                    reset()
                raise NonFiniteError(_message(
                    names_of()[int(np.argmax(flags > 0))], step_of(), span_of()))
        return logs

    return run


def _message(name, step, span=1):
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
    at = (
        f"at training step {step}; fit() stopped and this step's gradients were"
        if span == 1
        else f"in one of the {span} training steps up to step {step} "
        "(steps_per_execution); fit() stopped and from that step on no gradients were"
    )
    return (
        f"{where} {at} not applied. {hint} (Turn the check off with "
        "`InvariantModel(..., check_finite=False)`.)"
    )
