"""Plain accuracy and accuracy under additive Gaussian noise."""

import numpy as np

from keras_invariance.context import inference_scores
from keras_invariance.evaluation import common


def clean_accuracy(model, x, y, batch_size=256):
    """Top-1 accuracy of a model returning class scores (logits or probs).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> 0.0 <= clean_accuracy(model, np.ones((4, 2), "float32"), [0, 1, 2, 0]) <= 1.0
    True

    Args:
        model: A Keras model (an `InvariantModel` predicts as its base
            model) or a callable returning class scores.
        x: Inputs (any structure `predict` accepts).
        y: Sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        batch_size: Prediction batch size.

    Returns:
        A Python float in [0, 1].
    """
    labels = common.sparse_labels(y)
    if not len(labels):
        return 0.0
    if hasattr(model, "predict"):
        scores = model.predict(x, batch_size=batch_size, verbose=0)
    else:
        scores = np.concatenate(
            [
                np.asarray(inference_scores(model, xb))
                for _, xb, _ in common.float_batches(x, labels, batch_size)
            ]
        )
    return float(np.mean(np.argmax(scores, axis=-1) == labels))


def add_gaussian_noise(x, stddev, seed=0):
    """Returns `x + N(0, stddev²)` drawn with a fixed NumPy seed, as float32.

    Example:

    >>> add_gaussian_noise(np.zeros((2, 3), "float32"), 0.0).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]

    Args:
        x: An array of float inputs.
        stddev: σ ≥ 0 of the noise, in the units of `x`.
        seed: NumPy seed, so that every model sees the same noisy copy.

    Returns:
        A float32 array shaped like `x`.
    """
    x = np.asarray(x, "float32")
    noise = np.random.default_rng(seed).normal(0.0, stddev, size=x.shape)
    return x + noise.astype("float32")


def noisy_accuracy(model, x, y, stddev, draws=5, seed=0, batch_size=256):
    """Accuracy under additive Gaussian noise, averaged over fixed draws.

    Each draw `i` adds noise with seed `seed + i`, so different models are
    compared on the very same noisy inputs.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> 0.0 <= noisy_accuracy(model, np.ones((4, 2)), [0, 1, 0, 1], 0.1) <= 1.0
    True

    Args:
        model: A Keras model returning one score per class.
        x: Clean inputs.
        y: Integer labels.
        stddev: σ of the test noise.
        draws: How many noisy copies of `x` to average over.
        seed: Seed of the first draw.
        batch_size: Prediction batch size.

    Returns:
        A Python float in [0, 1].
    """
    return float(
        np.mean(
            [
                clean_accuracy(
                    model, add_gaussian_noise(x, stddev, seed + i), y, batch_size
                )
                for i in range(draws)
            ]
        )
    )
