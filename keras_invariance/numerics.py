"""Row norms, weighted means, jvps and the power iteration, in one place.

Penalties, perturbations and evaluation helpers all work per example (per
row of a batch) and in float32, whatever the compute dtype: these are the
shared pieces, so a norm or a reduction means the same thing everywhere.
"""

import keras
import tensorflow as tf
from keras import ops


#: Keeps 1/‖t‖ finite for an all-zero row.
NORM_EPSILON = 1e-24
#: The smallest useful finite-difference radius, in units of the compute
#: dtype's machine epsilon times ‖x‖: below it, x + ξ·d rounds back to x.
XI_RESOLUTION_FACTOR = 16.0
#: Norm orders r of ‖·‖_r^r that the derivative penalties accept.
NORM_ORDERS = (1, 2)


def flatten_rows(t):
    """Reshapes `(batch, ...)` to `(batch, features)` in float32.

    Example:

    >>> flatten_rows(np.zeros((2, 3, 4))).shape
    TensorShape([2, 12])
    """
    t = ops.cast(t, "float32")
    if len(t.shape) == 1:
        return ops.expand_dims(t, -1)
    return ops.reshape(t, (ops.shape(t)[0], -1))


def power_norm(t, order):
    """‖t_i‖_r^r per row (r ∈ {1, 2}), float32, shape `(batch,)`.

    Example:

    >>> power_norm(np.array([[3.0, -4.0]]), 2).numpy()
    array([25.], dtype=float32)
    """
    t = flatten_rows(t)
    if order == 1:
        return ops.sum(ops.abs(t), axis=-1)
    return ops.sum(ops.square(t), axis=-1)


def row_l2_norm(t, keepdims=True):
    """‖t_i‖₂ over every non-batch axis, float32, zero-safe.

    With `keepdims` the result broadcasts against `t` (shape `(batch, 1, …)`).

    Example:

    >>> row_l2_norm(np.array([[3.0, 4.0]]), keepdims=False).numpy()
    array([5.], dtype=float32)
    """
    t = ops.cast(t, "float32")
    axes = tuple(range(1, len(t.shape)))
    return ops.sqrt(
        ops.sum(ops.square(t), axis=axes, keepdims=keepdims) + NORM_EPSILON
    )


def l2_normalize_rows(t):
    """t_i / ‖t_i‖₂ per row, float32; a zero row stays zero.

    Example:

    >>> l2_normalize_rows(np.array([[3.0, 4.0]])).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """
    return ops.cast(t, "float32") / row_l2_norm(t)


def weighted_mean(values, sample_weight=None):
    """Σ_i w_i v_i / B: Keras' `sum_over_batch_size` reduction.

    Example:

    >>> float(weighted_mean(np.array([1.0, 3.0]), np.array([1.0, 0.0])))
    0.5
    """
    values = ops.cast(values, "float32")
    if sample_weight is None:
        return ops.mean(values)
    w = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    return ops.mean(values * w)


def check_order(order):
    """Returns r as an int, or raises for r ∉ {1, 2}."""
    if order not in NORM_ORDERS:
        raise ValueError(f"`order` (r) must be 1 or 2; received {order!r}.")
    return int(order)


def check_count(value, name):
    """Returns `value` as a Python int ≥ 1 (a loop unrolled at trace time).

    Example:

    >>> check_count(3, "steps")
    3
    """
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(
            f"`{name}` must be a Python int ≥ 1 (it is unrolled at trace "
            f"time); received {value!r}."
        )
    return int(value)


