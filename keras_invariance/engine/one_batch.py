"""One batch outside `fit()`: the training objective, and the perturbed batch.

`compute_objective` runs `train_step`'s computation on a batch without
training; `perturb_on_batch` returns the perturbed inputs x̃ the model would
train on at this step (Neural Structured Learning's
`AdversarialRegularization.perturb_on_batch`), for any configuration: the
model's perturbation (noise, FGSM/PGD, spatial searches, per-input
mappings), or a penalty that perturbs its inputs (`VAT`: x + ε·d̂;
`NoiseRegularization`: x + Δx; `AdversarialLoss`: its search), or a
perturbation given for the call (e.g. the FGSM neighbour of a model trained
with a derivative penalty).

Random draws are keyed to the optimizer's step like the training step's
(`keras_invariance.ops.random_ops`), so at a given step `perturb_on_batch`
returns what `fit()` draws, and calling it changes no seed, weight or
BatchNorm statistic: any clean pass it needs runs in inference mode, and
searches use their own `training` flag (default `False`).
"""

import keras
from keras import ops
from keras import tree
import tensorflow as tf

from keras_invariance.engine import context as context_lib
from keras_invariance.graph import structures
from keras_invariance.ops import numerics
from keras_invariance.penalties.adversarial_loss import AdversarialLoss
from keras_invariance.penalties.noise_regularization import NoiseRegularization
from keras_invariance.penalties.vat import VAT
from keras_invariance.perturbations import resolve as perturbation_lib
from keras_invariance.utils import keras_compat
from keras_invariance.utils import validation

#: What `perturb_on_batch(term=...)` calls the model's own perturbation.
PERTURBATION = "perturbation"
_PERTURBING = (VAT, NoiseRegularization, AdversarialLoss)


def _tensors(x, y, sample_weight):
    return tree.map_structure(
        lambda t: None if t is None else ops.convert_to_tensor(t),
        (x, y, sample_weight),
        none_is_leaf=True,
    )


def compute_objective(model, x, y=None, sample_weight=None, x_perturbed=None):
    """`InvariantModel.compute_objective`: the objective on one batch.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1))
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> total, terms = compute_objective(
    ...     model, np.ones((4, 2), "float32"), np.zeros((4,), "int32"))
    >>> sorted(terms)
    ['clean_loss', 'irl_distance', 'perturbed_loss']

    Args:
        model: An `InvariantModel`.
        x: An input batch.
        y: Its labels (needed when compiled with a loss).
        sample_weight: Optional sample weights.
        x_perturbed: Optional K·B perturbed inputs; drawn when omitted.

    Returns:
        `(total, terms)`.
    """
    x, y, sample_weight = _tensors(x, y, sample_weight)
    ctx = model.step_context(x, y, sample_weight)
    if model.perturbation is not None and x_perturbed is not None:
        ctx.x_perturbed = tree.map_structure(ops.convert_to_tensor, x_perturbed)
    with model._keyed_draws(ctx.x):
        # x̃ is drawn by the step itself (keras_invariance.engine.step).
        return model._objective(ctx)


def _choose(model, term, perturbation):
    """The perturbation or penalty whose x̃ is asked for."""
    if perturbation is not None:
        return perturbation_lib.get(perturbation)
    perturbing = [p for p in model.penalties if isinstance(p, _PERTURBING)]
    if term is None:
        if model.perturbation is not None:
            return model.perturbation
        if len(perturbing) == 1:
            return perturbing[0]
        if perturbing:
            raise ValueError(
                f"The model has several terms that perturb its inputs "
                f"({[p.name for p in perturbing]}): pass `term=` one of them."
            )
        raise ValueError(
            "This model draws no perturbed inputs: its terms "
            f"({[p.name for p in model.penalties]}) are derivative penalties "
            "at x (the small-perturbation limits of noise and adversarial "
            "training). Pass the perturbation to apply, e.g. "
            "`perturb_on_batch(x, y, perturbation=keras_invariance.perturbations.FGSM(0.1))`."
        )
    if term == PERTURBATION:
        if model.perturbation is None:
            raise ValueError("The model has no perturbation; pass `term=` a penalty name.")
        return model.perturbation
    for penalty in model.penalties:
        if penalty.name == term:
            if not isinstance(penalty, _PERTURBING):
                raise ValueError(
                    f"Penalty {term!r} ({type(penalty).__name__}) perturbs no "
                    "inputs; the ones that do are "
                    f"{[p.name for p in perturbing]}."
                )
            return penalty
    names = ([PERTURBATION] if model.perturbation is not None else []) + [
        p.name for p in perturbing
    ]
    raise ValueError(f"Unknown term {term!r}; choose one of {names}.")


