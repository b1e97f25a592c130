"""Tests for `ExtendedLayer` (Zhang & Arodz, §4)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance.pairs import ExtendedLayer


def numpy_extended(o1, kernel, bias, epsilon):
    x = o1.astype("float64") @ kernel.astype("float64") + bias
    x_even, x_odd = x[:, 0::2], x[:, 1::2]
    o2 = np.sqrt(x_even**2 + x_odd**2 + epsilon)
    o3 = x_even / o2
    o4 = x_odd / o2
    return np.concatenate([o1, o2, o3, o4, o3 * o4], axis=-1)


def test_output_is_three_times_input_width_and_matches_numpy():
    keras.utils.set_random_seed(0)
    layer = ExtendedLayer(bias_initializer="random_normal")
    o1 = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(o1))
    assert out.shape == (5, 18)
    assert layer.compute_output_shape((None, 6)) == (None, 18)
    expected = numpy_extended(
        o1,
        keras.ops.convert_to_numpy(layer.kernel),
        keras.ops.convert_to_numpy(layer.bias),
        layer.epsilon,
    )
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_units_sets_polar_width():
    layer = ExtendedLayer(units=4)
    out = layer(np.ones((2, 3), "float32"))
    # An odd input width is fine when `units` is even: 3 + 2 * 4.
    assert tuple(out.shape) == (2, 11)


def test_polar_outputs_are_bounded_and_consistent():
    layer = ExtendedLayer(units=8)
    o1 = np.random.default_rng(1).normal(size=(64, 4)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(o1))
    o2, o3, o4, o5 = np.split(out[:, 4:], 4, axis=-1)
    assert np.all(o2 > 0)
    assert np.all(np.abs(o3) <= 1) and np.all(np.abs(o4) <= 1)
    # O3, O4 are a cosine and a sine up to the epsilon in O2.
    np.testing.assert_allclose(o3**2 + o4**2, 1.0, atol=1e-3)
    np.testing.assert_allclose(o5, o3 * o4, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_gradients_finite_at_zero_modulus(dtype):
    # A zero kernel and bias put every (X_even, X_odd) pair at the origin.
    layer = ExtendedLayer(
        kernel_initializer="zeros", bias_initializer="zeros", dtype=dtype
    )
    o1 = tf.constant(np.ones((3, 4)), dtype=dtype)
    with tf.GradientTape() as tape:
        out = layer(o1)
        loss = tf.reduce_sum(tf.cast(out, "float32"))
    grads = tape.gradient(loss, [layer.kernel, layer.bias])
    out = tf.cast(out, "float32").numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[:, 4:6], np.sqrt(layer.epsilon), rtol=2e-2)
    np.testing.assert_allclose(out[:, 6:], 0.0)
    for g in grads:
        g = tf.cast(g, "float32").numpy()
        assert np.all(np.isfinite(g))
    # d(O3 + O4)/dX = 1 / sqrt(epsilon) per even/odd column at the origin,
    # summed over the 3 rows; dO2/dX = dO5/dX = 0 there.
    expected = 3.0 / np.sqrt(layer.epsilon)
    np.testing.assert_allclose(
        tf.cast(grads[1], "float32").numpy(), expected, rtol=2e-2
    )


def test_gradient_matches_finite_differences_away_from_zero():
    keras.utils.set_random_seed(3)
    layer = ExtendedLayer(units=4, dtype="float64")
    o1 = tf.constant(np.random.default_rng(3).normal(size=(2, 3)))
    layer(o1)

    def f(kernel):
        layer.kernel.assign(kernel)
        return tf.reduce_sum(tf.sin(layer(o1)))

    kernel0 = layer.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(tf.sin(layer(o1)))
    grad = tape.gradient(value, layer.kernel).numpy()
    eps = 1e-6
    numeric = np.zeros_like(kernel0)
    for idx in np.ndindex(kernel0.shape):
        plus, minus = kernel0.copy(), kernel0.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (f(plus).numpy() - f(minus).numpy()) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 3}, "positive even integer"),
        ({"units": 0}, "positive even integer"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExtendedLayer(**kwargs)


def test_odd_input_width_without_units_raises():
    with pytest.raises(ValueError, match="odd width 5"):
        ExtendedLayer()(np.ones((2, 5), "float32"))


def test_get_config_round_trip():
    layer = ExtendedLayer(
        units=6,
        epsilon=1e-4,
        use_bias=False,
        kernel_regularizer="l2",
        name="ext",
    )
    config = layer.get_config()
    clone = ExtendedLayer.from_config(config)
    assert clone.get_config() == config
    for key in ("units", "epsilon", "use_bias"):
        assert getattr(clone, key) == getattr(layer, key)
    assert config["units"] == 6 and config["epsilon"] == 1e-4
    x = np.ones((1, 4), "float32")
    assert tuple(clone(x).shape) == (1, 16)
    assert clone.bias is None


def test_save_load_in_model(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(2)(ExtendedLayer()(inputs))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[1], ExtendedLayer)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


def test_registered_name():
    assert (
        keras.saving.get_registered_name(ExtendedLayer)
        == "keras_invariance>ExtendedLayer"
    )
