"""Per-example distances d(u, v) between clean and perturbed activations.

Every distance flattens all but the batch axis, computes in float32 (so that
float16/bfloat16 activations neither overflow in ‖u‖² nor lose the cosine to
rounding) and returns one value per example, shape `(batch,)`.
"""

import keras
from keras import ops

from keras_invariance.api_export import keras_invariance_export
from keras_invariance.hyperparameters import add_hyperparameter
from keras_invariance.hyperparameters import value_of

# Keeps cos(u, v) and its gradient finite when u or v is the zero vector:
# sqrt(‖u‖²‖v‖² + ε) has a finite derivative at 0, sqrt(‖u‖²)·sqrt(‖v‖²) does not.
COSINE_EPSILON = 1e-12


def _flatten_float32(u):
    u = ops.cast(u, "float32")
    if len(u.shape) == 1:
        return ops.expand_dims(u, -1)
    return ops.reshape(u, (ops.shape(u)[0], -1))


def squared_l2(u, v):
    """‖u − v‖² per example, in float32."""
    u, v = _flatten_float32(u), _flatten_float32(v)
    return ops.sum(ops.square(u - v), axis=-1)


def cosine_similarity(u, v):
    """uᵀv / (‖u‖‖v‖) per example; 0 (with finite gradient) for zero vectors."""
    u, v = _flatten_float32(u), _flatten_float32(v)
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


@keras_invariance_export
class Distance(keras.layers.Layer):
    """Base class of the distances d(u, v) used by IRL and divergence penalties.

    A distance is a Keras layer only so that its own hyperparameters (e.g. the
    cosine weight λ) are tracked variables saved with the model. Call
    `distance(u, v)` directly; `Layer.__call__` is not used.

    Example:

    >>> import numpy as np
    >>> d = SquaredL2()
    >>> d.distance(np.ones((2, 3)), np.zeros((2, 3))).numpy()
    array([3., 3.], dtype=float32)

    Args:
        **kwargs: Keras `Layer` arguments such as `name`.
    """

    #: Whether the distance compares probability vectors over the last axis.
    on_outputs_only = False

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.built = True

    def distance(self, u, v):
        """Returns d(u, v) per example, shape `(batch,)`, float32.

        Args:
            u: Clean activations, shape `(batch, ...)`.
            v: Perturbed activations, same shape.

        Returns:
            A float32 tensor of shape `(batch,)`.
        """
        raise NotImplementedError

    def call(self, u, v):
        return self.distance(u, v)


@keras_invariance_export
class SquaredL2(Distance):
    """Squared Euclidean distance d(u, v) = ‖u − v‖².

    Example:

    >>> SquaredL2().distance([[1.0, 2.0]], [[0.0, 0.0]]).numpy()
    array([5.], dtype=float32)

    Reference:
        irl_invariant_representation_learning.txt, eq. 2 with d = L2.
    """

    def distance(self, u, v):
        return squared_l2(u, v)


@keras_invariance_export
class CosineDistance(Distance):
    """Cosine distance d(u, v) = 1 − cos(u, v), in [0, 2].

    A zero vector has cosine 0 with everything, so its distance is 1 and the
    gradient stays finite.

    Example:

    >>> CosineDistance().distance([[1.0, 0.0]], [[0.0, 2.0]]).numpy()
    array([1.], dtype=float32)

    Reference:
        irl_invariant_representation_learning.txt, §3, Figure 1b.
    """

    def distance(self, u, v):
        return 1.0 - cosine_similarity(u, v)


@keras_invariance_export
class L2Cosine(Distance):
    """The IRL distance d(u, v) = ‖u − v‖² − λ·uᵀv / (‖u‖‖v‖).

    The L2 part shrinks the magnitude gap and the cosine part the angle between
    clean and perturbed activations. λ (`cosine_weight`) is a non-trainable
    variable, so a tuner or a schedule can change it without retracing.

    Example:

    >>> d = L2Cosine(cosine_weight=0.5)
    >>> d.distance([[1.0, 0.0]], [[1.0, 0.0]]).numpy()
    array([-0.5], dtype=float32)

    Args:
        cosine_weight: λ ≥ 0, the weight of the negative cosine similarity.
        **kwargs: Keras `Layer` arguments.

    Reference:
        irl_invariant_representation_learning.txt, §1, d(u, v) = ‖u−v‖² − λ·cos.
    """

    def __init__(self, cosine_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.cosine_weight = add_hyperparameter(self, "cosine_weight", cosine_weight)

    def distance(self, u, v):
        return squared_l2(u, v) - self.cosine_weight * cosine_similarity(u, v)

    def get_config(self):
        config = super().get_config()
        config.update({"cosine_weight": value_of(self.cosine_weight)})
        return config


@keras_invariance_export
class KLDivergence(Distance):
    """KL(p(u) ‖ p(v)) between output distributions over the last axis.

    Example:

    >>> KLDivergence(from_logits=True).distance([[0.0, 0.0]], [[0.0, 0.0]]).numpy()
    array([0.], dtype=float32)

    Args:
        from_logits: Whether `u` and `v` are logits (softmax is applied) or
            probabilities.
        **kwargs: Keras `Layer` arguments.

    Reference:
        invariance_inducing_regularization_spatial.txt (KL regularizer);
        noise_jacobian_vat_connections.txt (VAT's KL).
    """

    on_outputs_only = True

    def __init__(self, from_logits=True, **kwargs):
        super().__init__(**kwargs)
        self.from_logits = from_logits

    def distance(self, u, v):
        p = _probabilities(u, self.from_logits)
        kl = p * (
            _log_probabilities(u, self.from_logits)
            - _log_probabilities(v, self.from_logits)
        )
        return _sum_per_example(kl)

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config


@keras_invariance_export
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
        irl_invariant_representation_learning.txt, eq. 5.
    """

    on_outputs_only = True

    def __init__(self, from_logits=True, **kwargs):
        super().__init__(**kwargs)
        self.from_logits = from_logits

    def distance(self, u, v):
        target = ops.stop_gradient(_probabilities(u, self.from_logits))
        return _sum_per_example(-target * _log_probabilities(v, self.from_logits))

    def get_config(self):
        config = super().get_config()
        config.update({"from_logits": self.from_logits})
        return config


_ALIASES = {
    "squared_l2": SquaredL2,
    "l2": SquaredL2,
    "mse": SquaredL2,
    "cosine": CosineDistance,
    "l2_cosine": L2Cosine,
    "irl": L2Cosine,
    "kl": KLDivergence,
    "kl_divergence": KLDivergence,
    "cross_entropy": CrossEntropy,
    "model_risk": CrossEntropy,
}


def get(identifier):
    """Resolves a distance from a string, config dict, class or instance.

    Example:

    >>> type(get("l2_cosine")).__name__
    'L2Cosine'

    Args:
        identifier: One of `"squared_l2"`, `"cosine"`, `"l2_cosine"`, `"kl"`,
            `"cross_entropy"` (aliases `"l2"`, `"irl"`, `"model_risk"`), a
            serialized config, a `Distance` subclass or instance.

    Returns:
        A `Distance` instance.

    Raises:
        ValueError: For an unknown identifier; the message lists the names.
    """
    if isinstance(identifier, Distance):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Distance):
        return identifier()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str) and identifier.lower() in _ALIASES:
        return _ALIASES[identifier.lower()]()
    raise ValueError(
        f"Unknown distance {identifier!r}. Use one of "
        f"{sorted(_ALIASES)} or a `keras_invariance.distances.Distance`."
    )


def serialize(distance):
    """Serializes a `Distance` for a config."""
    return keras.saving.serialize_keras_object(distance)
