"""Per-example distances d(u, v) between clean and perturbed activations.

Every distance flattens all but the batch axis, computes in float32 (so that
float16/bfloat16 activations neither overflow in ‖u‖² nor lose the cosine to
rounding) and returns one value per example, shape `(batch,)`. The L1 and
Jensen–Shannon distances live in `keras_invariance.distances.more`, the base
class in `keras_invariance.distances.base`; names resolve in
`keras_invariance.distances.resolve`.
"""

import functools

import keras
from keras import ops

from keras_invariance.distances import more as more_distances
from keras_invariance.distances.base import Distance
from keras_invariance.ops.numerics import flatten_rows
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of

# Keeps cos(u, v) and its gradient finite when u or v is the zero vector:
# sqrt(‖u‖²‖v‖² + ε) has a finite derivative at 0, sqrt(‖u‖²)·sqrt(‖v‖²) does not.
COSINE_EPSILON = 1e-12
# Keeps the relative distance of two all-zero rows (dead units) at 0.
RELATIVE_EPSILON = 1e-12
_DISTRIBUTIONS = ("categorical", "bernoulli")


def squared_l2(u, v):
    """‖u − v‖² per example, in float32.

    Example:

    >>> squared_l2([[3.0, 0.0]], [[0.0, 4.0]]).numpy()
    array([25.], dtype=float32)

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.

    Returns:
        Shape `(batch,)`, float32.
    """
    u, v = flatten_rows(u), flatten_rows(v)
    return ops.sum(ops.square(u - v), axis=-1)


def relative_squared_l2(u, v):
    """‖u − v‖² / (½(‖u‖² + ‖v‖²) + ε) per example, in [0, 4], float32.

    Example:

    >>> relative_squared_l2([[2.0, 0.0]], [[1.0, 0.0]]).numpy()
    array([0.4], dtype=float32)

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.

    Returns:
        Shape `(batch,)`, float32.
    """
    u, v = flatten_rows(u), flatten_rows(v)
    energy = 0.5 * (ops.sum(ops.square(u), axis=-1) + ops.sum(ops.square(v), axis=-1))
    return ops.sum(ops.square(u - v), axis=-1) / (energy + RELATIVE_EPSILON)


def _scaled(values, l2_scale):
    return values if l2_scale is None else values / l2_scale


def cosine_similarity(u, v):
    """uᵀv / (‖u‖‖v‖) per example; 0 (with finite gradient) for zero vectors.

    Example:

    >>> cosine_similarity([[1.0, 0.0], [0.0, 0.0]], [[2.0, 0.0], [1.0, 0.0]]).numpy()
    array([1., 0.], dtype=float32)

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.

    Returns:
        Shape `(batch,)`, float32.
    """
    u, v = flatten_rows(u), flatten_rows(v)
    dot = ops.sum(u * v, axis=-1)
    norms = ops.sqrt(
        ops.sum(ops.square(u), axis=-1) * ops.sum(ops.square(v), axis=-1)
        + COSINE_EPSILON
    )
    return dot / norms


def _probabilities(t, from_logits):
    t = ops.cast(t, "float32")
    return ops.softmax(t, axis=-1) if from_logits else t


def _log_probabilities(t, from_logits):
    t = ops.cast(t, "float32")
    if from_logits:
        return ops.log_softmax(t, axis=-1)
    return ops.log(ops.clip(t, keras.config.epsilon(), 1.0))


def _sum_per_example(t):
    if len(t.shape) == 1:
        return t
    return ops.sum(ops.reshape(t, (ops.shape(t)[0], -1)), axis=-1)


def _bernoulli_logits(u, v, from_logits):
    """(u, v) as float32 logits; probabilities clipped to [ε, 1 − ε] first."""
    u, v = ops.cast(u, "float32"), ops.cast(v, "float32")
    if from_logits:
        return u, v
    eps = keras.config.epsilon()
    return tuple(
        ops.log(t) - ops.log1p(-t) for t in (ops.clip(u, eps, 1 - eps), ops.clip(v, eps, 1 - eps))
    )


def _check_distribution(distribution):
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"`distribution` must be one of {_DISTRIBUTIONS}; received "
            f"{distribution!r}."
        )
    return distribution


def kl_divergence(u, v, from_logits=True, distribution="categorical"):
    """KL(p(u) ‖ p(v)) per example: categorical (softmax) or Bernoulli per unit.

    Example:

    >>> round(float(kl_divergence([[0.0]], [[0.0]], distribution="bernoulli")[0]), 6)
    0.0

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.
        from_logits: Whether `u` and `v` are logits (else probabilities).
        distribution: `"categorical"` (softmax over the last axis) or
            `"bernoulli"` (one sigmoid per unit).

    Returns:
        Shape `(batch,)`, float32, in nats.
    """
    if distribution == "bernoulli":
        u, v = _bernoulli_logits(u, v, from_logits)
        # Softplus forms: finite for any logits.
        p = ops.sigmoid(u)
        kl = p * (ops.softplus(-v) - ops.softplus(-u)) + (1.0 - p) * (
            ops.softplus(v) - ops.softplus(u)
        )
        return _sum_per_example(kl)
    p = _probabilities(u, from_logits)
    kl = p * (_log_probabilities(u, from_logits) - _log_probabilities(v, from_logits))
    return _sum_per_example(kl)


