"""Accuracy under ℓ∞ FGSM attacks on any Keras model."""

import keras
import numpy as np
import tensorflow as tf

from keras_invariance.context import inference_scores
from keras_invariance.evaluation import common


def fgsm_accuracy(model, x, y, epsilon, batch_size=256, value_range=None,
                  from_logits=True):
    """Accuracy on x + ε·sign(∇x CE(f(x), y)), the FGSM attack.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> acc = fgsm_accuracy(model, np.ones((4, 2), "float32"), [0, 1, 2, 0], 0.1)
    >>> 0.0 <= acc <= 1.0
    True

    Args:
        model: A model returning class scores (called with `training=False`).
        x: Float inputs.
        y: Integer labels.
        epsilon: The ℓ∞ step, a number or an array broadcastable to one
            input (e.g. per channel: ε on normalized images is ε·std_c on
            pixels).
        batch_size: Examples per gradient pass.
        value_range: Optional `(low, high)` clip of the adversarial inputs.
        from_logits: Whether the model returns logits.

    Returns:
        A Python float in [0, 1].

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), eq. 4;
        Goodfellow et al. (2015).
    """
    labels = common.checked_inputs(x, y, "fgsm_accuracy")
    if np.any(np.asarray(epsilon) < 0):
        raise ValueError(f"`epsilon` must be ≥ 0; received {epsilon!r}.")
    eps = tf.constant(np.asarray(epsilon, "float32"))

    @tf.function(reduce_retracing=True)
    def correct(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            loss = keras.losses.sparse_categorical_crossentropy(
                yb, inference_scores(model, xb), from_logits=from_logits
            )
        x_adv = xb + tf.cast(eps, xb.dtype) * tf.sign(tape.gradient(loss, xb))
        if value_range is not None:
            x_adv = tf.clip_by_value(x_adv, *value_range)
        pred = tf.argmax(inference_scores(model, x_adv), -1, output_type=tf.int64)
        return tf.reduce_sum(tf.cast(tf.equal(pred, yb), tf.int32))

    hits = 0
    for _, xb, yb in common.float_batches(x, labels, batch_size):
        hits += int(correct(xb, yb))
    return hits / len(labels) if len(labels) else 0.0
