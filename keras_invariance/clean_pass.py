"""When the clean pass needs no weight gradient: fast AT's α = 0.

Fast adversarial training (α = 0, β = 1, FGSM reusing the clean pass's
∇x L) runs the clean pass only to draw x*. Recording it on the weight-update
tape makes `tape.gradient` backpropagate 0·L(x) through the whole network:
one full backward pass too many (measured: fast AT 1.26× its bare-tape
floor). The engine therefore runs that pass with the weight tape paused
when α is 0, the perturbation reads the clean pass, and no penalty reads
it. α is a variable a schedule may change between steps, so the train
function is traced for the value α has when it is built and traced again
(once) whenever α moves to or from 0: the result is always the gradient of
the objective as written.
"""

import contextlib

import keras


def alpha_is_zero(model):
    """Whether `model.alpha` holds exactly 0 now (read eagerly).

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> alpha_is_zero(ki.AdversarialTraining(base, attack="fast"))
    True

    Args:
        model: An `InvariantModel`.

    Returns:
        A Python bool.
    """
    return float(keras.ops.convert_to_numpy(model.alpha)) == 0.0


def weight_free(model, ctx, deferred):
    """The context of the clean pass: the weight tape paused, or nothing.

    Args:
        model: The `InvariantModel`.
        ctx: The step's `StepContext` (`weight_tape` set by `train_step`).
        deferred: Whether the perturbation is drawn from the clean pass.

    Returns:
        A context manager.
    """
    if (
        deferred
        and ctx.weight_tape is not None
        and not model.penalties
        and model._untracked.alpha_zero
    ):
        return ctx.weight_tape.stop_recording()
    return contextlib.nullcontext()


def follow_alpha(model, train_function):
    """Wraps `train_function` to re-trace when α moves to or from 0.

    Only models whose perturbation reads the clean pass and that have no
    penalty are affected; for every other model this returns
    `train_function` unchanged (no per-step cost).
    """
    perturbation = model.perturbation
    if perturbation is None or not perturbation.uses_clean_pass or model.penalties:
        model._untracked.alpha_zero = False
        return train_function
    model._untracked.alpha_zero = alpha_is_zero(model)

    def step(*args, **kwargs):
        if alpha_is_zero(model) != model._untracked.alpha_zero:
            return model.make_train_function(force=True)(*args, **kwargs)
        return train_function(*args, **kwargs)

    return step
