"""Accuracy under spatial attacks: worst-case grid, random, worst-of-k, S-PGD.

All three metrics transform each test image with the differentiable warps of
`keras_invariance.spatial` (translations in pixels and rotations in degrees,
signs as in `keras.layers.RandomTranslation` / `RandomRotation`) and count an
example as correct only if the model classifies it correctly under every
transform it was attacked with.

The S-PGD attack is the search of `keras_invariance.perturbations.SpatialPGD` (the same
code trains with S-PGD), run in inference mode on the cross-entropy of the
true labels, through a `StepContext` built around the plain model.

Work is batched as `batch_size` examples times `grid_batch_size` transforms
per model call (2048 images with the defaults), inside one `tf.function`
that warps, predicts and reduces to a per-example "still correct" flag. The
flags are AND-accumulated over transform chunks, and a batch stops early once
every example in it has been broken.

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019): "grid search over 775 values". Engstrom et al., "Exploring
    the Landscape of Spatial Robustness" (ICML 2019), Section 5 (grid,
    random and worst-of-10 attacks).
"""

import weakref

import numpy as np
import tensorflow as tf

from keras_invariance import spatial
from keras_invariance.engine.context import StepContext
from keras_invariance.engine.context import inference_scores
from keras_invariance.evaluation import common
from keras_invariance.perturbations.spatial import SpatialPGD

# Traced steps per model, so that evaluating the same model again (say, in
# a callback every epoch) does not retrace. Weak keys let models be freed.
_STEPS = weakref.WeakKeyDictionary()


def _get_step(model, fill_mode, fill_value, jit_compile):
    key = (fill_mode, float(fill_value), bool(jit_compile))
    try:
        per_model = _STEPS.setdefault(model, {})
    except TypeError:  # not weak-referenceable: build a fresh step
        return _make_step(model, fill_mode, fill_value, jit_compile)
    if key not in per_model:
        # The cached step holds the model weakly, or the cache entry would
        # keep its own key alive.
        ref = weakref.ref(model)
        per_model[key] = _make_step(ref, fill_mode, fill_value, jit_compile)
    return per_model[key]


def _make_step(model, fill_mode, fill_value, jit_compile):
    """A compiled `(x, y, params) -> all-correct flags` for one chunk.

    `model` is the model or a `weakref.ref` to it.
    """

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def step(images, labels, params):
        # params: (b, k, P) per-example transforms (shared grids are
        # broadcast by the caller). Example-major order so that the reshape
        # below groups the k predictions of each example.
        b = tf.shape(images)[0]
        k = tf.shape(params)[1]
        tiled = tf.repeat(images, k, axis=0)
        flat = tf.reshape(params, [b * k, params.shape[-1]])
        warped = spatial.apply_spatial_params(
            tiled, flat, fill_mode=fill_mode, fill_value=fill_value
        )
        m = model() if isinstance(model, weakref.ref) else model
        scores = inference_scores(m, warped)
        if scores.shape.rank != 2:
            raise ValueError(
                "The model must return class scores of shape (batch, "
                f"num_classes); received shape {scores.shape}."
            )
        pred = tf.argmax(scores, axis=-1, output_type=tf.int64)
        correct = tf.equal(pred, tf.repeat(labels, k))
        return tf.reduce_all(tf.reshape(correct, [b, k]), axis=1)

    return step


