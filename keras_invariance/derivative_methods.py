"""Presets for the derivative and adversarial methods, one call each.

Each factory returns an `InvariantModel` with the paper's defaults; every
one takes `penalties=[...]` to combine further terms (IRL + VAT + Jacobian)
and passes other keyword arguments (`perturbation`, `batching`, `name`, …)
to `InvariantModel`.
"""

from keras_invariance.model import InvariantModel
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.penalties.derivatives import JacobianPenalty
from keras_invariance.penalties.derivatives import LossIBPPenalty
from keras_invariance.penalties.derivatives import NoiseRegularization
from keras_invariance.penalties.derivatives import PredictionIBPPenalty
from keras_invariance.penalties.vat import VATPenalty
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD

ADVERSARIAL_KINDS = ("fgsm", "fast", "pgd")


def _with(penalty, penalties):
    return [penalty] + list(penalties or [])


def NoiseRegularized(
    *args,
    stddev=0.1,
    weight=1.0,
    layers="logits",
    adversarial=False,
    power_iterations=1,
    xi=1e-6,
    alpha=1.0,
    penalties=None,
    **kwargs,
):
    """Noise regularization: L(x) + α·E‖f(x) − f(x + Δx)‖².

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.NoiseRegularized(base, stddev=0.1).penalties[0].name
    'noise_regularization'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        stddev: ε (noise std, or the adversarial radius).
        weight: The paper's α (the penalty weight).
        layers: Tapped layers (default the outputs).
        adversarial: Use the adversarial Δx (power iteration).
        power_iterations: For the adversarial Δx.
        xi: ξ, the power iteration's finite-difference radius.
        alpha: Weight of the clean loss (`InvariantModel`'s α).
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        noise_jacobian_vat_connections.txt, eq. 1.
    """
    penalty = NoiseRegularization(
        stddev=stddev,
        layers=layers,
        weight=weight,
        adversarial=adversarial,
        power_iterations=power_iterations,
        xi=xi,
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=_with(penalty, penalties), **kwargs
    )


def JacobianRegularized(
    *args,
    weight=0.01,
    layers="logits",
    num_projections=None,
    alpha=1.0,
    penalties=None,
    **kwargs,
):
    """Jacobian regularization: L(x) + λ·‖∂f/∂x‖²_F (exact or projected).

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.JacobianRegularized(base, num_projections=1).penalties[0].name
    'jacobian'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        weight: λ.
        layers: Tapped layers (default the outputs); per layer, IRL's Λ_R.
        num_projections: `None` (exact) or n random projections.
        alpha: Weight of the clean loss.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments (e.g. `embedding_layer`
            is a `JacobianPenalty` argument: build the penalty directly).

    Returns:
        An `InvariantModel`.

    Reference:
        noise_jacobian_vat_connections.txt, eq. 2.
    """
    penalty = JacobianPenalty(
        layers=layers, num_projections=num_projections, weight=weight
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=_with(penalty, penalties), **kwargs
    )


def VAT(
    *args,
    epsilon=1.0,
    xi=1e-6,
    power_iterations=1,
    weight=1.0,
    alpha=1.0,
    embedding_layer=None,
    penalties=None,
    **kwargs,
):
    """Virtual adversarial training: L(x) + α·KL(p(y|x) ‖ p(y|x + r_adv)).

    For semi-supervised training give unlabeled rows sample weight 0.

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.VAT(base, epsilon=2.0).penalties[0].name
    'vat'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        epsilon: ε.
        xi: ξ.
        power_iterations: Python int ≥ 1 (default 1).
        weight: The VAT weight.
        alpha: Weight of the supervised loss.
        embedding_layer: For token models.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        noise_jacobian_vat_connections.txt, §3.4 (Miyato et al.).
    """
    penalty = VATPenalty(
        epsilon=epsilon,
        xi=xi,
        power_iterations=power_iterations,
        weight=weight,
        embedding_layer=embedding_layer,
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=_with(penalty, penalties), **kwargs
    )


