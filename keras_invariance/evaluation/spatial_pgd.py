"""Accuracy under the S-PGD spatial attack (gradient ascent on transforms).

The attack is the search of `keras_invariance.perturbations.spatial.SpatialPGD`
(the same code trains with S-PGD), run against a trained model in inference
mode with the cross-entropy on the true labels as its objective.

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019): S-PGD, "Projected Gradient Descent with respect to the
    transformation parameters". Engstrom et al. (2019), Section 5.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_invariance.context import ForwardResult
from keras_invariance.evaluation.spatial_attacks import _call_model
from keras_invariance.evaluation.spatial_attacks import _float_batches
from keras_invariance.evaluation.spatial_attacks import _sparse_labels
from keras_invariance.perturbations.spatial import SpatialPGD


class _AttackContext:
    """The parts of a `StepContext` a search uses, for a plain model."""

    def __init__(self, model, labels, from_logits):
        self.model = model
        self.labels = labels
        self.from_logits = from_logits

    def forward(self, x, training=False, taps=()):
        return ForwardResult(_call_model(self.model, x), {})

    def per_example_loss(self, y_pred):
        return tf.cast(
            keras.losses.sparse_categorical_crossentropy(
                self.labels, y_pred, from_logits=self.from_logits
            ),
            tf.float32,
        )


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
    from_logits=True,
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
        from_logits: Whether the model outputs logits (else probabilities).
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
        invariance_inducing_regularization_spatial.txt (S-PGD).
    """
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"`restarts` must be an integer ≥ 1; received {restarts!r}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; received {batch_size}.")
    labels = _sparse_labels(y)
    n = len(labels)
    if len(x) != n:
        raise ValueError(f"`x` has {len(x)} examples but `y` has {n} labels.")
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
        context = _AttackContext(model, targets, from_logits)
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
    for start, xb, yb in _float_batches(x, labels, batch_size):
        flags[start:start + xb.shape[0]] = still_correct(xb, yb).numpy()
    acc = float(flags.mean()) if n else 0.0
    return (acc, flags) if return_per_example else acc
