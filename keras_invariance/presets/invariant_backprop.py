"""Presets of the Invariant backpropagation paper: one call each.

Loss IBP, Prediction IBP, FGSM / fast / PGD adversarial training and
(fast) Tangent BP. Each returns an `InvariantModel`; every one takes
`penalties=[...]` to combine further terms and passes other keyword
arguments to `InvariantModel`.

Reference:
    Demyanov et al., "Invariant backpropagation: how to train a
    transformation-invariant neural network" (2015).
"""

from keras_invariance import spatial as spatial_lib
from keras_invariance.engine.model import InvariantModel
from keras_invariance.penalties import ibp
from keras_invariance.penalties.tangent_prop import FastTangentProp
from keras_invariance.penalties.tangent_prop import TangentProp
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from keras_invariance.presets.noise_jacobian_vat import with_penalty
from keras_invariance.utils import deprecation
from keras_invariance.utils import vocabulary

#: The kinds of adversarial training (`attack=`).
ADVERSARIAL_ATTACKS = ("fgsm", "fast", "pgd")
#: The paper's best weights on MNIST (Table 1), on its raw scale
#: (`scale="paper"`): Loss IBP β, Prediction IBP β, TBP β, fast TBP β.
PAPER_WEIGHTS = {
    "loss_ibp": 0.03,
    "prediction_ibp": 1.0,
    "tangent_bp": 0.01,
    "fast_tangent_bp": 0.0003,
}
#: Defaults on the normalized scale, chosen on the seven model families of
#: `recipes/default_weights.py` (README, "Weights and scales").
DEFAULT_WEIGHTS = {
    "loss_ibp": 0.05,
    "prediction_ibp": 1.0,
    "tangent_bp": 0.03,
    "fast_tangent_bp": 0.03,
}


def _weight(weight, key, scale):
    if weight is not None:
        return weight
    return (PAPER_WEIGHTS if scale == vocabulary.PAPER else DEFAULT_WEIGHTS)[key]


