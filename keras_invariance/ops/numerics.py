"""Row norms, weighted means, jvps and the power iteration, in one place.

Penalties, perturbations and evaluation helpers all work per example (per
row of a batch) and in float32, whatever the compute dtype: these are the
shared pieces, so a norm or a reduction means the same thing everywhere.
"""

import keras
from keras import ops
import tensorflow as tf

#: Keeps 1/‖t‖ finite for an all-zero row.
NORM_EPSILON = 1e-24
#: The smallest useful finite-difference radius, in units of the compute
#: dtype's machine epsilon times ‖x‖: below it, x + ξ·d rounds back to x.
XI_RESOLUTION_FACTOR = 16.0
#: Norm orders r of ‖·‖_r^r that the derivative penalties accept.
NORM_ORDERS = (1, 2)


def leaves(t):
    """`t` as a list of tensors (a list or tuple of inputs stays a list).

    Example:

    >>> len(leaves([np.zeros(1), np.zeros(2)])), len(leaves(np.zeros(3)))
    (2, 1)
    """
    return list(t) if is_tensor_list(t) else [t]


def is_tensor_list(t):
    """Whether `t` is a list/tuple of tensors (not one nested Python list)."""
    return isinstance(t, (list, tuple)) and any(part is not None for part in t) and all(
        part is None or hasattr(part, "shape") for part in t
    )


def _flat_rows(t):
    t = ops.cast(t, "float32")
    if len(t.shape) == 1:
        return ops.expand_dims(t, -1)
    features = 1
    for dim in t.shape[1:]:
        if dim is None:
            return ops.reshape(t, (ops.shape(t)[0], -1))
        features *= dim
    # The static feature count survives a dynamic batch size (fit()'s last,
    # partial batch traces one): reshape(t, (batch, -1)) would lose it.
    return ops.reshape(t, (-1, features))


def flatten_rows(t):
    """Reshapes `(batch, ...)` to `(batch, features)` in float32.

    A list of tensors (the float inputs of a multi-input model) is one
    vector per row: their features are concatenated.

    Example:

    >>> flatten_rows(np.zeros((2, 3, 4))).shape
    TensorShape([2, 12])
    >>> flatten_rows([np.zeros((2, 3)), np.zeros((2, 1))]).shape
    TensorShape([2, 4])
    """
    parts = [_flat_rows(p) for p in leaves(t)]
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


def power_norm(t, order):
    """‖t_i‖_r^r per row (r ∈ {1, 2}), float32, shape `(batch,)`.

    Example:

    >>> power_norm(np.array([[3.0, -4.0]]), 2).numpy()
    array([25.], dtype=float32)
    """
    total = 0.0
    for part in leaves(t):
        if part is None:
            # The gradient of an input with no path to the outputs: zero.
            continue
        part = _flat_rows(part)
        if order == 1:
            total += ops.sum(ops.abs(part), axis=-1)
        else:
            total += ops.sum(ops.square(part), axis=-1)
    return total


def scale_rows(t, scale):
    """Multiplies row i of `t` (a tensor or list) by `scale[i]` (or a scalar).

    Example:

    >>> scale_rows(np.ones((2, 2)), np.array([1.0, 3.0])).numpy().tolist()
    [[1.0, 1.0], [3.0, 3.0]]
    """
    scale = ops.cast(scale, "float32")

    def one(part):
        part = ops.cast(part, "float32")
        if len(scale.shape) == 0:
            return part * scale
        return part * ops.reshape(scale, (-1,) + (1,) * (len(part.shape) - 1))

    out = [one(p) for p in leaves(t)]
    return out if is_tensor_list(t) else out[0]


def row_l2_norm(t, keepdims=True):
    """‖t_i‖₂ over every non-batch axis (and every tensor of a list), zero-safe.

    With `keepdims` and a single tensor the result broadcasts against `t`
    (shape `(batch, 1, …)`); otherwise it has shape `(batch,)`.

    Example:

    >>> row_l2_norm(np.array([[3.0, 4.0]]), keepdims=False).numpy()
    array([5.], dtype=float32)
    """
    norm = ops.sqrt(power_norm(t, 2) + NORM_EPSILON)
    if keepdims and not is_tensor_list(t):
        rank = len(ops.convert_to_tensor(t).shape)
        return ops.reshape(norm, (-1,) + (1,) * (rank - 1))
    return norm