def _all_correct(model, x, y, params, shared, batch_size, grid_batch_size,
                 fill_mode, fill_value, jit_compile, who):
    """Per-example flags: correct under every transform in `params`.

    `params` is `(k, P)` shared by every example when `shared`, else
    `(n, k, P)` per example.
    """
    if batch_size < 1 or grid_batch_size < 1:
        raise ValueError(
            "`batch_size` and `grid_batch_size` must be positive; received "
            f"{batch_size} and {grid_batch_size}."
        )
    labels = common.checked_inputs(x, y, who, images=True)
    n = len(labels)
    params = np.asarray(params, dtype=np.float32)
    if shared:
        params = params[_hardest_first(params)]
    k = params.shape[-2]
    chunk = min(grid_batch_size, k)
    budget = batch_size * chunk
    step = _get_step(model, fill_mode, fill_value, jit_compile)
    flags = np.zeros(n, dtype=bool)
    for start, xb, yb in common.float_batches(x, labels, batch_size):
        # Rows already broken leave the batch, and the survivors get more
        # transforms per call, so a call keeps ~`budget` images. Rows and
        # transforms are padded (repeating one, which leaves the AND
        # unchanged) to powers of two, so few shapes are traced.
        alive = np.arange(xb.shape[0])
        g = 0
        while g < k and alive.size:
            rows = _next_power_of_two(alive.size)
            width = chunk * _floor_power_of_two(max(1, budget // rows // chunk))
            index = np.concatenate([alive, np.repeat(alive[:1], rows - alive.size)])
            if shared:
                block = _padded(params[g:g + width], width)
                pb = np.broadcast_to(block[None], (rows,) + block.shape)
            else:
                pb = _padded(params[start + index, g:g + width], width)
            ok = step(tf.gather(xb, index), tf.gather(yb, index),
                      tf.constant(pb)).numpy()
            alive = alive[ok[:alive.size]]
            g += width
        flags[start + alive] = True
    return flags


def _padded(params, width):
    """Pads the transform axis to `width` by repeating the last transform."""
    pad = width - params.shape[-2]
    if pad <= 0:
        return params
    reps = np.repeat(params[..., -1:, :], pad, axis=-2)
    return np.concatenate([params, reps], axis=-2)


def _next_power_of_two(n):
    return 1 << (int(n) - 1).bit_length()


def _floor_power_of_two(n):
    return 1 << (int(n).bit_length() - 1)


def _hardest_first(grid):
    """An order of a shared grid, largest transforms first.

    The AND over the grid does not depend on the order; trying the largest
    translations and rotations first breaks most examples soonest, so they
    leave the batch early.
    """
    magnitude = np.abs(grid.copy())
    if grid.shape[-1] > 3:
        magnitude[:, 3:] = np.abs(grid[:, 3:] - 1.0)
    scale = magnitude.max(axis=0)
    scale[scale == 0] = 1.0
    return np.argsort(-(magnitude / scale).sum(axis=1), kind="stable")


def grid_accuracy(
    model,
    x,
    y,
    grid=None,
    batch_size=64,
    grid_batch_size=32,
    fill_mode="constant",
    fill_value=0.0,
    jit_compile=False,
    return_per_example=False,
):
    """Worst-case accuracy over a grid of spatial transforms.

    An example counts as correct only if the model classifies it correctly
    under every transform of the grid. The default grid is the paper's:
    5 x 5 translations within +-3 px times 31 rotations within +-30 degrees,
    775 transforms (`keras_invariance.spatial.spatial_grid()`).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    >>> y = [0, 1, 2, 0]
    >>> from keras_invariance.evaluation import clean_accuracy
    >>> grid = spatial.spatial_grid(1, 10, (3, 3, 3))  # 27 transforms
    >>> grid_accuracy(model, x, y, grid) <= clean_accuracy(model, x, y)
    True

    Args:
        model: a Keras model (called with `training=False`) or any callable
            mapping float images to class scores `(batch, num_classes)`.
        x: float images `(n, height, width, channels)`, numpy or tensor.
        y: sparse integer labels `(n,)` or `(n, 1)`, or one-hot
            `(n, num_classes)`.
        grid: transforms `(k, 3)` of `(dx, dy, angle)` or `(k, 4)` with a
            scale column; defaults to `spatial_grid()` (775 rows). Include
            the identity if the clean image should count too (the default
            grid does).
        batch_size: examples per model call.
        grid_batch_size: transforms per model call, so each call sees
            `batch_size * grid_batch_size` images.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: fill for `"constant"`.
        jit_compile: compile the warp + predict step with XLA.
        return_per_example: also return the boolean per-example flags.

    Returns:
        Python float in `[0, 1]`, or `(accuracy, flags)` with
        `return_per_example=True`.

    Raises:
        ValueError: for non-float images, mismatched lengths, bad label or
            grid shapes, or a model that does not return `(batch, classes)`.

    Reference:
        Yang et al. (2019), evaluation "grid search over 775 values";
        Engstrom et al. (2019), Section 5.
    """
    grid = spatial.spatial_grid() if grid is None else grid
    grid = np.asarray(grid, dtype=np.float32)
    if grid.ndim != 2 or grid.shape[1] not in (3, 4) or len(grid) == 0:
        raise ValueError(
            "`grid` must have shape (k, 3) of (dx, dy, angle) or (k, 4) with "
            f"a scale column; received {grid.shape}."
        )
    flags = _all_correct(model, x, y, grid, True, batch_size,
                         grid_batch_size, fill_mode, fill_value, jit_compile,
                         "grid_accuracy")
    acc = float(flags.mean()) if len(flags) else 0.0
    return (acc, flags) if return_per_example else acc


def _random_params(n, k, translation, rotation, scale, seed):
    params = spatial.sample_spatial_params(
        n * k, translation=translation, rotation=rotation, scale=scale,
        seed=seed,
    )
    return params.numpy().reshape(n, k, -1)


def worst_of_k_accuracy(
    model,
    x,
    y,
    k=10,
    translation=3.0,
    rotation=30.0,
    scale=None,
    seed=0,
    batch_size=64,
    grid_batch_size=32,
    fill_mode="constant",
    fill_value=0.0,
    jit_compile=False,
    return_per_example=False,
):
    """Accuracy when each example must survive k random transforms.

    Draws `k` transforms per example uniformly in the box and counts the
    example correct only if all `k` are classified correctly. Engstrom et al.
    keep the draw with the highest loss; requiring all `k` to be correct is
    at least as strict (it never scores higher) and needs no loss function.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    >>> acc = worst_of_k_accuracy(model, x, [0, 1, 2, 0], k=5, translation=1)
    >>> 0.0 <= acc <= 1.0
    True

    Args:
        model: a Keras model or callable returning class scores.
        x: float images `(n, height, width, channels)`.
        y: sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        k: draws per example.
        translation: limit in pixels for `|dx|`, `|dy|` (number or pair).
        rotation: limit in degrees.
        scale: optional `(low, high)` scale range.
        seed: int seed for the stateless draws (reproducible).
        batch_size: examples per model call.
        grid_batch_size: draws per model call.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: fill for `"constant"`.
        jit_compile: compile the warp + predict step with XLA.
        return_per_example: also return the boolean per-example flags.

    Returns:
        Python float in `[0, 1]`, or `(accuracy, flags)`.

    Reference:
        Engstrom et al. (2019), Section 5, worst-of-k; Yang et al. (2019).
    """
    n = len(common.checked_inputs(x, y, "worst_of_k_accuracy", images=True))
    params = _random_params(n, k, translation, rotation, scale, seed)
    flags = _all_correct(model, x, y, params, False, batch_size,
                         grid_batch_size, fill_mode, fill_value, jit_compile,
                         "worst_of_k_accuracy")
    acc = float(flags.mean()) if n else 0.0
    return (acc, flags) if return_per_example else acc


def random_transform_accuracy(
    model,
    x,
    y,
    translation=3.0,
    rotation=30.0,
    scale=None,
    seed=0,
    batch_size=256,
    fill_mode="constant",
    fill_value=0.0,
    jit_compile=False,
):
    """Accuracy under one uniformly drawn transform per example.

    This is the "random" attack: the average-case counterpart of
    `grid_accuracy`, i.e. the accuracy data augmentation optimizes.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    >>> 0.0 <= random_transform_accuracy(model, x, [0, 1, 2, 0]) <= 1.0
    True

    Args:
        model: a Keras model or callable returning class scores.
        x: float images `(n, height, width, channels)`.
        y: sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        translation: limit in pixels for `|dx|`, `|dy|` (number or pair).
        rotation: limit in degrees.
        scale: optional `(low, high)` scale range.
        seed: int seed for the stateless draws (reproducible).
        batch_size: examples per model call.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: fill for `"constant"`.
        jit_compile: compile the warp + predict step with XLA.

    Returns:
        Python float in `[0, 1]`.

    Reference:
        Engstrom et al. (2019), Section 5 ("random"); Yang et al. (2019).
    """
    n = len(common.checked_inputs(x, y, "random_transform_accuracy", images=True))
    params = _random_params(n, 1, translation, rotation, scale, seed)
    flags = _all_correct(model, x, y, params, False, batch_size, 1,
                         fill_mode, fill_value, jit_compile,
                         "random_transform_accuracy")
    return float(flags.mean()) if n else 0.0


def spatial_pgd_accuracy(
    model,
    x,
    y,
    steps=10,
    step_size=None,
    translation=3.0,
    rotation=30.0,
    scale=None,
    random_start=True,
    restarts=1,
    objective="loss",
    from_logits=None,
    seed=0,
    batch_size=128,
    fill_mode="constant",
    fill_value=0.0,
    jit_compile=False,
    return_per_example=False,
):
    """Accuracy under S-PGD: sign-gradient ascent over (dx, dy, angle).

    For each example, `restarts` ascents of `steps` projected sign-gradient
    steps on the transform parameters, inside the box (±3 px, ±30° by
    default), maximize the cross-entropy of the true label. An example
    counts as correct only if the model classifies it correctly on the clean
    image and at every point any ascent visited (its start, each step and
    its end), so the attack is at least as strong as its final iterate.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    >>> 0.0 <= spatial_pgd_accuracy(model, x, [0, 1, 2, 0], steps=3) <= 1.0
    True

    Args:
        model: A Keras model (called with `training=False`) or a callable
            mapping float images to class scores `(batch, num_classes)`.
        x: float images `(n, height, width, channels)`.
        y: sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        steps: Ascent steps (Python int ≥ 1).
        step_size: Step per parameter `(dx, dy, angle[, scale])`; default
            2.5 × half the box width / steps.
        translation: Box limit of |dx|, |dy| in pixels (number or pair).
        rotation: Box limit of |angle| in degrees.
        scale: Optional `(low, high)` magnification range.
        random_start: Start each ascent uniformly in the box (default) or at
            the identity.
        restarts: Independent ascents per example (Python int ≥ 1).
        objective: `"loss"` (cross-entropy, default), `"kl"` or `"l2"`
            (divergence from the clean outputs).
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation (a softmax or sigmoid: no).
        seed: int seed of the random starts (reproducible).
        batch_size: Examples per ascent.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: Fill for `"constant"`.
        jit_compile: Compile the ascent with XLA.
        return_per_example: Also return the boolean per-example flags.

    Returns:
        Python float in `[0, 1]`, or `(accuracy, flags)`.

    Raises:
        ValueError: For non-float images, mismatched lengths, bad labels or
            arguments, or a model that does not return `(batch, classes)`.

    Reference:
        Yang et al. (2019), S-PGD: "Projected Gradient Descent with respect
        to the transformation parameters".
    """
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"`restarts` must be an integer ≥ 1; received {restarts!r}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; received {batch_size}.")
    labels = common.checked_inputs(x, y, "spatial_pgd_accuracy", images=True)
    n = len(labels)
    attack = SpatialPGD(
        steps=steps,
        step_size=step_size,
        translation=translation,
        rotation=rotation,
        scale=scale,
        random_start=random_start,
        objective=objective,
        from_logits=from_logits,
        training=False,
        fill_mode=fill_mode,
        fill_value=fill_value,
        seed=seed,
    )

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def still_correct(images, targets):
        context = StepContext.for_model(model, images, targets, from_logits)
        clean = context.forward(images).outputs
        ok = tf.equal(tf.argmax(clean, axis=-1, output_type=tf.int64), targets)
        for _ in range(int(restarts)):
            _, _, trace = attack.search(images, context, return_trace=True)
            # With keep_best the trace already holds the last point.
            for _, outputs in trace:
                if outputs.shape.rank != 2:
                    raise ValueError(
                        "The model must return class scores of shape (batch, "
                        f"num_classes); received shape {outputs.shape}."
                    )
                pred = tf.argmax(outputs, axis=-1, output_type=tf.int64)
                ok = ok & tf.equal(pred, targets)
        return ok

    flags = np.zeros(n, dtype=bool)
    for start, xb, yb in common.float_batches(x, labels, batch_size):
        flags[start:start + xb.shape[0]] = still_correct(xb, yb).numpy()
    acc = float(flags.mean()) if n else 0.0
    return (acc, flags) if return_per_example else acc
