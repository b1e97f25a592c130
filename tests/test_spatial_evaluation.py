"""Tests for keras_invariance.evaluation.spatial_attacks."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance import spatial
from keras_invariance.evaluation import clean_accuracy
from keras_invariance.evaluation import grid_accuracy
from keras_invariance.evaluation import random_transform_accuracy
from keras_invariance.evaluation import worst_of_k_accuracy


def _centre_pixel_model(images):
    """Class 1 iff the centre pixel is bright: hand-checkable predictions."""
    v = images[:, 4, 4, 0]
    return tf.stack([0.5 - v, v - 0.5], axis=1)


def _dot_and_flat_images():
    dot = np.zeros((9, 9, 1), "float32")
    dot[4, 4] = 1.0  # breaks as soon as it moves off the centre
    flat = np.ones((9, 9, 1), "float32")  # survives any small translation
    dark = np.zeros((9, 9, 1), "float32")  # class 0 under every transform
    x = np.stack([dot, flat, dark, flat, dot])
    y = np.array([1, 1, 0, 1, 1])
    return x, y


def test_and_accumulation_on_hand_made_model():
    x, y = _dot_and_flat_images()
    shifts = spatial.spatial_grid(1, 0, (3, 1, 1))  # dx in {-1, 0, 1}
    acc, flags = grid_accuracy(_centre_pixel_model, x, y, shifts,
                               return_per_example=True)
    np.testing.assert_array_equal(flags, [False, True, True, True, False])
    assert acc == pytest.approx(0.6)
    # The identity alone breaks nothing.
    identity = np.zeros((1, 3), "float32")
    assert grid_accuracy(_centre_pixel_model, x, y, identity) == 1.0
    assert clean_accuracy(_centre_pixel_model, x, y) == 1.0
    # One-hot labels are accepted.
    one_hot = np.eye(2)[y]
    assert grid_accuracy(_centre_pixel_model, x, one_hot, shifts) == acc


def test_one_failing_transform_anywhere_in_the_grid_counts():
    x, y = _dot_and_flat_images()
    # Identity everywhere but one shift, placed in every chunk position.
    for position in (0, 3, 6):
        grid = np.zeros((7, 3), "float32")
        grid[position, 0] = 1.0
        for gb in (1, 3, 7):
            for bs in (2, 5):
                _, flags = grid_accuracy(
                    _centre_pixel_model, x, y, grid, batch_size=bs,
                    grid_batch_size=gb, return_per_example=True)
                np.testing.assert_array_equal(
                    flags, [False, True, True, True, False])


def test_grid_accuracy_matches_brute_force_on_keras_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((10, 10, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])
    rng = np.random.default_rng(0)
    # Blank images give the same scores under every transform (they stay
    # correct); noise images mostly break.
    x = rng.random((12, 10, 10, 1)).astype("float32")
    x[8:] = 0.0
    y = np.argmax(model.predict(x, verbose=0), axis=1)  # clean all correct
    grid = spatial.spatial_grid(1, 10, (3, 3, 3)).numpy()
    expected = np.ones(len(x), bool)
    for row in grid:
        warped = spatial.apply_spatial_params(x, np.tile(row, (len(x), 1)))
        pred = np.argmax(model.predict(warped, verbose=0), axis=1)
        expected &= pred == y
    assert 0 < expected.sum() < len(x)  # a non-trivial case
    acc, flags = grid_accuracy(model, x, y, grid, batch_size=5,
                               grid_batch_size=4, return_per_example=True)
    np.testing.assert_array_equal(flags, expected)
    assert acc == pytest.approx(expected.mean())
    acc_jit = grid_accuracy(model, x, y, grid, jit_compile=True)
    assert acc_jit == pytest.approx(acc)


def test_worst_of_k_and_random_are_reproducible_and_ordered():
    x, y = _dot_and_flat_images()
    a = worst_of_k_accuracy(_centre_pixel_model, x, y, k=4, seed=3)
    b = worst_of_k_accuracy(_centre_pixel_model, x, y, k=4, seed=3)
    assert a == b
    # Continuous draws almost never land exactly on the centre pixel.
    assert a == pytest.approx(0.6)
    assert random_transform_accuracy(_centre_pixel_model, x, y,
                                     seed=3) == pytest.approx(0.6)


def test_input_errors():
    x, y = _dot_and_flat_images()
    with pytest.raises(ValueError, match="4-D float image batch"):
        grid_accuracy(_centre_pixel_model, x.astype("uint8"), y)
    with pytest.raises(ValueError, match="labels"):
        grid_accuracy(_centre_pixel_model, x, y[:3])
    with pytest.raises(ValueError, match=r"\(k, 3\)"):
        grid_accuracy(_centre_pixel_model, x, y, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="class scores"):
        grid_accuracy(lambda im: [im], x, y, np.zeros((1, 3)))


@pytest.fixture(scope="module")
def trained_digits_model():
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = digits.images.astype("float32") / 16.0
    x = np.pad(x, ((0, 0), (4, 4), (4, 4)))[..., None]  # 16 x 16
    y = digits.target.astype("int64")
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    # Train on randomly transformed copies too, so the model is partly
    # invariant and the three accuracies are far from 0 and from each other.
    copies = [x_train]
    for seed in range(6):
        params = spatial.sample_spatial_params(len(x_train), seed=seed)
        copies.append(spatial.apply_spatial_params(x_train, params).numpy())
    x_aug = np.concatenate(copies)
    y_aug = np.tile(y_train, len(copies))
    model = keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_aug, y_aug, epochs=8, batch_size=64, verbose=0)
    return model, x_test[:150], y_test[:150]


def test_grid_le_worst_of_k_le_random_le_clean(trained_digits_model):
    model, x, y = trained_digits_model
    clean = clean_accuracy(model, x, y)
    rand = random_transform_accuracy(model, x, y, seed=0)
    wok = worst_of_k_accuracy(model, x, y, k=10, seed=0)
    grid = grid_accuracy(model, x, y, batch_size=150, grid_batch_size=32)
    # Observed with these seeds: 0.99, 0.93, 0.76, 0.23.
    assert clean > 0.9
    assert grid <= wok <= rand <= clean
    assert 0 < grid < wok < rand  # non-trivial and each attack is stronger
