"""Presets for spatial invariance: the spatial paper's columns, Tangent BP.

`SpatialInvariance(model, mode=...)` gives one column of the table of Yang
et al. (std, D.A., D.A. + KL, A.T., A.T. + KL, A.T. + L2);
`TangentBP` / `FastTangentBP` the Tangent BP rows of the Invariant BP
paper. Each returns an `InvariantModel`.
"""

from keras_invariance import spatial as spatial_lib
from keras_invariance.model import InvariantModel
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.penalties.tangent_prop import FastTangentProp
from keras_invariance.penalties.tangent_prop import TangentProp
from keras_invariance.perturbations.spatial import RandomSpatialTransform
from keras_invariance.perturbations.spatial import SpatialPGD
from keras_invariance.perturbations.spatial import WorstOfKSpatial
from keras_invariance.perturbations.spatial import box_from_layers

#: mode → (how x̃ is chosen, divergence h or None). α = β = 1 except "std".
SPATIAL_MODES = {
    "std": (None, None),
    "da": ("random", None),
    "da_kl": ("random", "kl"),
    "at": ("adversarial", None),
    "at_kl": ("adversarial", "kl"),
    "at_l2": ("adversarial", "l2"),
}
ATTACKS = ("worst_of_k", "spgd")


def SpatialInvariance(
    *args,
    mode="da_kl",
    lam=1.0,
    translation=3.0,
    rotation=30.0,
    scale=None,
    layers=None,
    attack="worst_of_k",
    k=10,
    steps=5,
    step_size=None,
    random_start=True,
    rank_by=None,
    fill_mode="constant",
    fill_value=0.0,
    from_logits=True,
    seed=None,
    penalties=None,
    **kwargs,
):
    """Regularized spatial augmentation: L(x) + L(x̃) + λ·h(f(x), f(x̃)).

    One call per column of Yang et al.'s table:

    | mode | x̃ | objective |
    |---|---|---|
    | `"std"` | none | L(x) |
    | `"da"` | uniform in the box (D.A.) | L(x) + L(x̃) |
    | `"da_kl"` | uniform (D.A. + KL) | L(x) + L(x̃) + λ·KL(f(x) ‖ f(x̃)) |
    | `"at"` | worst-of-k by loss, or S-PGD on the loss (A.T.) | L(x) + L(x̃) |
    | `"at_kl"` | worst-of-k / S-PGD on KL (A.T. + KL) | … + λ·KL |
    | `"at_l2"` | worst-of-k / S-PGD on L2 (A.T. + L2) | … + λ·‖z − z̃‖² |

    α = β = 1 (the paper's update sums ∇ℓ(x) and ∇ℓ(x̃) on the paired batch).
    KL is on softmax outputs, L2 on logits (`OutputDivergence`, metric
    `output_divergence`). For the regularized A.T. columns x̃ maximizes the
    divergence h, as in the paper's theory (x̃ = argmax h(f(x), f(x'))); pass
    `rank_by="loss"` to pick x̃ by the loss instead. The box is ±3 px and
    ±30° by default, or the range of Keras preprocessing `layers`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> from keras_invariance.spatial_methods import SpatialInvariance
    >>> base = keras.Sequential([keras.Input((16, 16, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> model = SpatialInvariance(base, mode="at_kl", k=10)
    >>> type(model.perturbation).__name__, model.perturbation.rank_by
    ('WorstOfKSpatial', 'kl')
    >>> [p.name for p in model.penalties]
    ['output_divergence']

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        mode: One of `SPATIAL_MODES` (default `"da_kl"`).
        lam: λ ≥ 0, the weight of h (a non-trainable variable).
        translation: Box limit of |dx|, |dy| in pixels (number or pair).
        rotation: Box limit of |angle| in degrees.
        scale: Optional `(low, high)` magnification range.
        layers: Optional Keras `RandomTranslation` / `RandomRotation` /
            `RandomZoom` layers defining the box instead (their ranges).
        attack: For A.T.: `"worst_of_k"` (default, the paper's default) or
            `"spgd"`.
        k: Candidates of worst-of-k.
        steps: S-PGD steps.
        step_size: S-PGD step per parameter (see `SpatialPGD`).
        random_start: Whether S-PGD starts at a random point of the box.
        rank_by: Override the A.T. search objective (`"loss"`, `"kl"`,
            `"l2"`).
        fill_mode: Warp boundary mode (`"constant"`, `"reflect"`, …).
        fill_value: Fill for `"constant"`.
        from_logits: Whether the model outputs logits.
        seed: Optional int seed of the perturbation.
        penalties: Further penalties to combine.
        **kwargs: Other `InvariantModel` arguments (`batching`, `name`, …).

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown mode or attack.

    Reference:
        invariance_inducing_regularization_spatial.txt, the update rule and
        the table (std, D.A., D.A. + KL, A.T., A.T. + KL, A.T. + L2).
    """
    if mode not in SPATIAL_MODES:
        raise ValueError(
            f"Unknown spatial mode {mode!r}; use one of {sorted(SPATIAL_MODES)}."
        )
    if attack not in ATTACKS:
        raise ValueError(f"`attack` must be one of {ATTACKS}; received {attack!r}.")
    choice, divergence = SPATIAL_MODES[mode]
    if layers is not None:
        box = box_from_layers(layers)
    else:
        box = {"translation": translation, "rotation": rotation, "scale": scale}
    box.update(fill_mode=fill_mode, fill_value=fill_value, seed=seed)
    perturbation = None
    if choice == "random":
        perturbation = RandomSpatialTransform(**box)
    elif choice == "adversarial":
        objective = rank_by or divergence or "loss"
        if attack == "worst_of_k":
            perturbation = WorstOfKSpatial(
                k=k, rank_by=objective, from_logits=from_logits, **box
            )
        else:
            perturbation = SpatialPGD(
                steps=steps,
                step_size=step_size,
                random_start=random_start,
                objective=objective,
                from_logits=from_logits,
                **box,
            )
    all_penalties = []
    if divergence is not None:
        all_penalties.append(
            OutputDivergence(
                distance="kl" if divergence == "kl" else "squared_l2",
                weight=lam,
                from_logits=from_logits,
            )
        )
    all_penalties += list(penalties or [])
    return InvariantModel(
        *args,
        alpha=1.0,
        beta=0.0 if perturbation is None else 1.0,
        perturbation=perturbation,
        penalties=all_penalties,
        **kwargs,
    )


