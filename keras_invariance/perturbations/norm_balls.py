"""ℓ∞, ℓ2 and ℓ1 balls: steepest-ascent steps, projections and random points.

A search moves x̃ inside the ball ‖x̃ − x‖_p ≤ ε of one norm. Every function
here works per example and, for a model with several float inputs, jointly
over them (a list of tensors is one vector per row, as in
`keras_invariance.ops.numerics`):

* `steepest_direction(g, norm)`: the s with ‖s‖_p = 1 maximizing ⟨g, s⟩ (the
  first-order gain of a step): sign(g) for ℓ∞, g/‖g‖₂ for ℓ2, and for ℓ1 all
  the mass on the largest |g_j| (split evenly between ties), signed.
  Neural Structured Learning's `nsl.lib.maximize_within_unit_norm`.
* `project_to_ball(delta, radius, norm)`: the Euclidean projection onto the
  ball: clipping (ℓ∞), rescaling (ℓ2), soft thresholding at the θ that
  brings ‖δ‖₁ to ε (ℓ1; Duchi et al., "Efficient projections onto the
  ℓ1-ball for learning in high dimensions", 2008, Fig. 1). NSL's
  `nsl.lib.project_to_ball` (which has no ℓ1).
* `random_in_ball(parts, radius, norm, seed)`: a point drawn uniformly in
  the ball: uniform coordinates (ℓ∞), a uniform direction (normalized
  Gaussian for ℓ2, normalized Laplace for ℓ1) at radius ε·U^{1/d}. NSL's
  `nsl.lib.random_in_norm_ball`.
"""

import math

from keras import ops

from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops

#: The norms a search accepts, by name.
NORMS = ("inf", "2", "1")
#: Keeps the ℓ1 projection's division by the support size finite.
_SUPPORT_FLOOR = 1.0


def norm_name(norm):
    """`"inf"`, `"2"` or `"1"` from the usual spellings (np.inf, 2, "l1" …).

    Example:

    >>> norm_name(2), norm_name("linf"), norm_name("L1")
    ('2', 'inf', '1')
    """
    name = str(norm).lower().replace("np.", "").lstrip("l")
    if name in ("inf", "infinity"):
        return "inf"
    if name in ("2", "1"):
        return name
    raise ValueError(f"`norm` must be 'inf', 2 or 1; received {norm!r}.")


def _parts(t):
    return [ops.cast(p, "float32") for p in numerics.leaves(t)]


def _like(t, parts):
    return parts if numerics.is_tensor_list(t) else parts[0]


def _row_max(parts):
    """max_j |t_j| per row over every part, shape `(batch,)`."""
    maxima = [ops.max(ops.abs(numerics.flatten_rows(p)), axis=-1) for p in parts]
    total = maxima[0]
    for m in maxima[1:]:
        total = ops.maximum(total, m)
    return total


def _per_row(values, part):
    return ops.reshape(values, (-1,) + (1,) * (len(part.shape) - 1))


def ball_norm(delta, norm):
    """‖δ_i‖_p per row (jointly over a list), float32, shape `(batch,)`.

    Example:

    >>> ball_norm(np.array([[3.0, -4.0]]), "1").numpy()
    array([7.], dtype=float32)
    """
    norm = norm_name(norm)
    parts = _parts(delta)
    if norm == "inf":
        return _row_max(parts)
    if norm == "1":
        return numerics.power_norm(parts, 1)
    return ops.sqrt(numerics.power_norm(parts, 2))


def steepest_direction(gradient, norm):
    """argmax over ‖s‖_p ≤ 1 of ⟨g, s⟩, per row (jointly over a list), float32.

    A zero gradient row gives a zero step (the input is left unmoved).

    Example:

    >>> steepest_direction(np.array([[0.5, -2.0, 2.0]]), "1").numpy()
    array([[ 0. , -0.5,  0.5]], dtype=float32)
    >>> steepest_direction(np.array([[3.0, -4.0]]), 2).numpy()
    array([[ 0.6, -0.8]], dtype=float32)

    Args:
        gradient: g, a tensor or a list of tensors (one vector per row).
        norm: `"inf"`, `2` or `1`.

    Returns:
        s, shaped like `gradient`.
    """
    norm = norm_name(norm)
    parts = _parts(gradient)
    if norm == "inf":
        return _like(gradient, [ops.sign(p) for p in parts])
    if norm == "2":
        return numerics.l2_normalize_rows(_like(gradient, parts))
    largest = _row_max(parts)
    ties = [
        ops.cast(
            ops.logical_and(ops.abs(p) >= _per_row(largest, p), _per_row(largest, p) > 0),
            "float32",
        )
        for p in parts
    ]
    count = sum(ops.sum(numerics.flatten_rows(t), axis=-1) for t in ties)
    count = ops.maximum(count, 1.0)
    return _like(
        gradient, [ops.sign(p) * t / _per_row(count, p) for p, t in zip(parts, ties)]
    )


