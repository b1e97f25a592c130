"""Plain accuracy and accuracy under additive Gaussian noise."""

import weakref

import numpy as np
import tensorflow as tf

from keras_invariance.engine.context import inference_scores
from keras_invariance.evaluation import common
from keras_invariance.utils import validation

# One compiled inference pass per model: `predict()` sets up a data adapter
# and callbacks on every call (~0.1 s), which dominates a curve of small
# evaluations. Weak keys let models be freed; the function holds the model
# weakly.
_SCORERS = weakref.WeakKeyDictionary()


def _scorer(model):
    try:
        found = _SCORERS.get(model)
    except TypeError:  # not weak-referenceable
        return None
    if found is None:
        ref = weakref.ref(model)
        found = tf.function(lambda x: inference_scores(ref(), x), reduce_retracing=True)
        _SCORERS[model] = found
    return found


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
    single = isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)
    scorer = _scorer(model) if single and hasattr(model, "predict") else None
    if scorer is not None:
        validation.check_same_length(x, labels)
        scores = np.concatenate([
            np.asarray(scorer(xb)) for _, xb, _ in common.float_batches(x, labels, batch_size)
        ])
    elif hasattr(model, "predict"):
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


def noise_curve(model, x, y, stddevs, draws=1, seed=0, batch_size=256):
    """Accuracy under additive Gaussian noise at each σ of a list.

    Point `j` is `noisy_accuracy(model, x, y, stddevs[j], draws, seed)`.
    Every σ uses the same seeds, so the noise of draw `i` is σ·zᵢ for one
    fixed standard normal zᵢ: the curve follows fixed noise directions as
    they grow, which makes curves of different models (and neighbouring
    points of one curve) directly comparable. At σ = 0 the point is the
    clean accuracy. This is the x-axis of the Invariant BP paper's Fig. 3.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> x, y = np.ones((4, 2), "float32"), [0, 1, 0, 1]
    >>> curve = noise_curve(model, x, y, [0.0, 0.5])
    >>> curve[0] == clean_accuracy(model, x, y)
    True

    Args:
        model: A Keras model returning one score per class.
        x: Clean float inputs.
        y: Sparse labels `(n,)` / `(n, 1)` or one-hot `(n, num_classes)`.
        stddevs: A non-empty list of σ ≥ 0, in the units of `x`.
        draws: Noisy copies averaged at each σ (an int ≥ 1).
        seed: NumPy seed of the first draw (draw `i` uses `seed + i`).
        batch_size: Prediction batch size.

    Returns:
        A list of Python floats in [0, 1], one per σ, in the given order.

    Raises:
        ValueError: For an empty or negative σ list, `draws` < 1, integer
            inputs or mismatched lengths.

    Reference:
        Demyanov et al., "Invariant backpropagation: how to train a
        transformation-invariant neural network" (2015), Fig. 3.
    """
    stddevs = common.check_levels(stddevs, "stddevs", "noise_curve")
    common.checked_inputs(x, y, "noise_curve")
    if int(draws) != draws or draws < 1:
        raise ValueError(f"noise_curve: `draws` must be an integer ≥ 1; received {draws!r}.")
    common.check_batch_size(batch_size)
    return [
        noisy_accuracy(model, x, y, sigma, draws=int(draws), seed=seed,
                       batch_size=batch_size)
        for sigma in stddevs
    ]
