"""When the clean pass needs no weight gradient: fast AT's α = 0.

Fast adversarial training (α = 0, β = 1, FGSM reusing the clean pass's
∇x L) runs the clean pass only to draw x*. Recording it on the weight-update
tape makes `tape.gradient` backpropagate 0·L(x) through the whole network:
one full backward pass too many (measured: fast AT 1.26× its bare-tape
floor). The engine therefore runs that pass with the weight tape paused
when α is 0, the perturbation reads the clean pass, and no penalty reads
it. α is a variable a schedule may change between steps, so the train
function is traced for the value α has when it is built and traced again
(once) when α leaves 0: the result is always the gradient of the
objective as written.

Losses the model adds while it is called (activity regularizers, `add_loss`
in `call()`) belong to the objective (Σ model.losses, from the clean pass)
and need that pass on the tape. A model with an activity regularizer keeps
the clean pass recorded; any other call-time loss is found when the paused
pass is traced, which raises `CallLossesNeedTheTape` so that `follow_alpha`
traces the function again with the pass recorded. Run eagerly, the pass is
always recorded (nothing would undo a first eager step's side effects).
"""

import keras
import tensorflow as tf

from keras_invariance.utils import keras_compat


class CallLossesNeedTheTape(Exception):
    """Raised while tracing a paused clean pass that added call-time losses."""


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


def pauses(model, ctx, deferred):
    """Whether the clean pass runs with the weight tape paused (see the module).

    Args:
        model: The `InvariantModel`.
        ctx: The step's `StepContext` (`weight_tape` set by `train_step`).
        deferred: Whether the perturbation is drawn from the clean pass.

    Returns:
        A Python bool.
    """
    return bool(
        deferred
        and ctx.weight_tape is not None
        and not model.penalties
        and model._untracked.alpha_zero
        and not tf.executing_eagerly()
    )


def check_call_losses(model):
    """After a paused clean pass: raises if it added call-time losses."""
    if keras_compat.call_losses(model):
        raise CallLossesNeedTheTape()


def _has_activity_regularizer(model):
    return any(
        getattr(layer, "activity_regularizer", None) is not None
        for layer in keras_compat.flatten_layers(model)
    )


def follow_alpha(model, train_function):
    """Wraps `train_function` to re-trace when α leaves 0.

    Only a function traced with the clean pass off the weight tape (α = 0,
    a perturbation reading the clean pass, no penalty) needs the check; every
    other function is correct for any α and is returned unchanged (no
    per-step cost; α moving to 0 later just keeps the recorded pass).
    """
    perturbation = model.perturbation
    model._untracked.alpha_zero = bool(
        perturbation is not None
        and perturbation.uses_clean_pass
        and not model.penalties
        and alpha_is_zero(model)
        and not model._untracked.call_losses
        and not _has_activity_regularizer(model)
    )
    if not model._untracked.alpha_zero:
        # Recording the clean pass is correct for any α: no per-step check.
        return train_function

    def step(*args, **kwargs):
        if not alpha_is_zero(model):
            return model.make_train_function(force=True)(*args, **kwargs)
        try:
            return train_function(*args, **kwargs)
        except CallLossesNeedTheTape:
            # Raised while tracing, before any step ran: trace again with
            # the clean pass on the tape, for good.
            model._untracked.call_losses = True
            return model.make_train_function(force=True)(*args, **kwargs)

    return step
