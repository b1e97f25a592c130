"""Presets named after the papers' methods, as one short constructor call."""

from keras_invariance.hyperparameters import check_non_negative
from keras_invariance.model import InvariantModel
from keras_invariance.penalties.activation_distance import ActivationDistance

#: (α, β, γ) of the rows of IRL Tables 1–2.
IRL_PRESETS = {
    "plain": (1.0, 0.0, 0.0),
    "data_augmentation": (0.0, 1.0, 0.0),
    "irl_batching": (0.5, 0.5, 0.0),
    "irl_loss": (0.5, 0.5, 1.0),
}


def IRL(
    *args,
    perturbation=None,
    preset="irl_loss",
    alpha=None,
    beta=None,
    gamma=None,
    layers="logits",
    distance="l2_cosine",
    penalties=None,
    **kwargs,
):
    """Invariant Representation Learning: α·L(x) + β·L_noise + γ·L_dist.

    Builds an `InvariantModel` with IRL's `ActivationDistance` penalty (named
    `irl_distance`) from one of the paper's presets, with any of α, β, γ
    overridden. γ > 0 adds the distance term; with γ = 0 (or the
    `"irl_batching"` preset) there is none.

    Presets (α, β, γ): `"plain"` (1, 0, 0), `"data_augmentation"` (0, 1, 0),
    `"irl_batching"` (½, ½, 0), `"irl_loss"` (½, ½, 1).
    IRL-E: `layers="<encoder output>"`; IRL-C: `layers="above:<bottleneck>"`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)),
    ...                          keras.layers.Dense(8, name="hidden"),
    ...                          keras.layers.Dense(3, name="out")])
    >>> model = ki.IRL(base, perturbation=ki.GaussianNoise(0.1),
    ...                preset="irl_loss", layers="above:hidden")
    >>> model.penalties[0].tap_names
    ['hidden', 'logits']

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        perturbation: The noise model ν_x (see `InvariantModel`).
        preset: One of `IRL_PRESETS`.
        alpha: Overrides the preset's α.
        beta: Overrides the preset's β.
        gamma: Overrides the preset's γ (weight of L_dist).
        layers: The tapped layers (see `ActivationDistance`).
        distance: d (see `ActivationDistance`); the paper's ‖u−v‖² − λ·cos
            by default.
        penalties: Further penalties to combine (e.g. VAT, Jacobian).
        **kwargs: Other `InvariantModel` arguments (`num_samples`,
            `batching`, `global_augmentation`, `name`, …).

    Returns:
        An `InvariantModel`.

    Raises:
        ValueError: For an unknown preset, and as `InvariantModel`.

    Reference:
        irl_invariant_representation_learning.txt, eq. 1–2, Tables 1–2.
    """
    if preset not in IRL_PRESETS:
        raise ValueError(
            f"Unknown IRL preset {preset!r}; use one of {sorted(IRL_PRESETS)}."
        )
    default_alpha, default_beta, default_gamma = IRL_PRESETS[preset]
    alpha = default_alpha if alpha is None else alpha
    beta = default_beta if beta is None else beta
    gamma = check_non_negative("gamma", default_gamma if gamma is None else gamma)
    all_penalties = []
    if gamma != 0:
        all_penalties.append(
            ActivationDistance(layers=layers, distance=distance, weight=gamma)
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