def LossIBP(
    *args, beta=0.03, order=1, embedding_layer=None, penalties=None, **kwargs
):
    """Loss IBP: L(x) + β·‖∇x L‖_r^r (eq. 7), r = 1 by default.

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.LossIBP(base, beta=0.03).penalties[0].name
    'loss_ibp'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        beta: β (the paper's best on MNIST is 0.03).
        order: r ∈ {1, 2}.
        embedding_layer: For token models.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` (α = 1; the penalty's weight is β).

    Reference:
        invariant_backpropagation.txt, eq. 6–8, Table 1.
    """
    penalty = LossIBPPenalty(weight=beta, order=order, embedding_layer=embedding_layer)
    return InvariantModel(
        *args, alpha=1.0, beta=0.0, penalties=_with(penalty, penalties), **kwargs
    )


def PredictionIBP(
    *args,
    beta=1.0,
    order=1,
    softmax=False,
    embedding_layer=None,
    penalties=None,
    **kwargs,
):
    """Prediction IBP: L(x) + β·‖∇x p · ∇x Lᵀ‖_r^r (eq. 9).

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.PredictionIBP(base).penalties[0].name
    'prediction_ibp'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        beta: β (the paper's best on MNIST is 1.0).
        order: r ∈ {1, 2}.
        softmax: Differentiate the softmax (the paper does not).
        embedding_layer: For token models.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        invariant_backpropagation.txt, eq. 9, Table 1.
    """
    penalty = PredictionIBPPenalty(
        weight=beta, order=order, softmax=softmax, embedding_layer=embedding_layer
    )
    return InvariantModel(
        *args, alpha=1.0, beta=0.0, penalties=_with(penalty, penalties), **kwargs
    )


def AdversarialTraining(
    *args,
    kind="fgsm",
    epsilon=0.1,
    alpha=None,
    beta=None,
    norm="inf",
    steps=10,
    step_size=None,
    random_start=True,
    objective="loss",
    value_range=None,
    training=False,
    reuse_clean_pass=None,
    **kwargs,
):
    """Adversarial training: α·L(x) + β·L(x*) with x* from a search.

    * `kind="fgsm"`: x* = x + ε·sign(∇x L) (eq. 4), α = β = ½ (eq. 5).
    * `kind="fast"`: fast AT (eq. 12): L(x*) only (α = 0, β = 1) with FGSM
      at ε/2 (the first-order equivalent of eq. 5 at ε).
    * `kind="pgd"`: Madry et al.: L(x*) only, PGD in the ℓ∞ or ℓ2 ball.

    `objective` may be a divergence (`"kl"`, `"squared_l2"`) to maximize h
    instead of the loss (modified A.T.).

    FGSM kinds reuse ∇x L of the clean training pass by default (as the
    paper does: no separate search pass; `FGSM(reuse_clean_pass=True)`),
    so the clean and adversarial batches run as two passes. Pass
    `reuse_clean_pass=False` for a separate search in inference mode
    (`training`) and one concatenated [x, x*] training pass.

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = dm.AdversarialTraining(base, kind="fast", epsilon=0.2)
    >>> round(float(model.perturbation.epsilon), 6)
    0.1

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        kind: `"fgsm"`, `"fast"` or `"pgd"`.
        epsilon: ε (of eq. 5 for `"fast"`, which searches at ε/2).
        alpha: Overrides α.
        beta: Overrides β.
        norm: PGD's norm, `"inf"` or 2.
        steps: PGD's steps.
        step_size: PGD's step size.
        random_start: PGD's random start.
        objective: `"loss"` or a divergence.
        value_range: Optional `(low, high)` clip of x*.
        training: `training` flag of the search passes.
        reuse_clean_pass: FGSM kinds: build x* from the clean pass's ∇x L
            (default `True` for `objective="loss"`).
        **kwargs: Other `InvariantModel` arguments (`penalties`, …).

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown `kind`.

    Reference:
        invariant_backpropagation.txt, eq. 4–5, 11–12, Table 1.
    """
    if kind not in ADVERSARIAL_KINDS:
        raise ValueError(
            f"Unknown adversarial training kind {kind!r}; use one of "
            f"{ADVERSARIAL_KINDS}."
        )
    common = dict(
        objective=objective, value_range=value_range, training=training
    )
    if reuse_clean_pass is None:
        reuse_clean_pass = objective == "loss"
    if kind == "fgsm":
        perturbation = FGSM(
            epsilon=epsilon, reuse_clean_pass=reuse_clean_pass, **common
        )
        default_alpha, default_beta = 0.5, 0.5
    elif kind == "fast":
        perturbation = FGSM(
            epsilon=epsilon / 2.0, reuse_clean_pass=reuse_clean_pass, **common
        )
        default_alpha, default_beta = 0.0, 1.0
    else:
        perturbation = PGD(
            epsilon=epsilon,
            norm=norm,
            steps=steps,
            step_size=step_size,
            random_start=random_start,
            **common,
        )
        default_alpha, default_beta = 0.0, 1.0
    return InvariantModel(
        *args,
        alpha=default_alpha if alpha is None else alpha,
        beta=default_beta if beta is None else beta,
        perturbation=perturbation,
        **kwargs,
    )


