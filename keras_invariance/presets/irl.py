"""IRL presets: plain, data augmentation, IRL batching and IRL loss."""

from keras_invariance.engine.model import InvariantModel
from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.utils import deprecation
from keras_invariance.utils import vocabulary
from keras_invariance.utils.hyperparameters import check_non_negative

#: (α, β, γ) of the rows of IRL Tables 1–2, with the paper's literal γ = 1
#: (Wide ResNet on CIFAR-10, a distance on MXNet's per-feature scale).
IRL_PRESETS = {
    "plain": (1.0, 0.0, 0.0),
    "data_augmentation": (0.0, 1.0, 0.0),
    "irl_batching": (0.5, 0.5, 0.0),
    "irl_loss": (0.5, 0.5, 1.0),
}
#: γ of the IRL loss on the default scale (each layer's L2 part divided by
#: its clean activations' energy E‖a‖² on the same step, averaged over the
#: global batch, `keras_invariance.ops.scales`), chosen on the seven model
#: families of `recipes/default_weights.py` (README, "Weights and scales").
DEFAULT_WEIGHT = 0.1


def IRL(
    *args,
    perturbation=None,
    preset="irl_loss",
    alpha=None,
    beta=None,
    weight=None,
    layers="logits",
    distance="l2_cosine",
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Invariant Representation Learning: α·L(x) + β·L_noise + γ·L_dist.

    Builds an `InvariantModel` with IRL's `ActivationDistance` penalty (named
    `irl_distance`) from one of the paper's presets, with any of α, β and
    the distance weight γ (`weight=`) overridden. γ > 0 adds the distance
    term; with γ = 0 (or the `"irl_batching"` preset) there is none.

    Presets (α, β, γ): `"plain"` (1, 0, 0), `"data_augmentation"` (0, 1, 0),
    `"irl_batching"` (½, ½, 0), `"irl_loss"` (½, ½, γ). A `weight` given
    explicitly keeps the distance term even at 0 (for a schedule to raise).

    Scale: by default each layer's ‖u−v‖² is divided by that layer's clean
    energy on the same step (`ActivationDistance(scale="normalized")`), so
    γ means the same on any model and width; γ defaults to `DEFAULT_WEIGHT`,
    measured on seven model families. With `scale="paper"` the distance
    is the paper's raw ‖u−v‖² − λ·cos (written λ(1 − cos): same gradients)
    and γ defaults to the paper's 1 (Wide ResNet on CIFAR-10, Table 1) — on
    a distance summed over features that γ dominates the loss of small
    models (measured: the digits MLP's logits underfit, its IRL-C dies at
    10% accuracy).
    IRL-E: `layers="<encoder output>"`; IRL-C: `layers="above:<bottleneck>"`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)),
    ...                          keras.layers.Dense(8, name="hidden"),
    ...                          keras.layers.Dense(3, name="out")])
    >>> model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1),
    ...                preset="irl_loss", layers="above:hidden")
    >>> model.penalties[0].tap_names
    ['hidden', 'logits']

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        perturbation: The noise model ν_x (see `InvariantModel`).
        preset: One of `IRL_PRESETS`.
        alpha: Overrides the preset's α.
        beta: Overrides the preset's β.
        weight: Overrides the preset's γ, the weight of L_dist (`gamma=` is
            its deprecated name).
        layers: The tapped layers (see `ActivationDistance`).
        distance: d (see `ActivationDistance`); the paper's ‖u−v‖² − λ·cos
            by default (its L2 part normalized unless `scale="paper"`).
        penalties: Further penalties to combine (e.g. VAT, Jacobian).
        scale: `"normalized"` (default) or `"paper"`: the paper's literal
            distance scale and γ = 1 (`paper_scale=True` is its deprecated
            spelling; `keras_invariance.utils.vocabulary`).
        **kwargs: Other `InvariantModel` arguments (`num_samples`,
            `batching`, `global_augmentation`, `name`, …).

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown preset, and as `InvariantModel`.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), eq. 1–2, Tables 1–2.
    """
    weight = deprecation.renamed(kwargs, "gamma", "weight", weight, "IRL")
    scale = vocabulary.scale_argument(kwargs, scale, "IRL", old="paper_scale")
    if preset not in IRL_PRESETS:
        raise ValueError(
            f"Unknown IRL preset {preset!r}; use one of {sorted(IRL_PRESETS)}."
        )
    default_alpha, default_beta, default_gamma = IRL_PRESETS[preset]
    alpha = default_alpha if alpha is None else alpha
    beta = default_beta if beta is None else beta
    # A weight given explicitly keeps its term even at 0, so that a schedule
    # (`keras_invariance.integrations.callbacks.WeightSchedule`) can raise it later.
    explicit = weight is not None and perturbation is not None
    if default_gamma and scale == vocabulary.NORMALIZED:
        default_gamma = DEFAULT_WEIGHT
    weight = check_non_negative(
        "weight", default_gamma if weight is None else weight
    )
    all_penalties = []
    if weight != 0 or explicit:
        all_penalties.append(
            ActivationDistance(
                layers=layers, distance=distance, weight=weight, scale=scale,
            )
        )
    all_penalties += list(penalties or [])
    return InvariantModel(
        *args,
        alpha=alpha,
        beta=beta,
        perturbation=perturbation,
        penalties=all_penalties,
        **kwargs,
    )

