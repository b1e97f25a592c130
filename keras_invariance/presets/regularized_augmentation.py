"""Presets of Yang et al.: standard or adversarial augmentation, regularized.

`SpatialInvariance(model, preset=...)` gives one column of the table of Yang
et al. (std, D.A., D.A. + KL, A.T., A.T. + KL, A.T. + L2) for small
translations and rotations; `RegularizedAdversarialTraining` the same
regularized update for ℓp adversaries (A.T. + KL / + L2, TRADES). Each
returns an `InvariantModel`.

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019): the update ∇ℓ(x) + ∇ℓ(x̃) + λ∇h(f(x), f(x̃)).
"""

from keras_invariance import spatial as spatial_lib
from keras_invariance.engine.model import InvariantModel
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from keras_invariance.perturbations.spatial import RandomSpatialTransform
from keras_invariance.perturbations.spatial import SpatialPGD
from keras_invariance.perturbations.spatial import WorstOfKSpatial
from keras_invariance.presets.noise_jacobian_vat import with_penalty
from keras_invariance.utils import deprecation

#: preset → (how x̃ is chosen, divergence h or None). α = β = 1 except
#: "std". (The name predates `preset=`, once `mode=`.)
SPATIAL_MODES = {
    "std": (None, None),
    "da": ("random", None),
    "da_kl": ("random", "kl"),
    "at": ("adversarial", None),
    "at_kl": ("adversarial", "kl"),
    "at_l2": ("adversarial", "l2"),
}
#: How the A.T. columns search the box (`attack=`).
SPATIAL_ATTACKS = ("worst_of_k", "spgd")
#: The divergence h of the regularized columns: name → distance name.
DISTANCES = {"kl": "kl", "l2": "squared_l2", "squared_l2": "squared_l2"}


def SpatialInvariance(
    *args,
    preset="da_kl",
    weight=None,
    translation=3.0,
    rotation=30.0,
    scale=None,
    layers=None,
    attack="worst_of_k",
    k=10,
    steps=5,
    step_size=None,
    random_start=True,
    objective=None,
    fill_mode="constant",
    fill_value=0.0,
    from_logits=None,
    seed=None,
    penalties=None,
    **kwargs,
):
    """Regularized spatial augmentation: L(x) + L(x̃) + λ·h(f(x), f(x̃)).

    One call per column of Yang et al.'s table:

    | preset | x̃ | objective |
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
    `objective="loss"` to pick x̃ by the loss instead. The box is ±3 px and
    ±30° by default, or the range of Keras preprocessing `layers`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((16, 16, 1)),
    ...                          keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> model = ki.SpatialInvariance(base, preset="at_kl", k=10)
    >>> type(model.perturbation).__name__, model.perturbation.objective
    ('WorstOfKSpatial', 'kl')
    >>> [p.name for p in model.penalties]
    ['output_divergence']

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        preset: One of `SPATIAL_MODES` (default `"da_kl"`), as `IRL`'s
            `preset=`. `mode=` is its deprecated name.
        weight: λ ≥ 0, the weight of h (a non-trainable variable; default
            1). `lam=` is its deprecated name.
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
        objective: Override what the A.T. search maximises (`"loss"`,
            `"kl"`, `"l2"`; `rank_by=` is its deprecated name).
        fill_mode: Warp boundary mode (`"constant"`, `"reflect"`, …).
        fill_value: Fill for `"constant"`.
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        seed: Optional int seed of the perturbation.
        penalties: Further penalties to combine.
        **kwargs: Other `InvariantModel` arguments (`batching`, `name`, …).

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown preset or attack.

    Reference:
        Yang et al. (2019), the update rule and the table (std, D.A.,
        D.A. + KL, A.T., A.T. + KL, A.T. + L2).
    """
    weight = deprecation.renamed(kwargs, "lam", "weight", weight, "SpatialInvariance")
    objective = deprecation.renamed(
        kwargs, "rank_by", "objective", objective, "SpatialInvariance"
    )
    preset = deprecation.renamed(
        kwargs, "mode", "preset", preset, "SpatialInvariance", default="da_kl"
    )
    if preset not in SPATIAL_MODES:
        raise ValueError(
            f"Unknown spatial preset {preset!r}; use one of {sorted(SPATIAL_MODES)}."
        )
    if attack not in SPATIAL_ATTACKS:
        raise ValueError(
            f"`attack` must be one of {SPATIAL_ATTACKS}; received {attack!r}."
        )
    choice, divergence = SPATIAL_MODES[preset]
    if layers is not None:
        box = spatial_lib.box_from_layers(layers)
    else:
        box = {"translation": translation, "rotation": rotation, "scale": scale}
    box.update(fill_mode=fill_mode, fill_value=fill_value, seed=seed)
    perturbation = None
    if choice == "random":
        perturbation = RandomSpatialTransform(**box)
    elif choice == "adversarial":
        objective = objective or divergence or "loss"
        if attack == "worst_of_k":
            perturbation = WorstOfKSpatial(
                k=k, objective=objective, **box
            )
        else:
            perturbation = SpatialPGD(
                steps=steps,
                step_size=step_size,
                random_start=random_start,
                objective=objective,
                **box,
            )
    all_penalties = []
    if divergence is not None:
        all_penalties.append(
            OutputDivergence(
                distance=DISTANCES[divergence],
                weight=1.0 if weight is None else weight,
            )
        )
    all_penalties += list(penalties or [])
    return InvariantModel(
        *args,
        alpha=1.0,
        beta=0.0 if perturbation is None else 1.0,
        perturbation=perturbation,
        penalties=all_penalties,
        from_logits=from_logits,
        **kwargs,
    )