def RegularizedAdversarialTraining(
    *args,
    divergence="kl",
    weight=1.0,
    epsilon=0.1,
    kind="pgd",
    search="loss",
    alpha=1.0,
    beta=1.0,
    norm="inf",
    steps=10,
    step_size=None,
    random_start=True,
    value_range=None,
    penalties=None,
    **kwargs,
):
    """L(x) + L(x̃) + λ·h(f(x), f(x̃)): the spatial paper's A.T. + KL / + L2.

    x̃ maximizes the loss (`search="loss"`, A.T. + h) or h itself
    (`search="divergence"`, modified A.T.). With `beta=0` and
    `search="divergence"`, `divergence="kl"`, this is TRADES' objective.
    h is `OutputDivergence`: KL on softmax outputs (`"kl"`) or squared L2 on
    logits (`"l2"`), logged as `output_divergence`.

    Example:

    >>> import keras
    >>> from keras_invariance import derivative_methods as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = dm.RegularizedAdversarialTraining(base, divergence="l2")
    >>> model.penalties[0].name
    'output_divergence'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        divergence: h: `"kl"` or `"l2"` (squared L2 on logits).
        weight: λ.
        epsilon: ε.
        kind: `"pgd"` (default) or `"fgsm"` search.
        search: `"loss"` or `"divergence"`.
        alpha: Weight of L(x).
        beta: Weight of L(x̃).
        norm: PGD's norm.
        steps: PGD's steps.
        step_size: PGD's step size.
        random_start: PGD's random start.
        value_range: Optional clip of x̃.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown `divergence`, `kind` or `search`.

    Reference:
        invariance_inducing_regularization_spatial.txt ("Regularizing
        standard and adversarial augmentation", A.T. + KL, A.T. + L2).
    """
    names = {"kl": "kl", "l2": "squared_l2", "squared_l2": "squared_l2"}
    if divergence not in names:
        raise ValueError(
            f"`divergence` must be 'kl' or 'l2'; received {divergence!r}."
        )
    if search not in ("loss", "divergence"):
        raise ValueError(
            f"`search` must be 'loss' or 'divergence'; received {search!r}."
        )
    objective = "loss" if search == "loss" else names[divergence]
    if kind == "pgd":
        perturbation = PGD(
            epsilon=epsilon,
            norm=norm,
            steps=steps,
            step_size=step_size,
            random_start=random_start,
            objective=objective,
            value_range=value_range,
        )
    elif kind == "fgsm":
        perturbation = FGSM(
            epsilon=epsilon, objective=objective, value_range=value_range
        )
    else:
        raise ValueError(f"`kind` must be 'pgd' or 'fgsm'; received {kind!r}.")
    penalty = OutputDivergence(distance=names[divergence], weight=weight)
    return InvariantModel(
        *args,
        alpha=alpha,
        beta=beta,
        perturbation=perturbation,
        penalties=_with(penalty, penalties),
        **kwargs,
    )
