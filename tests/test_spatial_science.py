"""Science check: D.A. + KL beats D.A. on worst-case spatial accuracy.

The headline of Yang et al.: adding the invariance regularizer λ·KL(f(x) ‖
f(x̃)) on top of data augmentation (same x̃, same paired batch) raises the
worst-case grid accuracy. Reproduced in miniature on scikit-learn digits
(8×8, zero-padded to 14×14 so that a ±3 px shift keeps the digit in the
frame), a small CNN, 3 seeds; the grid spans the paper's box (±3 px, ±30°)
at granularity 5 × 5 × 11 (275 transforms, a coarser version of the 775
grid, to fit the time budget).
"""

import keras
import numpy as np
import pytest

from keras_invariance import spatial
from keras_invariance.evaluation import clean_accuracy
from keras_invariance.evaluation import grid_accuracy
from keras_invariance.presets import SpatialInvariance
from tests.engine_checks import SCCE

PAD = 3
EPOCHS = 8


def padded_digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    x = np.pad(x, ((0, 0), (PAD, PAD), (PAD, PAD), (0, 0)))
    y = data.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def small_cnn(size):
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


@pytest.mark.science
def test_da_kl_beats_da_on_grid_accuracy():
    (x, y), (x_test, y_test) = padded_digits()
    grid = spatial.spatial_grid(3.0, 30.0, (5, 5, 11))
    results = {}
    for seed in (0, 1, 2):
        for mode in ("da", "da_kl"):
            keras.utils.set_random_seed(seed)
            model = SpatialInvariance(small_cnn(x.shape[1]), preset=mode, weight=1.0, seed=seed)
            model.compile(keras.optimizers.Adam(1e-2), SCCE, jit_compile=True)
            model.fit(x, y, batch_size=64, epochs=EPOCHS, verbose=0)
            results[seed, mode] = (
                clean_accuracy(model.base_model, x_test, y_test),
                grid_accuracy(model.base_model, x_test, y_test, grid=grid,
                              batch_size=400, grid_batch_size=25),
            )
    print("\nseed  D.A. (clean, grid)   D.A.+KL (clean, grid)")
    for seed in (0, 1, 2):
        da, kl = results[seed, "da"], results[seed, "da_kl"]
        print(f"{seed}     {da[0]:.3f}, {da[1]:.3f}        {kl[0]:.3f}, {kl[1]:.3f}")
    for seed in (0, 1, 2):
        assert results[seed, "da"][0] > 0.9 and results[seed, "da_kl"][0] > 0.9
        assert results[seed, "da_kl"][1] > results[seed, "da"][1], seed
