"""One training step in two halves: run the passes, then assemble the objective.

`run_passes` fills a `StepContext` in a fixed order:

1. x̃ is drawn *before* the clean pass when the perturbation does not read
   it (noise, a separate search), with the weight-update tape paused: an
   adversarial search must leave no gradient path into the update;
2. the clean pass runs (with x̃ as one concatenated pass under `"concat"`
   batching), then the clean loss, under the input tape when a term needs
   ∇x; the tape is entered and left through `contextlib.ExitStack`, so an
   error inside the pass leaves no tape recording;
3. x̃ is drawn *after* the clean pass when the perturbation reads it
   (`uses_clean_pass`, e.g. fast adversarial training's FGSM on ∇x L);
4. the perturbed pass runs, unless the concatenated pass already did.

x̃ is drawn by `draw_perturbation` only, at step 1 or step 3 (`StepPlan.draw`),
and never when the caller gave it (`compute_objective(x_perturbed=...)`).

`assemble_objective` then sums, in this order (kept so that numbers match
runs of earlier versions bit for bit):

    Σ model.losses + α·L(x) + β·L(x̃) + Σ_j λ_j·R_j / replicas.
"""

import contextlib

from keras import ops
from keras import tree

from keras_invariance.engine import clean_pass
from keras_invariance.engine import context as context_lib
from keras_invariance.engine import objective_checks
from keras_invariance.engine import output_losses
from keras_invariance.engine.distribution import scale_for_distribution
from keras_invariance.engine.distribution import unscale_for_distribution
from keras_invariance.graph import batchnorm
from keras_invariance.graph import structures
from keras_invariance.graph.forward_result import ForwardResult
from keras_invariance.utils import keras_compat
from keras_invariance.utils import validation

#: `StepPlan.draw`: x̃ is drawn before the clean pass.
BEFORE_CLEAN_PASS = "before_clean_pass"
#: `StepPlan.draw`: x̃ is drawn from the clean pass, after it.
AFTER_CLEAN_PASS = "after_clean_pass"


class StepPlan:
    """What a step runs, decided from the model and the context before any pass.

    Attributes:
        supervised: Whether `compile()` got a loss (the clean loss is computed).
        perturbed: Whether the model has a perturbation.
        draw: When x̃ is drawn: `BEFORE_CLEAN_PASS`, `AFTER_CLEAN_PASS`, or
            `None` (no perturbation, or x̃ given by the caller).
        concat: Whether the clean and perturbed inputs run as one pass.
        strict: Whether an input without a gradient path is an error.
        input_tape: Whether the clean pass runs under an input tape.
    """

    def __init__(self, model, ctx):
        self.supervised = keras_compat.compile_loss(model) is not None
        self.perturbed = model.perturbation is not None
        self.draw = None
        if self.perturbed and ctx.x_perturbed is None:
            reads_clean = model.perturbation.uses_clean_pass
            self.draw = AFTER_CLEAN_PASS if reads_clean else BEFORE_CLEAN_PASS
        from_clean = self.draw == AFTER_CLEAN_PASS
        self.concat = self.perturbed and model._passes == "concat" and not from_clean
        self.strict = bool(
            model.unconnected_inputs == "raise" and structures.float_inputs(ctx.x)
        )
        self.input_tape = from_clean or self.strict or any(
            p.requires_input_gradient for p in model.penalties
        )


def draw_perturbation(model, ctx):
    """x̃ for K copies of the batch, shape-checked, without gradient.

    The only place the engine draws x̃ (`run_passes` calls it once a step).

    Args:
        model: The `InvariantModel`.
        ctx: The step's `StepContext`.

    Returns:
        The K·B perturbed inputs, structured like `ctx.x`.
    """
    expected = context_lib.tile_batch(ctx.x, model.num_samples)
    x_perturbed = model.perturbation.perturb(expected, ctx)
    validation.check_perturbed(model.perturbation.name, x_perturbed, expected)
    return structures.stop_gradient(x_perturbed)