def TangentBP(
    *args,
    transforms=spatial_lib.IBP_TANGENTS,
    sigma=0.9,
    weight=0.1,
    order=2,
    softmax=False,
    num_projections=None,
    penalties=None,
    **kwargs,
):
    """Tangent BP (Tangent Prop): L(x) + β·Σ_t mean_b ‖J_f(x)·t‖².

    Wraps a model with a `TangentProp` penalty (metric `tangent_prop`) on
    the tangents of `transforms`: names, or the Keras preprocessing layers
    the user would otherwise augment with.

    Example:

    >>> import keras
    >>> from keras_invariance.spatial_methods import TangentBP
    >>> base = keras.Sequential([keras.Input((8, 8, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> model = TangentBP(base, transforms=[keras.layers.RandomRotation(0.05)])
    >>> model.penalties[0].name
    'tangent_prop'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        transforms: Tangent names and/or Keras preprocessing layers;
            default the paper's five (x/y shift, x/y scale, rotation).
        sigma: Gaussian smoothing of the tangents (0.9).
        weight: β, the penalty weight.
        order: 2 (‖·‖²) or 1 (the paper's L1).
        softmax: Differentiate softmax outputs instead of logits.
        num_projections: Optional random tangent combinations (cheaper,
            unbiased for order 2), see `TangentProp`.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` with α = 1.

    Reference:
        invariant_backpropagation.txt, §2.1, eq. 3, §5.
    """
    penalty = TangentProp(
        transforms=transforms,
        sigma=sigma,
        weight=weight,
        order=order,
        softmax=softmax,
        num_projections=num_projections,
    )
    return InvariantModel(
        *args, alpha=1.0, penalties=[penalty] + list(penalties or []), **kwargs
    )


def FastTangentBP(
    *args,
    transforms=spatial_lib.IBP_TANGENTS,
    sigma=0.9,
    weight=0.1,
    order=2,
    penalties=None,
    **kwargs,
):
    """Fast Tangent BP: L(x) + β·Σ_t mean_b (∇x ℓ_b · t_bt)².

    Wraps a model with a `FastTangentProp` penalty (metric
    `fast_tangent_prop`), computed from the clean pass's input gradient.

    Example:

    >>> import keras
    >>> from keras_invariance.spatial_methods import FastTangentBP
    >>> base = keras.Sequential([keras.Input((8, 8, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> FastTangentBP(base).penalties[0].name
    'fast_tangent_prop'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        transforms: Tangent names and/or Keras preprocessing layers.
        sigma: Gaussian smoothing (0.9).
        weight: β.
        order: 2 or 1.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel` with α = 1.

    Reference:
        invariant_backpropagation.txt, §4.1, eq. 10.
    """
    penalty = FastTangentProp(
        transforms=transforms, sigma=sigma, weight=weight, order=order
    )
    return InvariantModel(
        *args, alpha=1.0, penalties=[penalty] + list(penalties or []), **kwargs
    )