def project_to_ball(delta, radius, norm):
    """The Euclidean projection of δ onto ‖δ‖_p ≤ ε, per row (jointly), float32.

    Rows already inside the ball are unchanged.

    Example:

    >>> project_to_ball(np.array([[3.0, 1.0]]), 2.0, "1").numpy()
    array([[2., 0.]], dtype=float32)
    >>> project_to_ball(np.array([[3.0, -4.0]]), 1.0, 2).numpy()
    array([[ 0.6, -0.8]], dtype=float32)
    >>> project_to_ball([np.array([[3.0]]), np.array([[-0.5]])], 1.0, "inf")[0].numpy()
    array([[1.]], dtype=float32)

    Args:
        delta: δ, a tensor or a list of tensors (one vector per row).
        radius: ε (a scalar; a variable or a tensor works).
        norm: `"inf"`, `2` or `1`.

    Returns:
        The projection, shaped like `delta`.
    """
    norm = norm_name(norm)
    parts = _parts(delta)
    radius = ops.cast(radius, "float32")
    if norm == "inf":
        return _like(delta, [ops.clip(p, -radius, radius) for p in parts])
    if norm == "2":
        length = ops.sqrt(numerics.power_norm(parts, 2) + numerics.NORM_EPSILON)
        return numerics.scale_rows(_like(delta, parts), ops.minimum(1.0, radius / length))
    theta = _l1_threshold(numerics.flatten_rows(parts), radius)
    return _like(
        delta,
        [ops.sign(p) * ops.relu(ops.abs(p) - _per_row(theta, p)) for p in parts],
    )


def _l1_threshold(rows, radius):
    """θ_i ≥ 0 with Σ_j max(|v_ij| − θ_i, 0) = min(‖v_i‖₁, ε) (Duchi et al.)."""
    magnitudes = ops.flip(ops.sort(ops.abs(rows), axis=-1), axis=-1)
    cumulative = ops.cumsum(magnitudes, axis=-1)
    k = ops.cast(ops.arange(1, ops.shape(rows)[-1] + 1), "float32")
    # The support is every k with u_k > (Σ_{j ≤ k} u_j − ε)/k: a prefix.
    support = ops.sum(
        ops.cast(magnitudes * k > cumulative - radius, "float32"), axis=-1
    )
    support = ops.maximum(support, _SUPPORT_FLOOR)
    index = ops.cast(support, "int32") - 1
    total = ops.take_along_axis(cumulative, ops.expand_dims(index, -1), axis=-1)[:, 0]
    return ops.maximum((total - radius) / support, 0.0)


def random_in_ball(parts, radius, norm, seed):
    """δ drawn uniformly in the ball of radius ε, shaped like `parts` (a list).

    Draws go through `keras_invariance.ops.random_ops` (keyed to the step and
    the example inside `fit()`).

    Example:

    >>> import keras
    >>> gen = keras.random.SeedGenerator(0)
    >>> delta = random_in_ball([np.zeros((64, 5), "float32")], 0.5, "1", gen)
    >>> bool(ball_norm(delta, "1").numpy().max() <= 0.5 + 1e-6)
    True

    Args:
        parts: The float inputs (a list of tensors; their shapes are used).
        radius: ε.
        norm: `"inf"`, `2` or `1`.
        seed: A `keras.random.SeedGenerator`.

    Returns:
        A list of float32 tensors.
    """
    norm = norm_name(norm)
    radius = ops.cast(radius, "float32")
    if norm == "inf":
        return [
            radius * random_ops.uniform(ops.shape(p), -1.0, 1.0, dtype="float32", seed=seed)
            for p in parts
        ]
    if norm == "2":
        direction = numerics.l2_normalize_rows(
            [random_ops.normal(ops.shape(p), dtype="float32", seed=seed) for p in parts]
        )
    else:
        # Normalized i.i.d. Laplace coordinates are uniform on the ℓ1 sphere.
        laplace = [_laplace(ops.shape(p), seed) for p in parts]
        length = ops.maximum(numerics.power_norm(laplace, 1), numerics.NORM_EPSILON)
        direction = numerics.scale_rows(laplace, 1.0 / length)
    dims = sum(math.prod(p.shape[1:]) for p in parts)
    scale = random_ops.uniform(
        (ops.shape(parts[0])[0],), dtype="float32", seed=seed
    ) ** (1.0 / dims)
    return numerics.leaves(numerics.scale_rows(direction, radius * scale))


def _laplace(shape, seed):
    u = random_ops.uniform(shape, -0.5, 0.5, dtype="float32", seed=seed)
    return -ops.sign(u) * ops.log(ops.maximum(1.0 - 2.0 * ops.abs(u), 1e-7))