def cross_entropy(u, v, from_logits=True, distribution="categorical"):
    """−Σ p(u)·log p(v) per example, p(u) held constant (IRL eq. 5).

    Example:

    >>> round(float(cross_entropy([[0.0]], [[0.0]], distribution="bernoulli")[0]), 4)
    0.6931

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.
        from_logits: Whether `u` and `v` are logits (else probabilities).
        distribution: `"categorical"` (softmax over the last axis) or
            `"bernoulli"` (one sigmoid per unit).

    Returns:
        Shape `(batch,)`, float32, in nats.
    """
    if distribution == "bernoulli":
        u, v = _bernoulli_logits(u, v, from_logits)
        p = ops.stop_gradient(ops.sigmoid(u))
        return _sum_per_example(p * ops.softplus(-v) + (1.0 - p) * ops.softplus(v))
    target = ops.stop_gradient(_probabilities(u, from_logits))
    return _sum_per_example(-target * _log_probabilities(v, from_logits))


@keras_invariance_export("keras_invariance.distances.SquaredL2")
class SquaredL2(Distance):
    """Squared Euclidean distance d(u, v) = ‖u − v‖².

    The penalties that use it divide it by a scale of their own
    (`l2_scale`; `ActivationDistance` divides by the clean activations'
    batch energy, `keras_invariance.ops.scales`). `relative=True` makes each example's
    distance scale-free instead, ‖u − v‖² / (½(‖u‖² + ‖v‖²) + ε) in [0, 4]:
    unchanged when both activations are scaled together (so it has no
    contracting pull on the representation: measured, it regularizes IRL
    less than the calibrated raw distance).

    `weights` (broadcast to one example's shape) weigh the features,
    Σ_j w_j (u_j − v_j)², and `reduction="mean"` averages them instead of
    summing (`keras_invariance.distances.more.reduce_features`; NSL's
    weighted and reduced `DistanceConfig`).

    Example:

    >>> SquaredL2().distance([[1.0, 2.0]], [[0.0, 0.0]]).numpy()
    array([5.], dtype=float32)
    >>> SquaredL2(relative=True).distance([[2.0, 0.0]], [[1.0, 0.0]]).numpy()
    array([0.4], dtype=float32)
    >>> SquaredL2(weights=[0.0, 1.0], reduction="mean").distance(
    ...     [[1.0, 2.0]], [[0.0, 0.0]]).numpy()
    array([4.], dtype=float32)

    Args:
        relative: Per-example scale-free distance (see above).
        weights: Optional per-feature weights ≥ 0 (not with `relative`).
        reduction: `"sum"` (default) or `"mean"` over the features.
        **kwargs: Keras `Layer` arguments.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), eq. 2 with d = L2.
    """

    has_l2 = True

    def __init__(self, relative=False, weights=None, reduction="sum", **kwargs):
        super().__init__(**kwargs)
        self.relative = bool(relative)
        self.weights_value = more_distances.feature_weights(weights)
        self.reduction = more_distances.check_reduction(reduction)
        if self.relative and (weights is not None or reduction != "sum"):
            raise ValueError(
                "`relative=True` is already scale-free per example; drop "
                "`weights` / `reduction`, or use relative=False."
            )

    def distance(self, u, v, l2_scale=None):
        if self.relative:
            return relative_squared_l2(u, v)
        if self.weights_value is None and self.reduction == "sum":
            return _scaled(squared_l2(u, v), l2_scale)
        u = ops.cast(ops.convert_to_tensor(u), "float32")
        v = ops.cast(ops.convert_to_tensor(v), "float32")
        values = more_distances.reduce_features(
            ops.square(u - v), self.weights_value, self.reduction
        )
        return _scaled(values, l2_scale)

    def get_config(self):
        config = super().get_config()
        config.update({"relative": self.relative})
        if self.weights_value is not None or self.reduction != "sum":
            config["weights"] = (
                None if self.weights_value is None else self.weights_value.tolist()
            )
            config["reduction"] = self.reduction
        return config


@keras_invariance_export("keras_invariance.distances.CosineDistance")
class CosineDistance(Distance):
    """Cosine distance d(u, v) = 1 − cos(u, v), in [0, 2].

    A zero vector has cosine 0 with everything, so its distance is 1 and the
    gradient stays finite.

    Example:

    >>> CosineDistance().distance([[1.0, 0.0]], [[0.0, 2.0]]).numpy()
    array([1.], dtype=float32)

    Args:
        **kwargs: Keras `Layer` arguments.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3, Figure 1b.
    """

    def distance(self, u, v, l2_scale=None):
        return 1.0 - cosine_similarity(u, v)