def RegularizedAdversarialTraining(
    *args,
    distance=None,
    weight=1.0,
    epsilon=0.1,
    attack=None,
    objective=None,
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

    x̃ maximizes the loss (`objective="loss"`, A.T. + h) or h itself
    (`objective="divergence"`, modified A.T.). With `beta=0`,
    `objective="divergence"` and `distance="kl"`, this is TRADES' objective.
    h is `OutputDivergence`: KL on softmax outputs (`"kl"`) or squared L2 on
    logits (`"l2"`), logged as `output_divergence`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.RegularizedAdversarialTraining(base, distance="l2")
    >>> model.penalties[0].name
    'output_divergence'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        distance: h: `"kl"` (default) or `"l2"` (squared L2 on logits).
            `divergence=` is its deprecated name.
        weight: λ.
        epsilon: ε.
        attack: `"pgd"` (default) or `"fgsm"` (`kind=` is its deprecated
            name).
        objective: What x̃ maximises: `"loss"` (default) or `"divergence"`
            (h itself). `search=` is its deprecated name.
        alpha: Weight of L(x).
        beta: Weight of L(x̃).
        norm: The search's norm, `"inf"` (default), 2 or 1.
        steps: PGD's steps.
        step_size: PGD's step size.
        random_start: PGD's random start.
        value_range: Optional clip of x̃.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown `distance`, `attack` or `objective`.

    Reference:
        Yang et al. (2019) ("Regularizing standard and adversarial
        augmentation", A.T. + KL, A.T. + L2); Zhang et al., TRADES (2019).
    """
    who = "RegularizedAdversarialTraining"
    distance = deprecation.renamed(kwargs, "divergence", "distance", distance, who)
    attack = deprecation.renamed(kwargs, "kind", "attack", attack, who)
    objective = deprecation.renamed(kwargs, "search", "objective", objective, who)
    distance = "kl" if distance is None else distance
    attack = "pgd" if attack is None else attack
    objective = "loss" if objective is None else objective
    if distance not in DISTANCES:
        raise ValueError(
            f"`distance` must be 'kl' or 'l2'; received {distance!r}."
        )
    if objective not in ("loss", "divergence"):
        raise ValueError(
            f"`objective` must be 'loss' or 'divergence'; received {objective!r}."
        )
    search_objective = "loss" if objective == "loss" else DISTANCES[distance]
    if attack == "pgd":
        perturbation = PGD(
            epsilon=epsilon,
            norm=norm,
            steps=steps,
            step_size=step_size,
            random_start=random_start,
            objective=search_objective,
            value_range=value_range,
        )
    elif attack == "fgsm":
        perturbation = FGSM(
            epsilon=epsilon, norm=norm, objective=search_objective,
            value_range=value_range,
        )
    else:
        raise ValueError(f"`attack` must be 'pgd' or 'fgsm'; received {attack!r}.")
    penalty = OutputDivergence(distance=DISTANCES[distance], weight=weight)
    return InvariantModel(
        *args,
        alpha=alpha,
        beta=beta,
        perturbation=perturbation,
        penalties=with_penalty(penalty, penalties),
        **kwargs,
    )