def run_passes(model, ctx):
    """Fills `ctx` with x̃, the clean and perturbed passes and the clean loss.

    Args:
        model: The `InvariantModel`.
        ctx: A `StepContext` from `model.step_context` (`x_perturbed` may
            be set already; `weight_tape` is set inside `train_step`).

    Returns:
        The list of `model.losses` terms (regularization), aggregated.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> model = ki.InvariantModel(base, beta=0.5, perturbation=ki.perturbations.GaussianNoise(0.1))
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> ctx = model.step_context(np.ones((4, 2), "float32"), np.zeros((4,), "int32"))
    >>> StepPlan(model, ctx).draw
    'before_clean_pass'
    >>> regularization = run_passes(model, ctx)
    >>> tuple(ctx.x_perturbed.shape), tuple(ctx.perturbed.outputs.shape)
    ((4, 2), (4, 3))
    >>> total, terms = assemble_objective(model, ctx, regularization)
    >>> sorted(terms)
    ['clean_loss', 'perturbed_loss']
    """
    plan = StepPlan(model, ctx)
    objective_checks.check_step(
        plan.supervised, ctx.y is not None, model._supervised_terms, model.penalties
    )
    if plan.draw == BEFORE_CLEAN_PASS:
        _draw(model, ctx, pause=ctx.weight_tape)
    regularization = _clean_pass(model, ctx, plan)
    if plan.draw == AFTER_CLEAN_PASS:
        _draw(model, ctx, pause=None)
    if plan.perturbed and ctx.perturbed is None:
        _perturbed_pass(model, ctx)
    return regularization


def _draw(model, ctx, pause):
    with contextlib.ExitStack() as stack:
        if pause is not None:
            stack.enter_context(pause.stop_recording())
        ctx.x_perturbed = draw_perturbation(model, ctx)


def _clean_pass(model, ctx, plan):
    """The clean pass (joint with x̃ under `"concat"`) and the clean loss."""
    paused = clean_pass.pauses(model, ctx, plan.draw == AFTER_CLEAN_PASS)
    with contextlib.ExitStack() as stack:
        if plan.input_tape:
            stack.enter_context(ctx.input_tape_scope())
        if paused:
            stack.enter_context(ctx.weight_tape.stop_recording())
        if plan.concat:
            _joint_pass(model, ctx)
        else:
            ctx.clean = model._forward(ctx.x, training=True, taps=model._tap_names)
        if plan.supervised:
            ctx.clean_loss = keras_compat.compile_loss(model)(
                ctx.y, ctx.clean.outputs, ctx.sample_weight
            )
    if paused:
        clean_pass.check_call_losses(model)
    regularization = model._regularization_losses()
    if plan.strict:
        structures.check_connected(
            ctx.input_tape, ctx.clean.outputs, ctx.gradient_source,
            [f.name for f in structures.float_inputs(ctx.x, model._input_names())],
        )
    return regularization


def _joint_pass(model, ctx):
    """IRL batching: clean and perturbed rows as one pass, then split."""
    joint = tree.map_structure(
        lambda a, b: ops.concatenate([a, b], axis=0), ctx.x, ctx.x_perturbed
    )
    result = model._forward(joint, training=True, taps=model._tap_names)
    (c_out, c_taps), (p_out, p_taps) = context_lib.split_batch(
        (result.outputs, result.taps), ctx.batch_size
    )
    ctx.clean = ForwardResult(c_out, c_taps)
    ctx.perturbed = ForwardResult(p_out, p_taps)


def _perturbed_pass(model, ctx):
    """The separate pass over x̃ (moving statistics kept to the clean pass
    under `"clean_statistics"`)."""
    clean_statistics = model._passes == "clean_statistics"
    if clean_statistics:
        statistics = batchnorm.moving_statistics(model)
        saved = batchnorm.snapshot(statistics)
    ctx.perturbed = model._forward(ctx.x_perturbed, training=True, taps=model._tap_names)
    if clean_statistics:
        batchnorm.restore(statistics, saved)


def assemble_objective(model, ctx, regularization):
    """Sums the objective from a context `run_passes` filled.

    Args:
        model: The `InvariantModel`.
        ctx: The filled `StepContext`.
        regularization: What `run_passes` returned.

    Returns:
        `(total, terms)`: the objective, scaled for distribution as Keras
        scales its loss, and `{metric name: unscaled value}`.
    """
    terms = {}
    total = ops.sum(regularization) if regularization else 0.0
    if ctx.clean_loss is not None:
        total = total + model.alpha * ctx.clean_loss
        terms["clean_loss"] = unscale_for_distribution(ctx.clean_loss)
        if model.perturbation is not None:
            noise_loss = ctx.compiled_loss(ctx.perturbed.outputs)
            total = total + model.beta * noise_loss
            terms["perturbed_loss"] = unscale_for_distribution(noise_loss)
            for name, value in model._untracked.output_losses.items():
                terms[output_losses.PERTURBED_PREFIX + name] = value
    for penalty in model.penalties:
        value = ops.cast(penalty.compute(ctx), "float32")
        terms[penalty.name] = value
        total = total + penalty.weight * scale_for_distribution(value)
    return ops.cast(total, "float32"), terms