@keras_invariance_export("keras_invariance.distances.L2Cosine")
class L2Cosine(Distance):
    """The IRL distance d(u, v) = ‖u − v‖² + λ·(1 − cos(u, v)).

    The L2 part shrinks the magnitude gap and the cosine part the angle
    between clean and perturbed activations. The paper writes −λ·cos; λ(1 −
    cos) has the same gradients and is never negative, so the logged
    `irl_distance` and the total `loss` stay ≥ 0 (and `EarlyStopping` on them
    behaves). The L2 part is divided by the penalty's `l2_scale` (see
    `ActivationDistance`), or made per-example relative with `relative=True`
    (see `SquaredL2`); the cosine part is scale-free. λ (`cosine_weight`) is a
    non-trainable variable, so a tuner or a schedule can change it without
    retracing.

    Example:

    >>> d = L2Cosine(cosine_weight=0.5)
    >>> d.distance([[1.0, 0.0]], [[1.0, 0.0]]).numpy()
    array([0.], dtype=float32)
    >>> round(float(d.distance([[1.0, 0.0]], [[0.0, 1.0]])[0]), 3)
    2.5

    Args:
        cosine_weight: λ ≥ 0, the weight of the cosine part.
        relative: Make the L2 part per-example relative (see `SquaredL2`).
        **kwargs: Keras `Layer` arguments.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §1, d(u, v) = ‖u−v‖² − λ·cos.
    """

    has_l2 = True

    def __init__(self, cosine_weight=1.0, relative=False, **kwargs):
        super().__init__(**kwargs)
        self.cosine_weight = add_hyperparameter(self, "cosine_weight", cosine_weight)
        self.relative = bool(relative)

    def distance(self, u, v, l2_scale=None):
        if self.relative:
            l2 = relative_squared_l2(u, v)
        else:
            l2 = _scaled(squared_l2(u, v), l2_scale)
        return l2 + self.cosine_weight * (1.0 - cosine_similarity(u, v))

    def get_config(self):
        config = super().get_config()
        config.update(
            {"cosine_weight": value_of(self.cosine_weight), "relative": self.relative}
        )
        return config


@keras_invariance_export("keras_invariance.distances.KLDivergence")
class KLDivergence(Distance):
    """KL(p(u) ‖ p(v)) between output distributions.

    `distribution="categorical"` (default): a softmax over the last axis.
    `"bernoulli"`: one independent Bernoulli per unit (sigmoid outputs,
    binary or multi-label), KL summed over the units, so a single-unit
    binary classifier gets its KL instead of the identically zero softmax
    over one unit. Inside training the package feeds the model's logits
    view (`keras_invariance.graph.outputs`) and picks the distribution from the
    model, whatever this instance says.

    Example:

    >>> KLDivergence(from_logits=True).distance([[0.0, 0.0]], [[0.0, 0.0]]).numpy()
    array([0.], dtype=float32)
    >>> d = KLDivergence(distribution="bernoulli")
    >>> round(float(d.distance([[0.0]], [[0.0]])[0]), 6)
    0.0

    Args:
        from_logits: Whether `u` and `v` are logits or probabilities.
        distribution: `"categorical"` or `"bernoulli"`.
        **kwargs: Keras `Layer` arguments.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019)
        (KL regularizer);
        Connections between noise regularization, Jacobian penalties and VAT (a PEA regularizer,
        Bachman et al. 2014) (VAT's KL).
    """

    on_outputs_only = True

    def __init__(self, from_logits=True, distribution="categorical", **kwargs):
        super().__init__(**kwargs)
        self.from_logits = from_logits
        self.distribution = _check_distribution(distribution)

    def distance(self, u, v, l2_scale=None):
        return kl_divergence(u, v, self.from_logits, self.distribution)

    def on_distribution(self, distribution):
        return functools.partial(kl_divergence, distribution=distribution)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"from_logits": self.from_logits, "distribution": self.distribution}
        )
        return config


@keras_invariance_export("keras_invariance.distances.CrossEntropy")
class CrossEntropy(Distance):
    """The "model risk" of IRL eq. 5: L_ce(f(x̃), f(x)) with f(x) as the label.

    The clean prediction plays the role of the label, so no gradient flows
    into it (`stop_gradient`), as a label would not carry one.

    Example:

    >>> import numpy as np
    >>> d = CrossEntropy(from_logits=False)
    >>> round(float(d.distance([[1.0, 0.0]], [[0.5, 0.5]])[0]), 4)  # log 2
    0.6931

    Args:
        from_logits: Whether the outputs are logits or probabilities.
        **kwargs: Keras `Layer` arguments.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018), eq. 5.
    """

    on_outputs_only = True

    def __init__(self, from_logits=True, **kwargs):
        super().__init__(**kwargs)
        self.from_logits = from_logits

    def distance(self, u, v, l2_scale=None):
        return cross_entropy(u, v, self.from_logits)

    def on_distribution(self, distribution):
        return functools.partial(cross_entropy, distribution=distribution)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config