def _with_clean_pass(model, ctx, needs_gradient):
    """Fills `ctx.clean` (and the input tape, the clean loss) in inference mode."""
    if needs_gradient:
        ctx.input_tape = tf.GradientTape(persistent=True, watch_accessed_variables=False)
        with ctx.input_tape:
            ctx.input_tape.watch(ctx.gradient_source)
            ctx.clean = model._forward(ctx.x, training=False)
            if keras_compat.compile_loss(model) is not None and ctx.y is not None:
                ctx.clean_loss = model._supervised_loss(
                    ctx.y, ctx.clean.outputs, ctx.sample_weight
                )
    else:
        ctx.clean = model._forward(ctx.x, training=False)


def _from_penalty(model, penalty, ctx):
    if getattr(penalty, "embedding_layer", None) is not None:
        raise ValueError(
            f"{penalty.name!r} perturbs the output of the embedding layer "
            f"{penalty.embedding_layer!r}, not the inputs: there is no "
            "perturbed input batch to return."
        )
    if isinstance(penalty, AdversarialLoss):
        return penalty.perturbation.search(ctx.x, ctx)
    validation.check_float(ctx.gradient_source, penalty.name, validation.EMBEDDING_HINT)
    x = ctx.gradient_source
    if isinstance(penalty, VAT):
        _with_clean_pass(model, ctx, needs_gradient=False)
        delta = numerics.scale_rows(penalty.adversarial_direction(ctx), penalty.epsilon)
    elif penalty.adversarial:
        raise ValueError(
            f"{penalty.name!r} searches its Δx by power iteration on the tapped "
            "layers inside its own term; pass `perturbation=` to preview a "
            "search instead."
        )
    else:
        delta = numerics.scale_rows(penalty._normal_like(x), penalty.stddev)
    moved = numerics.add_rows(x, delta)
    return ctx.with_gradient_source(tree.map_structure(ops.stop_gradient, moved))


def perturb_on_batch(model, x, y=None, sample_weight=None, term=None,
                     perturbation=None, targets=None):
    """The perturbed batch x̃ that `model` trains on, for one batch.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> model = ki.AdversarialTraining(base, epsilon=0.1)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> x = np.ones((4, 2), "float32")
    >>> x_adv = perturb_on_batch(model, x, np.zeros(4, "int32"))
    >>> round(float(np.abs(x_adv - x).max()), 6)
    0.1

    Args:
        model: An `InvariantModel`.
        x: A batch of inputs (a tensor, list or dict).
        y: Its labels (needed by searches of the compiled loss).
        sample_weight: Optional sample weights.
        term: Which term's x̃: `"perturbation"` (the model's perturbation,
            the default when it has one) or a penalty's name (`"vat"`,
            `"noise_regularization"`, `"adversarial_loss"`; the default
            when it is the only one).
        perturbation: A perturbation to apply to this model instead (any
            `perturbation=` value, e.g. `keras_invariance.perturbations.PGD(0.1)`).
        targets: Class indices a targeted search moves each row towards
            (overrides the search's `target` rule for this call).

    Returns:
        x̃ as NumPy arrays, structured like `x` (K·B rows for the model's
        perturbation with `num_samples` = K).

    Raises:
        ValueError: When the model perturbs no inputs (derivative penalties
            only: pass `perturbation=`), for an unknown `term`, or when a
            search of the compiled loss gets no labels.
    """
    x, y, sample_weight = _tensors(x, y, sample_weight)
    validation.check_dense(x, "perturb_on_batch", allow_sparse=True)
    chosen = _choose(model, term, perturbation)
    if perturbation is not None:
        chosen.bind(model._untracked.tap_reader.graph_model)
    ctx = model.step_context(x, y, sample_weight)
    if targets is not None:
        ctx.targets = ops.convert_to_tensor(targets)
    with model._keyed_draws(ctx.x):
        if not isinstance(chosen, _PERTURBING):
            if chosen.requires_float_inputs:
                validation.check_float(
                    x, type(chosen).__name__, chosen.float_input_hint
                )
            if chosen.is_adversarial and getattr(chosen, "needs_labels", False):
                if keras_compat.compile_loss(model) is None and ctx.targets is None:
                    raise ValueError(
                        f"{type(chosen).__name__} maximizes the compiled loss: "
                        "`compile(loss=...)` the model first."
                    )
                if y is None and ctx.targets is None:
                    raise ValueError(
                        f"{type(chosen).__name__} maximizes the compiled loss: "
                        "pass the batch's labels, `perturb_on_batch(x, y)`."
                    )
            if chosen.uses_clean_pass:
                _with_clean_pass(model, ctx, needs_gradient=True)
            copies = ctx.num_samples if chosen is model.perturbation else 1
            result = chosen.perturb(context_lib.tile_batch(ctx.x, copies), ctx)
        else:
            result = _from_penalty(model, chosen, ctx)
    # Sparse inputs come back as they went in (unperturbed).
    return tree.map_structure(
        lambda t: t if structures.is_sparse(t) else keras.ops.convert_to_numpy(t),
        result,
    )
