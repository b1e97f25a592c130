"""Presets of the noise / Jacobian / VAT family: one call each.

Each factory returns an `InvariantModel` with α = 1 and one penalty; every
one takes `penalties=[...]` to combine further terms (IRL + VAT + Jacobian)
and passes other keyword arguments (`perturbation`, `batching`, `name`, …)
to `InvariantModel`.
"""

from keras_invariance.engine.model import InvariantModel
from keras_invariance.penalties import vat
from keras_invariance.penalties.jacobian import Jacobian
from keras_invariance.penalties.noise_regularization import NoiseRegularization
from keras_invariance.utils import vocabulary


def with_penalty(penalty, penalties):
    """`[penalty]` followed by the user's further `penalties` (a list or None).

    Example:

    >>> with_penalty("a", ["b"])
    ['a', 'b']
    """
    return [penalty] + list(penalties or [])


def NoiseRegularized(
    *args,
    stddev=0.2,
    weight=1.0,
    layers="logits",
    adversarial=False,
    power_iterations=1,
    xi=None,
    alpha=1.0,
    embedding_layer=None,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Noise regularization: L(x) + λ·E‖f(x) − f(x + Δx)‖² (the paper's α).

    Example:

    >>> import keras
    >>> from keras_invariance.presets import noise_jacobian_vat as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.NoiseRegularized(base, stddev=0.1).penalties[0].name
    'noise_regularization'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        stddev: ε (noise std, or the adversarial radius).
        weight: λ, the penalty's weight (the paper's α of eq. 1; not the
            clean loss weight `alpha`).
        layers: Tapped layers (default the outputs).
        adversarial: Use the adversarial Δx (power iteration).
        power_iterations: For the adversarial Δx.
        xi: `None` (exact products) or ξ, the power iteration's
            finite-difference radius (VAT's reference: 1e-6).
        alpha: Weight of the clean loss (`InvariantModel`'s α).
        embedding_layer: For token models, add Δx at this layer's output.
        scale: `"normalized"` (default, relative) or `"paper"`: the raw
            ‖f(x) − f(x + Δx)‖² (`NoiseRegularization(scale="paper")`).
            `paper_scale=True` is its deprecated spelling.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT, eq. 1.
    """
    scale = vocabulary.scale_argument(
        kwargs, scale, "NoiseRegularized", old="paper_scale"
    )
    penalty = NoiseRegularization(
        stddev=stddev,
        layers=layers,
        weight=weight,
        adversarial=adversarial,
        power_iterations=power_iterations,
        xi=xi,
        embedding_layer=embedding_layer,
        scale=scale,
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=with_penalty(penalty, penalties), **kwargs
    )


def JacobianRegularized(
    *args,
    weight=0.05,
    layers="logits",
    num_projections=1,
    alpha=1.0,
    embedding_layer=None,
    penalties=None,
    scale=vocabulary.NORMALIZED,
    **kwargs,
):
    """Jacobian regularization: L(x) + λ·‖∂f/∂x‖²_F (exact or projected).

    Example:

    >>> import keras
    >>> from keras_invariance.presets import noise_jacobian_vat as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.JacobianRegularized(base, num_projections=1).penalties[0].name
    'jacobian'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        weight: λ.
        layers: Tapped layers (default the outputs); per layer, IRL's Λ_R.
        num_projections: `None` (exact) or n random projections.
        alpha: Weight of the clean loss.
        embedding_layer: For token models, differentiate at this layer's
            output.
        scale: `"normalized"` (default, relative sensitivity) or
            `"paper"`: the raw ‖∂f/∂x‖²_F (`Jacobian(scale="paper")`).
            `paper_scale=True` is its deprecated spelling.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT, eq. 2.
    """
    scale = vocabulary.scale_argument(
        kwargs, scale, "JacobianRegularized", old="paper_scale"
    )
    penalty = Jacobian(
        layers=layers,
        num_projections=num_projections,
        weight=weight,
        embedding_layer=embedding_layer,
        scale=scale,
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=with_penalty(penalty, penalties), **kwargs
    )


def VAT(
    *args,
    epsilon=1.0,
    xi=None,
    power_iterations=1,
    weight=1.0,
    alpha=1.0,
    embedding_layer=None,
    penalties=None,
    **kwargs,
):
    """Virtual adversarial training: L(x) + λ·KL(p(y|x) ‖ p(y|x + r_adv)).

    For semi-supervised training give unlabeled rows sample weight 0.

    Example:

    >>> import keras
    >>> from keras_invariance.presets import noise_jacobian_vat as dm
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> dm.VAT(base, epsilon=2.0).penalties[0].name
    'vat'

    Args:
        *args: A model to wrap or `(inputs, outputs)`.
        epsilon: ε.
        xi: `None` (default): exact Fisher-vector products; ξ = 1e-6 is
            the VAT reference's finite difference.
        power_iterations: Python int ≥ 1 (default 1).
        weight: The VAT weight.
        alpha: Weight of the supervised loss.
        embedding_layer: For token models.
        penalties: Further penalties.
        **kwargs: Other `InvariantModel` arguments.

    Returns:
        An `InvariantModel`.

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT, §3.4; Miyato et al., "Virtual Adversarial Training" (2018).
    """
    penalty = vat.VAT(
        epsilon=epsilon,
        xi=xi,
        power_iterations=power_iterations,
        weight=weight,
        embedding_layer=embedding_layer,
    )
    return InvariantModel(
        *args, alpha=alpha, beta=0.0, penalties=with_penalty(penalty, penalties), **kwargs
    )
