"""Projected sign-gradient ascent over per-row transform parameters (S-PGD).

Shared by `keras_invariance.perturbations.SpatialPGD` (training) and
`keras_invariance.evaluation.spatial_pgd_accuracy` (the attack).

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019): "S-PGD: Projected Gradient Descent with respect to the
    transformation parameters".
"""

from keras import ops
import tensorflow as tf


def spatial_pgd_search(
    x,
    start,
    low,
    high,
    step_size,
    steps,
    objective_fn,
    apply_fn,
    keep_best=True,
    return_trace=False,
):
    """Projected sign-gradient ascent over per-row transform parameters.

    θ ← clip(θ + step_size ⊙ sign(∇θ Σ_i o_i(θ_i)), low, high), `steps`
    times, where `o_i` is row i's objective (loss or divergence) at
    `apply_fn(x, θ)`. Summing over rows makes each row's gradient its own.
    Used by `SpatialPGD` (training) and by
    `keras_invariance.evaluation.spatial_pgd_accuracy` (attack).

    Bilinear warps make the objective piecewise smooth in the translation,
    with kinks at whole-pixel shifts, so sign steps can oscillate about a
    kink; `keep_best` therefore returns, per row, the visited point with the
    largest objective (one more forward pass, for the final point).

    Args:
        x: Images `(N, H, W, C)`.
        start: float32 `(N, P)` start parameters (inside the box).
        low: float32 `(P,)` lower box limits.
        high: float32 `(P,)` upper box limits.
        step_size: float32 `(P,)` step per parameter.
        steps: Python int ≥ 1.
        objective_fn: `images -> (per-row objective (N,), extra)`; `extra`
            (e.g. the model outputs) is returned in the trace.
        apply_fn: `(images, params) -> warped images`.
        keep_best: Return each row's best visited point (default) rather
            than the last one.
        return_trace: Also return the `(params, extra)` of every point the
            ascent evaluated (the start, each step, and the last point when
            `keep_best`).

    Returns:
        The parameters `(N, P)` (no gradient), and with `return_trace` the
        trace.

    Example:

    >>> x = tf.zeros((2, 1))
    >>> params = spatial_pgd_search(
    ...     x, tf.zeros((2, 1)), tf.constant([-1.0]), tf.constant([1.0]),
    ...     tf.constant([0.5]), 3,
    ...     objective_fn=lambda warped: (tf.reduce_sum(warped, axis=1), None),
    ...     apply_fn=lambda images, p: images + p)
    >>> params.numpy().ravel().tolist()
    [1.0, 1.0]
    """
    params = ops.stop_gradient(ops.cast(start, "float32"))
    trace = []
    best_params, best_values = None, None

    def update_best(params, values):
        nonlocal best_params, best_values
        values = ops.stop_gradient(ops.cast(values, "float32"))
        if best_params is None:
            best_params, best_values = params, values
            return
        better = values > best_values
        best_params = ops.where(better[:, None], params, best_params)
        best_values = ops.where(better, values, best_values)

    for _ in range(int(steps)):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(params)
            values, extra = objective_fn(apply_fn(x, params))
            total = ops.sum(values)
        gradient = tape.gradient(total, params)
        trace.append((params, extra))
        update_best(params, values)
        params = params + step_size * ops.sign(gradient)
        params = ops.stop_gradient(ops.clip(params, low, high))
    if keep_best:
        values, extra = objective_fn(apply_fn(x, params))
        trace.append((params, extra))
        update_best(params, values)
        params = best_params
    if return_trace:
        return params, trace
    return params
