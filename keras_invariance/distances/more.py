"""L1 and Jensen–Shannon distances, and weighted or averaged feature sums.

Beside the squared L2, cosine and KL of `keras_invariance.distances`, these
are the distances Neural Structured Learning's `nsl.configs.DistanceConfig`
offers (`DistanceType.L1`, `JENSEN_SHANNON_DIVERGENCE`; its `weights` and
`reduction`), in the package's form: one value per example, float32.

* `L1Distance`: Σ_j w_j |u_j − v_j| per example.
* `JensenShannonDivergence`: JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½(p + q),
  between the output distributions (softmax classes or Bernoulli units), in
  [0, ln 2] per distribution; symmetric and bounded, unlike KL.
* `reduce_features`: the per-example sum over features, weighted by `w`
  (broadcast to one example's shape), or their (weighted) mean
  (`reduction="mean"`): what `SquaredL2(weights=..., reduction=...)` and
  `L1Distance` apply.
"""

import math

import keras
from keras import ops
import numpy as np

from keras_invariance.distances.base import Distance
from keras_invariance.ops.numerics import flatten_rows
from keras_invariance.utils.api_export import keras_invariance_export

REDUCTIONS = ("sum", "mean")
_LOG_2 = math.log(2.0)


def check_reduction(reduction):
    """Returns `reduction` if it is `"sum"` or `"mean"`, else raises.

    Example:

    >>> check_reduction("mean")
    'mean'
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of {REDUCTIONS} (over each example's "
            f"features); received {reduction!r}."
        )
    return reduction


def feature_weights(weights):
    """`weights` as a float32 array (`None` stays `None`), checked ≥ 0.

    Example:

    >>> feature_weights([1, 0.5]).tolist()
    [1.0, 0.5]
    """
    if weights is None:
        return None
    weights = np.asarray(weights, dtype="float32")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(
            "`weights` must be finite and ≥ 0 (one per feature, broadcast to "
            f"one example's shape); received {weights.tolist()!r}."
        )
    return weights


def reduce_features(elementwise, weights=None, reduction="sum"):
    """Σ_j w_j·e_j per example (or the weighted mean), float32, `(batch,)`.

    Example:

    >>> e = np.array([[1.0, 2.0, 3.0]])
    >>> reduce_features(e).numpy(), reduce_features(e, [1, 0, 1], "mean").numpy()
    (array([6.], dtype=float32), array([2.], dtype=float32))

    Args:
        elementwise: `(batch, ...)` per-feature terms.
        weights: `None`, or weights broadcastable to one example's shape
            (`elementwise.shape[1:]`).
        reduction: `"sum"` over the features, or `"mean"` (Σ w e / Σ w, or
            the plain mean without weights).

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    elementwise = ops.cast(elementwise, "float32")
    if weights is not None:
        w = ops.convert_to_tensor(weights, "float32")
        elementwise = elementwise * ops.broadcast_to(w, ops.shape(elementwise)[1:])
    rows = flatten_rows(elementwise)
    total = ops.sum(rows, axis=-1)
    if reduction == "sum":
        return total
    if weights is None:
        return total / float(rows.shape[-1])
    shape = tuple(int(d) for d in elementwise.shape[1:])
    count = float(np.sum(np.broadcast_to(np.asarray(weights, "float32"), shape)))
    return total / max(count, 1e-12)


def l1(u, v, weights=None, reduction="sum"):
    """Σ_j w_j |u_j − v_j| per example, float32.

    Example:

    >>> l1([[1.0, -1.0]], [[0.0, 1.0]]).numpy()
    array([3.], dtype=float32)

    Args:
        u: Clean values, shape `(batch, ...)`.
        v: Perturbed values, the shape of `u`.
        weights: Optional per-feature weights w_j (default all 1).
        reduction: `"sum"` over features (default) or `"mean"`.

    Returns:
        Shape `(batch,)`, float32.
    """
    u = ops.cast(ops.convert_to_tensor(u), "float32")
    v = ops.cast(ops.convert_to_tensor(v), "float32")
    return reduce_features(ops.abs(u - v), weights, reduction)


def _per_example(t):
    if len(t.shape) == 1:
        return t
    return ops.sum(ops.reshape(t, (ops.shape(t)[0], -1)), axis=-1)


def _log_pair(t, from_logits, distribution):
    """(log p, log(1 − p)) for Bernoulli; (log p, None) for categorical."""
    t = ops.cast(ops.convert_to_tensor(t), "float32")
    eps = keras.config.epsilon()
    if distribution == "bernoulli":
        if from_logits:
            return ops.log_sigmoid(t), ops.log_sigmoid(-t)
        p = ops.clip(t, eps, 1.0 - eps)
        return ops.log(p), ops.log1p(-p)
    if from_logits:
        return ops.log_softmax(t, axis=-1), None
    return ops.log(ops.clip(t, eps, 1.0)), None