def double_vjp(tape, outputs, source, tangent):
    """J·t for J = ∂outputs/∂source, as the transpose of a vjp.

    v(u) = Jᵀu is linear in u, so ∇_u ⟨v(u), t⟩ = J·t at any u (u = 0
    here). `tape` must have recorded `outputs` from `source` (persistent).
    Runs backward passes only: no extra forward pass, and no
    `ForwardAccumulator` (which makes XLA recompile a train step whose
    weights change, TF 2.21 on CPU).

    Example:

    >>> x = tf.constant([[1.0, 2.0]])
    >>> with tf.GradientTape(persistent=True) as tape:
    ...     tape.watch(x)
    ...     y = 3.0 * x
    >>> double_vjp(tape, y, x, tf.constant([[1.0, 0.0]])).numpy()
    array([[3., 0.]], dtype=float32)

    Args:
        tape: A persistent `tf.GradientTape` that recorded `outputs`.
        outputs: The differentiated tensor.
        source: What it was differentiated with respect to.
        tangent: A tensor shaped like `source`.

    Returns:
        J·t, shaped like `outputs`.
    """
    u = tf.zeros_like(outputs)
    with tf.GradientTape(watch_accessed_variables=False) as transpose:
        transpose.watch(u)
        v = tape.gradient(outputs, source, output_gradients=u)
        inner = ops.sum(ops.cast(v, "float32") * ops.cast(tangent, "float32"))
    return transpose.gradient(inner, u)


def effective_xi(xi, x, compute_dtype):
    """ξ, raised to the compute dtype's resolution for 16-bit policies.

    VAT's ξ (1e-6 in its reference) vanishes when the layers compute in
    bfloat16 or float16: x + ξ·d rounds back to x and the power iteration
    sees no difference. For a 16-bit compute dtype, ξ_i is raised to at least
    `XI_RESOLUTION_FACTOR`·eps(dtype)·(‖x_i‖ + 1) per row.

    Example:

    >>> effective_xi(1e-6, np.ones((1, 4)), "float32")
    1e-06
    """
    dtype = keras.backend.standardize_dtype(compute_dtype or "float32")
    if dtype not in ("float16", "bfloat16"):
        return xi
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    return ops.maximum(xi, XI_RESOLUTION_FACTOR * eps * (row_l2_norm(x) + 1.0))


def power_iteration(forward, x, divergence, xi, iterations, start,
                    compute_dtype=None):
    """The unit direction d maximizing divergence(f(x + d)) to second order.

    Starting from `start` (d ~ N(0, I)), each iteration sets
    d ← ∇_d D(x + ξ·d̂) at the finite-difference radius ξ. Since D has a
    minimum at d = 0, its gradient there is ≈ ξ·H·d̂ (H = the Hessian of D:
    the Fisher matrix for KL, 2·JᵀJ for ‖·‖²), so this is the power method
    for H's top eigenvector. The search runs in float32 in its own tape, and
    the result carries no gradient: it never reaches the weight update.

    Example:

    >>> x = tf.zeros((1, 2))
    >>> d = power_iteration(lambda v: v * [3.0, 1.0], x,
    ...                     lambda out: tf.reduce_sum(out ** 2), 1e-3, 5,
    ...                     start=tf.ones((1, 2)))
    >>> np.round(d.numpy(), 2)
    array([[1., 0.]], dtype=float32)

    Args:
        forward: `forward(inputs) -> result` running the model.
        x: The clean (float) inputs or embeddings.
        divergence: `divergence(result) -> scalar` (summed over rows), with
            the clean reference already held constant.
        xi: ξ (scalar tensor or float).
        iterations: Python int ≥ 1.
        start: The random start, shaped like `x`.
        compute_dtype: The model's compute dtype (ξ is raised for 16-bit).

    Returns:
        d̂, float32, shaped like `x`, unit ℓ2 norm per row.

    Reference:
        Miyato et al., "Virtual Adversarial Training" (2018), eq. 8–9, as
        summarized in the noise / Jacobian / VAT connections note, §3.4.
    """
    d = ops.cast(start, "float32")
    xi = effective_xi(xi, x, compute_dtype)
    for _ in range(iterations):
        d = xi * l2_normalize_rows(d)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(d)
            value = divergence(forward(x + ops.cast(d, x.dtype)))
        d = ops.stop_gradient(tape.gradient(value, d))
    return ops.stop_gradient(l2_normalize_rows(d))

