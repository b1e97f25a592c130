"""Keras callbacks of keras-invariance."""

import keras
import numpy as np

from keras_invariance.evaluation.accuracy import add_gaussian_noise
from keras_invariance.evaluation.accuracy import clean_accuracy


class NoisyValidation(keras.callbacks.Callback):
    """Logs `val_noisy_accuracy`: accuracy on a fixed noisy validation copy.

    The noisy copy is drawn once, so the value is comparable across epochs
    and trials, and Keras Tuner can use it as an objective:
    `keras_tuner.Objective("val_noisy_accuracy", direction="max")`. Put this
    callback before any callback that reads the value (Keras Tuner appends
    its own after the user's).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> x, y = np.ones((4, 2), "float32"), np.array([0, 1, 0, 1])
    >>> history = model.fit(x, y, verbose=0,
    ...                     callbacks=[NoisyValidation(x, y, stddev=0.1)])
    >>> sorted(history.history)
    ['loss', 'val_noisy_accuracy']

    Args:
        x: Clean validation inputs.
        y: Integer validation labels.
        stddev: σ of the Gaussian noise, in the units of `x`.
        seed: NumPy seed of the noise.
        name: The logged name.
    """

    def __init__(self, x, y, stddev, seed=0, name="val_noisy_accuracy"):
        super().__init__()
        self.x_noisy = add_gaussian_noise(x, stddev, seed)
        self.y = np.asarray(y)
        self.stddev = stddev
        self.seed = seed
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = clean_accuracy(self.model, self.x_noisy, self.y)