def l2_normalize_rows(t):
    """t_i / ‖t_i‖₂ per row, float32; a zero row stays zero (lists: jointly).

    Example:

    >>> l2_normalize_rows(np.array([[3.0, 4.0]])).numpy()
    array([[0.6, 0.8]], dtype=float32)
    """
    return scale_rows(t, 1.0 / row_l2_norm(t, keepdims=False))


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
        source: What it was differentiated with respect to (a tensor or a
            list of tensors).
        tangent: Shaped like `source`.

    Returns:
        J·t, shaped like `outputs`.
    """
    u = tf.zeros_like(outputs)
    with tf.GradientTape(watch_accessed_variables=False) as transpose:
        transpose.watch(u)
        # A source the outputs do not depend on (a mask input, an unused
        # feature) contributes J·t = 0, not an error.
        v = tape.gradient(outputs, source, output_gradients=u,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
        inner = 0.0
        for v_part, t_part in zip(leaves(v), leaves(tangent)):
            inner += ops.sum(ops.cast(v_part, "float32") * ops.cast(t_part, "float32"))
    # A constant seed: the default one, ones_like(inner), would keep the
    # vjp Jᵀu itself (a backward pass whose values are never used) alive.
    return transpose.gradient(inner, u, output_gradients=tf.constant(1.0),
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)


def effective_xi(xi, x, compute_dtype):
    """ξ, raised to the compute dtype's resolution for 16-bit policies.

    VAT's ξ (1e-6 in its reference) vanishes when the layers compute in
    bfloat16 or float16: x + ξ·d rounds back to x and the power iteration
    sees no difference. For a 16-bit compute dtype, ξ_i is raised to at least
    `XI_RESOLUTION_FACTOR`·eps(dtype)·(‖x_i‖ + 1) per row (shape `(batch,)`).

    Example:

    >>> effective_xi(1e-6, np.ones((1, 4)), "float32")
    1e-06
    """
    dtype = keras.backend.standardize_dtype(compute_dtype or "float32")
    if dtype not in ("float16", "bfloat16"):
        return xi
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    return ops.maximum(
        xi, XI_RESOLUTION_FACTOR * eps * (row_l2_norm(x, keepdims=False) + 1.0)
    )


def power_iteration(forward, x, divergence, xi, iterations, start,
                    compute_dtype=None):
    """The unit direction d maximizing divergence(f(x + d)) to second order.

    Starting from `start` (d ~ N(0, I)), each iteration sets d ← H·d̂ and
    normalizes, the power method for the top eigenvector of H, the Hessian
    of r ↦ D(f(x + r)) at r = 0. D has its minimum where f(x + r) equals the
    clean reference, so there H is the Gauss–Newton matrix JᵀH_D J (J = ∂f/∂x,
    H_D the Hessian of D in the outputs: the Fisher matrix for a KL, 2·I
    for ‖·‖²).

    `xi=None` (default of the package's terms) computes H·d exactly: J·d by
    a double vjp, H_D by double backprop of D on the outputs alone (cheap),
    then one vjp. Every step is a product of tensors of the size of the
    activations, so float32 rounding stays at float32's relative level and
    the same seed gives the same run on any device count, jit or not.

    `xi=ξ > 0` is the VAT reference's finite difference:
    d ← ∇_d D(f(x + ξ·d̂)) ≈ ξ·H·d̂. With its ξ = 1e-6, q − p is ~1e-6
    against probabilities ~0.1–1, so float32 rounding leaves a few percent
    of noise in d̂, which later steps amplify (runs on 1 and 2 devices
    drifted apart by 1.8e-3 after 8 steps). For 16-bit compute dtypes ξ is
    raised to the dtype's resolution (`effective_xi`).

    The search runs in its own tapes and the result carries no gradient: it
    never reaches the weight update.

    Example:

    >>> x = tf.zeros((1, 2))
    >>> d = power_iteration(lambda v: v * [3.0, 1.0], x,
    ...                     lambda out: tf.reduce_sum(out ** 2), None, 5,
    ...                     start=tf.ones((1, 2)))
    >>> np.round(d.numpy(), 2)
    array([[1., 0.]], dtype=float32)

    Args:
        forward: `forward(inputs) -> outputs`, a tensor or a list of
            tensors (e.g. several tapped layers).
        x: The clean (float) inputs or embeddings: a tensor, or a list of
            tensors searched as one vector per row.
        divergence: `divergence(outputs) -> scalar` (summed over rows), with
            the clean reference already held constant; minimal (zero) at the
            reference.
        xi: `None` for the exact product, or ξ > 0 (scalar tensor or float)
            for the finite difference.
        iterations: Python int ≥ 1.
        start: The random start, shaped like `x`.
        compute_dtype: The model's compute dtype (ξ is raised for 16-bit).

    Returns:
        d̂, float32, shaped like `x`, unit ℓ2 norm per row (jointly over a
        list).

    Reference:
        Miyato et al., "Virtual Adversarial Training" (2018), eq. 8–9, as
        summarized in the noise / Jacobian / VAT connections note, §3.4.
    """
    d = start
    if xi is None:
        for _ in range(iterations):
            d = gauss_newton_product(forward, x, divergence, l2_normalize_rows(d))
        return tf.nest.map_structure(ops.stop_gradient, l2_normalize_rows(d))
    xi = effective_xi(xi, x, compute_dtype)
    for _ in range(iterations):
        d = scale_rows(l2_normalize_rows(d), xi)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(d)
            value = divergence(forward(add_rows(x, d)))
        # An input without a gradient path gets 0 (it stays unperturbed).
        d = tf.nest.map_structure(ops.stop_gradient, tape.gradient(
            value, d, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    return tf.nest.map_structure(ops.stop_gradient, l2_normalize_rows(d))


def gauss_newton_product(forward, x, divergence, tangent):
    """Jᵀ·H_D·J·t, float32: the Hessian of D(f(x + r)) at its minimum, times t.

    J·t comes from a double vjp of one forward pass; H_D·(J·t) from double
    backprop of `divergence` on the outputs alone (evaluated at f(x), which
    needs no reference: the Hessian of a KL in the logits depends on them
    only); Jᵀ· from one more vjp of the same pass.

    Example:

    >>> x = tf.ones((1, 2))
    >>> gauss_newton_product(lambda v: 3.0 * v, x,
    ...                      lambda out: tf.reduce_sum(out ** 2),
    ...                      tf.constant([[1.0, 0.0]])).numpy()
    array([[18.,  0.]], dtype=float32)

    Args:
        forward: `forward(inputs) -> outputs` (a tensor or list).
        x: Inputs (a tensor or a list), held constant.
        divergence: `divergence(outputs) -> scalar`.
        tangent: t, shaped like `x`.

    Returns:
        The product, shaped like `x` (float32, no gradient).
    """
    x = tf.nest.map_structure(ops.stop_gradient, x)
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(x)
        outputs = forward(x)
    parts = [ops.cast(o, "float32") for o in leaves(outputs)]
    directional = _jvp_parts(tape, outputs, x, tangent)
    curvature = _output_hessian_product(divergence, outputs, parts, directional)
    product = tape.gradient(
        leaves(outputs),
        leaves(x),
        output_gradients=[
            ops.cast(c, o.dtype) for c, o in zip(curvature, leaves(outputs))
        ],
        unconnected_gradients=tf.UnconnectedGradients.ZERO,
    )
    del tape
    product = [ops.stop_gradient(ops.cast(p, "float32")) for p in product]
    return product if is_tensor_list(x) else product[0]


def _jvp_parts(tape, outputs, x, tangent):
    """[J_o·t for each output o], by the transpose of one vjp (float32)."""
    outs = leaves(outputs)
    probes = [tf.zeros_like(o) for o in outs]
    with tf.GradientTape(watch_accessed_variables=False) as transpose:
        transpose.watch(probes)
        pulled = tape.gradient(
            outs, leaves(x), output_gradients=probes,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        inner = 0.0
        for v_part, t_part in zip(pulled, leaves(tangent)):
            inner += ops.sum(ops.cast(v_part, "float32") * ops.cast(t_part, "float32"))
    return [
        ops.cast(j, "float32")
        for j in transpose.gradient(
            inner, probes, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
    ]


def _output_hessian_product(divergence, outputs, parts, vectors):
    """[H_D·v], the Hessian of `divergence` in the outputs, at `parts`."""
    points = [ops.stop_gradient(p) for p in parts]
    with tf.GradientTape(watch_accessed_variables=False) as outer:
        outer.watch(points)
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(points)
            rebuilt = points if is_tensor_list(outputs) else points[0]
            value = divergence(rebuilt)
        slopes = inner.gradient(
            value, points, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        along = 0.0
        for slope, vector in zip(slopes, vectors):
            along += ops.sum(slope * ops.stop_gradient(vector))
    return outer.gradient(
        along, points, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )


def add_rows(x, delta):
    """x + δ for a tensor or a list of tensors, in x's dtypes.

    Example:

    >>> add_rows([np.zeros(2, "float32")], [np.ones(2)])[0].numpy().tolist()
    [1.0, 1.0]
    """
    out = [
        x_part + ops.cast(d_part, x_part.dtype)
        for x_part, d_part in zip(leaves(x), leaves(delta))
    ]
    return out if is_tensor_list(x) else out[0]



def global_mean(values, axis=None):
    """The mean of `values` over the global batch: every replica's rows.

    Outside a `tf.distribute` replica context (or on one device) it is
    `mean(values)`; on N replicas it sums the values and the row counts over
    the replicas, so uneven last batches average as one device would. The
    cross-replica sum is differentiable (its gradient is the sum of the
    replicas' gradients), so a statistic built on it can stay in the
    gradient. `axis=0` averages rows `(n, d)` into the global mean row.

    Example:

    >>> float(global_mean(np.array([1.0, 2.0, 6.0])))
    3.0
    >>> global_mean(np.array([[1.0, 2.0], [3.0, 6.0]]), axis=0).numpy().tolist()
    [2.0, 4.0]
    """
    if axis == 0:
        rows = ops.cast(values, "float32")
        total = ops.sum(rows, axis=0)
        count = ops.cast(ops.shape(rows)[0], "float32")
        return _all_reduce_mean(total, count)
    values = ops.cast(ops.reshape(values, (-1,)), "float32")
    total, count = ops.sum(values), ops.cast(ops.shape(values)[0], "float32")
    return _all_reduce_mean(total, count)


def _all_reduce_mean(total, count):
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        total, count = context.all_reduce(
            tf.distribute.ReduceOp.SUM, [total, count]
        )
    return total / ops.maximum(count, 1.0)