def _half_kl_to_mixture(log_p, log_q):
    """½ Σ p (log p − log m) + ½ Σ q (log q − log m), m = ½(p + q), elementwise."""
    log_m = ops.logaddexp(log_p, log_q) - _LOG_2
    return 0.5 * (
        ops.exp(log_p) * (log_p - log_m) + ops.exp(log_q) * (log_q - log_m)
    )


def jensen_shannon(u, v, from_logits=True, distribution="categorical"):
    """JS(p(u), p(v)) per example: categorical (softmax) or Bernoulli per unit.

    Example:

    >>> round(float(jensen_shannon([[1.0, 0.0]], [[0.0, 1.0]], from_logits=False)[0]), 4)
    0.6931

    Args:
        u: Logits (or probabilities) of the first distribution.
        v: Logits (or probabilities) of the second.
        from_logits: Whether `u` and `v` are logits.
        distribution: `"categorical"` (softmax over the last axis) or
            `"bernoulli"` (one per unit, summed).

    Returns:
        float32 `(batch,)`, each value in [0, ln 2] per distribution.
    """
    log_p, log_not_p = _log_pair(u, from_logits, distribution)
    log_q, log_not_q = _log_pair(v, from_logits, distribution)
    terms = _half_kl_to_mixture(log_p, log_q)
    if log_not_p is not None:
        terms = terms + _half_kl_to_mixture(log_not_p, log_not_q)
    return _per_example(terms)


@keras_invariance_export("keras_invariance.distances.L1Distance")
class L1Distance(Distance):
    """Absolute distance d(u, v) = Σ_j w_j |u_j − v_j| (NSL's `DistanceType.L1`).

    Less sensitive than ‖u − v‖² to a few large differences. `weights`
    (broadcast to one example's shape) weigh the features, and
    `reduction="mean"` averages them instead of summing (NSL's
    `DistanceConfig(..., sum_over_axis=None)`, the mean over features).

    Example:

    >>> L1Distance().distance([[1.0, 2.0]], [[0.0, 0.0]]).numpy()
    array([3.], dtype=float32)
    >>> L1Distance(weights=[1.0, 0.0], reduction="mean").distance(
    ...     [[1.0, 2.0]], [[0.0, 0.0]]).numpy()
    array([1.], dtype=float32)

    Args:
        weights: Optional per-feature weights ≥ 0.
        reduction: `"sum"` (default) or `"mean"` over the features.
        **kwargs: Keras `Layer` arguments.
    """

    def __init__(self, weights=None, reduction="sum", **kwargs):
        super().__init__(**kwargs)
        self.weights_value = feature_weights(weights)
        self.reduction = check_reduction(reduction)

    def distance(self, u, v, l2_scale=None):
        return l1(u, v, self.weights_value, self.reduction)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weights": None
                if self.weights_value is None
                else self.weights_value.tolist(),
                "reduction": self.reduction,
            }
        )
        return config


@keras_invariance_export("keras_invariance.distances.JensenShannonDivergence")
class JensenShannonDivergence(Distance):
    """JS(p(u), p(v)) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½(p + q), on outputs.

    Symmetric and bounded by ln 2 (per distribution), so one confidently
    wrong perturbed prediction cannot dominate the term as it can a KL.
    Like `KLDivergence`, inside training it compares the model's own
    distribution (softmax classes, or one Bernoulli per sigmoid unit) of
    the logits view (`keras_invariance.graph.outputs`).

    Example:

    >>> d = JensenShannonDivergence(from_logits=False)
    >>> round(float(d.distance([[1.0, 0.0]], [[0.5, 0.5]])[0]), 4)
    0.2158

    Args:
        from_logits: Whether `u` and `v` are logits or probabilities.
        distribution: `"categorical"` or `"bernoulli"`.
        **kwargs: Keras `Layer` arguments.

    Reference:
        Neural Structured Learning's `nsl.lib.jensen_shannon_divergence`
        (`DistanceType.JENSEN_SHANNON_DIVERGENCE`); Lin, "Divergence
        measures based on the Shannon entropy" (1991).
    """

    on_outputs_only = True

    def __init__(self, from_logits=True, distribution="categorical", **kwargs):
        super().__init__(**kwargs)
        if distribution not in ("categorical", "bernoulli"):
            raise ValueError(
                "`distribution` must be 'categorical' or 'bernoulli'; "
                f"received {distribution!r}."
            )
        self.from_logits = from_logits
        self.distribution = distribution

    def distance(self, u, v, l2_scale=None):
        return jensen_shannon(u, v, self.from_logits, self.distribution)

    def on_distribution(self, distribution):
        def compare(u, v):
            return jensen_shannon(u, v, True, distribution)

        return compare

    def get_config(self):
        config = super().get_config()
        config.update(
            {"from_logits": self.from_logits, "distribution": self.distribution}
        )
        return config