def LossIBP(
    *args,
    weight=None,
    order=1,
    embedding_layer=None,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Loss IBP: L(x) + β·‖∇x L‖_r^r (eq. 7), r = 1 by default.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> ki.LossIBP(base, weight=0.03).penalties[0].name
    'loss_ibp'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        weight: The paper's β, the penalty's weight. Default 0.03 on the
            normalized scale (the first-order loss increase when the inputs
            move by their own scale; `penalties.LossIBP`), the paper's best on
            MNIST (on raw pixels) with `scale="paper"`. `beta=` is its
            deprecated name.
        order: r ∈ {1, 2}.
        embedding_layer: For token models.
        penalties: Further penalties.
        scale: `"normalized"` (default) or `"paper"`: the paper's raw scale
            and its MNIST weight (Table 1). `paper_scale=True` is its
            deprecated spelling.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` (α = 1; the penalty's weight is the paper's β).

    Reference:
        Demyanov et al. (2015), eq. 6–8, Table 1.
    """
    weight = deprecation.renamed(kwargs, "beta", "weight", weight, "LossIBP")
    scale = vocabulary.scale_argument(kwargs, scale, "LossIBP", old="paper_scale")
    penalty = ibp.LossIBP(
        weight=_weight(weight, "loss_ibp", scale),
        order=order,
        embedding_layer=embedding_layer,
        scale=scale,
    )
    return InvariantModel(
        *args, alpha=1.0, beta=0.0, penalties=with_penalty(penalty, penalties), **kwargs
    )


def PredictionIBP(
    *args,
    weight=None,
    order=1,
    softmax=False,
    embedding_layer=None,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Prediction IBP: L(x) + β·‖∇x p · ∇x Lᵀ‖_r^r (eq. 9).

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> ki.PredictionIBP(base).penalties[0].name
    'prediction_ibp'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        weight: The paper's β, the penalty's weight. Default 0.1 on the
            normalized scale (`penalties.PredictionIBP`): measured, 1.0 costs
            a 1-D CNN 16 points of clean accuracy and 0.1 keeps every
            family within 2 points of plain training. With `scale="paper"`
            the paper's raw ‖J_p·g‖ and its MNIST best, 1.0 (which underfits
            8×8 digits: clean error 10.4% against 1.8%). `beta=` is its
            deprecated name.
        order: r ∈ {1, 2}.
        softmax: Differentiate the softmax (the paper does not).
        embedding_layer: For token models.
        penalties: Further penalties.
        scale: `"normalized"` (default) or `"paper"`: the paper's raw scale
            and its MNIST weight (Table 1). `paper_scale=True` is its
            deprecated spelling.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        Demyanov et al. (2015), eq. 9, Table 1.
    """
    weight = deprecation.renamed(kwargs, "beta", "weight", weight, "PredictionIBP")
    scale = vocabulary.scale_argument(kwargs, scale, "PredictionIBP", old="paper_scale")
    penalty = ibp.PredictionIBP(
        weight=_weight(weight, "prediction_ibp", scale),
        order=order,
        softmax=softmax,
        embedding_layer=embedding_layer,
        scale=scale,
    )
    return InvariantModel(
        *args, alpha=1.0, beta=0.0, penalties=with_penalty(penalty, penalties), **kwargs
    )


def AdversarialTraining(
    *args,
    attack=None,
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

    * `attack="fgsm"` (default): x* = x + ε·sign(∇x L) (eq. 4), α = β = ½
      (eq. 5).
    * `attack="fast"`: fast AT (eq. 12): L(x*) only (α = 0, β = 1) with FGSM
      at ε/2 (the first-order equivalent of eq. 5 at ε).
    * `attack="pgd"`: Madry et al.: L(x*) only, PGD in the ℓ∞ or ℓ2 ball.

    `objective` may be a divergence (`"kl"`, `"squared_l2"`) to maximize h
    instead of the loss (modified A.T.).

    FGSM kinds reuse ∇x L of the clean training pass by default (as the
    paper does: no separate search pass; `FGSM(reuse_clean_pass=True)`),
    so the clean and adversarial batches run as two passes. Pass
    `reuse_clean_pass=False` for a separate search in inference mode
    (`training`) and one concatenated [x, x*] training pass.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.AdversarialTraining(base, attack="fast", epsilon=0.2)
    >>> round(float(model.perturbation.epsilon), 6)
    0.1

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        attack: `"fgsm"` (default), `"fast"` or `"pgd"` (`kind=` is its
            deprecated name).
        epsilon: ε (of eq. 5 for `"fast"`, which searches at ε/2).
        alpha: Overrides α.
        beta: Overrides β.
        norm: The search's norm, `"inf"` (default), 2 or 1 (every attack).
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
        ValueError: For an unknown `attack`.

    Reference:
        Demyanov et al. (2015), eq. 4–5, 11–12, Table 1.
    """
    attack = deprecation.renamed(kwargs, "kind", "attack", attack, "AdversarialTraining")
    attack = "fgsm" if attack is None else attack
    if attack not in ADVERSARIAL_ATTACKS:
        raise ValueError(
            f"Unknown adversarial training attack {attack!r}; use one of "
            f"{ADVERSARIAL_ATTACKS}."
        )
    common = dict(
        objective=objective, value_range=value_range, training=training
    )
    if reuse_clean_pass is None:
        reuse_clean_pass = objective == "loss"
    if attack == "fgsm":
        perturbation = FGSM(
            epsilon=epsilon, reuse_clean_pass=reuse_clean_pass, norm=norm, **common
        )
        default_alpha, default_beta = 0.5, 0.5
    elif attack == "fast":
        perturbation = FGSM(
            epsilon=epsilon / 2.0, reuse_clean_pass=reuse_clean_pass, norm=norm,
            **common,
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


def TangentBP(
    *args,
    transforms=spatial_lib.IBP_TANGENTS,
    sigma=0.9,
    weight=None,
    order=2,
    softmax=False,
    num_projections=None,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    jvp_method="auto",
    **kwargs,
):
    """Tangent BP (Tangent Prop): L(x) + β·Σ_t mean_b ‖J_f(x)·t‖².

    Wraps a model with a `TangentProp` penalty (metric `tangent_prop`) on
    the tangents of `transforms`: names, or the Keras preprocessing layers
    the user would otherwise augment with.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((8, 8, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> model = ki.TangentBP(base, transforms=[keras.layers.RandomRotation(0.05)])
    >>> model.penalties[0].name
    'tangent_prop'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        transforms: Tangent names and/or Keras preprocessing layers;
            default the paper's five (x/y shift, x/y scale, rotation).
        sigma: Gaussian smoothing of the tangents (0.9).
        weight: β, the penalty weight; `DEFAULT_WEIGHTS["tangent_bp"]` on
            the normalized scale (R relative to the outputs' size), the
            paper's MNIST best 0.01 on its raw scale with `scale="paper"`.
        order: 2 (‖·‖²) or 1 (the paper's L1).
        softmax: Differentiate softmax outputs instead of logits.
        num_projections: Optional random tangent combinations (cheaper,
            unbiased for order 2), see `TangentProp`.
        penalties: Further penalties.
        scale: `"normalized"` (default) or `"paper"`: the paper's raw scale
            and its MNIST weight (Table 1). `paper_scale=True` is its
            deprecated spelling.
        jvp_method: How the jvps are computed, `"auto"` (default),
            `"double_vjp"` (through the engine's clean pass: the fast one,
            also on BatchNorm models without XLA) or `"forward"`; see
            `TangentProp`.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` with α = 1.

    Reference:
        Demyanov et al. (2015), §2.1, eq. 3, §5.
    """
    scale = vocabulary.scale_argument(kwargs, scale, "TangentBP", old="paper_scale")
    penalty = TangentProp(
        transforms=transforms,
        sigma=sigma,
        weight=_weight(weight, "tangent_bp", scale),
        order=order,
        softmax=softmax,
        num_projections=num_projections,
        scale=scale,
        jvp_method=jvp_method,
    )
    return InvariantModel(
        *args, alpha=1.0, penalties=with_penalty(penalty, penalties), **kwargs
    )


def FastTangentBP(
    *args,
    transforms=spatial_lib.IBP_TANGENTS,
    sigma=0.9,
    weight=None,
    order=2,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Fast Tangent BP: L(x) + β·Σ_t mean_b (∇x ℓ_b · t_bt)².

    Wraps a model with a `FastTangentProp` penalty (metric
    `fast_tangent_prop`), computed from the clean pass's input gradient.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((8, 8, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> ki.FastTangentBP(base).penalties[0].name
    'fast_tangent_prop'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        transforms: Tangent names and/or Keras preprocessing layers.
        sigma: Gaussian smoothing (0.9).
        weight: β; `DEFAULT_WEIGHTS["fast_tangent_bp"]` (R is in squared
            loss units), the paper's MNIST best 0.0003 with `scale="paper"`.
        order: 2 or 1.
        penalties: Further penalties.
        scale: `"normalized"` (default) or `"paper"`: the paper's raw scale
            and its MNIST weight (Table 1). `paper_scale=True` is its
            deprecated spelling.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` with α = 1.

    Reference:
        Demyanov et al. (2015), §4.1, eq. 10.
    """
    scale = vocabulary.scale_argument(kwargs, scale, "FastTangentBP", old="paper_scale")
    penalty = FastTangentProp(
        transforms=transforms,
        sigma=sigma,
        weight=_weight(weight, "fast_tangent_bp", scale),
        order=order,
    )
    return InvariantModel(
        *args, alpha=1.0, penalties=with_penalty(penalty, penalties), **kwargs
    )
