"""Tests for the photometric image noise (IRL in-domain / out-of-domain)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance.perturbations import image_noise
from keras_invariance.perturbations.image_noise import InDomainImageNoise
from keras_invariance.perturbations.image_noise import OutOfDomainImageNoise
from keras_invariance.perturbations.image_noise import adjust_brightness
from keras_invariance.perturbations.image_noise import adjust_contrast
from keras_invariance.perturbations.image_noise import adjust_hue
from keras_invariance.perturbations.image_noise import adjust_saturation
from keras_invariance.perturbations.image_noise import pca_lighting
from keras_invariance.perturbations.image_noise import pca_lighting_basis

COEF = np.array([0.299, 0.587, 0.114])


def images(batch=4, size=5, seed=0, high=255.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, high, (batch, size, size, 3)).astype("float32")


# NumPy recomputations of MXNet's augmenters, one image at a time.
def np_brightness(x, f):
    return x * (1 + f)


def np_contrast(x, f):
    alpha = 1 + f
    gray = (3.0 * (1.0 - alpha) / (x * COEF).size) * np.sum(x * COEF)
    return x * alpha + gray


def np_saturation(x, f):
    alpha = 1 + f
    gray = np.sum(x * COEF, axis=2, keepdims=True) * (1 - alpha)
    return x * alpha + gray


def np_hue(x, f):
    tyiq = image_noise._RGB_TO_YIQ
    ityiq = np.linalg.inv(tyiq)
    u, w = np.cos(f * np.pi), np.sin(f * np.pi)
    bt = np.array([[1.0, 0.0, 0.0], [0.0, u, -w], [0.0, w, u]])
    t = np.dot(np.dot(ityiq, bt), tyiq).T
    return np.dot(x, t)


def np_lighting(x, alpha, eigval, eigvec):
    rgb = np.dot(np.asarray(eigvec) * alpha, eigval)
    return x + rgb


FUNCTIONS = [
    (adjust_brightness, np_brightness),
    (adjust_contrast, np_contrast),
    (adjust_saturation, np_saturation),
    (adjust_hue, np_hue),
]


@pytest.mark.parametrize("fn", [f for f, _ in FUNCTIONS])
def test_building_block_factor_zero_is_identity(fn):
    x = images()
    y = fn(x, np.zeros(4, "float32"))
    np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-3)


def test_pca_lighting_zero_alpha_is_identity():
    x = images()
    np.testing.assert_allclose(pca_lighting(x, np.zeros((4, 3))), x)


@pytest.mark.parametrize("fn,reference", FUNCTIONS)
def test_building_block_matches_mxnet_formula(fn, reference):
    x = images()
    factors = np.array([-0.5, -0.2, 0.3, 0.5], "float32")
    y = np.asarray(fn(x, factors))
    for i, f in enumerate(factors):
        np.testing.assert_allclose(
            y[i], reference(x[i].astype("float64"), f), rtol=1e-4, atol=1e-3
        )


def test_hue_full_turn_is_identity_and_keeps_luma():
    x = images()
    np.testing.assert_allclose(adjust_hue(x, np.full(4, 2.0)), x, atol=1e-3)
    y = np.asarray(adjust_hue(x, np.array([0.5, -0.5, 0.25, 1.0])))
    np.testing.assert_allclose(y @ COEF, x @ COEF, rtol=1e-4, atol=1e-2)


def test_pca_lighting_adds_per_image_constant_offset():
    x = images()
    alphas = np.random.default_rng(1).normal(0, 0.1, (4, 3))
    y = np.asarray(pca_lighting(x, alphas))
    eigval = np.array(image_noise.IMAGENET_EIGVAL)
    eigvec = np.array(image_noise.IMAGENET_EIGVEC)
    for i in range(4):
        offset = eigvec @ (alphas[i] * eigval)
        np.testing.assert_allclose(y[i] - x[i], np.broadcast_to(
            offset, x[i].shape), atol=1e-3)
        np.testing.assert_allclose(
            y[i], np_lighting(x[i], alphas[i], eigval, eigvec), atol=1e-3)


def test_pca_lighting_basis_recovers_principal_axis():
    rng = np.random.default_rng(0)
    direction = np.array([1.0, 2.0, 2.0]) / 3.0
    pixels = 0.5 + rng.normal(0, 0.1, (4000, 1)) * direction
    pixels += rng.normal(0, 0.01, (4000, 3))
    eigval, eigvec = pca_lighting_basis(pixels.reshape(40, 10, 10, 3),
                                        value_range=(0, 1))
    assert eigval[0] > eigval[1] >= eigval[2] >= 0
    np.testing.assert_allclose(eigval[0], 0.01 * 255, rtol=0.1)
    np.testing.assert_allclose(np.abs(np.array(eigvec)[:, 0]), direction,
                               atol=0.02)


def test_in_domain_draws_stay_in_range_and_differ_per_example():
    noise = InDomainImageNoise(seed=3)
    x = np.full((64, 2, 2, 3), 100.0, "float32")
    params = noise.sample_parameters(x)
    b = np.asarray(params["brightness"])
    c = np.asarray(params["contrast"])
    a = np.asarray(params["pca_alpha"])
    assert np.all(np.abs(b) <= 0.5) and np.all(np.abs(c) <= 0.5)
    assert len(np.unique(b)) == 64 and b.min() < -0.3 and b.max() > 0.3
    assert a.shape == (64, 3) and 0.05 < a.std() < 0.15
    # On a constant gray image contrast is a no-op, so with PCA off the
    # brightness scale is recoverable from the output.
    noise.pca_noise.assign(0.0)
    y = np.asarray(noise.perturb(x))
    scale = y[:, 0, 0, 0] / 100.0
    assert np.all(scale >= 0.5 - 1e-6) and np.all(scale <= 1.5 + 1e-6)
    assert len(np.unique(np.round(scale, 5))) == 64


def test_in_domain_apply_composes_blocks_in_documented_order():
    noise = InDomainImageNoise(value_range=(0, 1), seed=1)
    x = images(high=1.0)
    params = noise.sample_parameters(x)
    y = noise.apply(x, params)
    expected = adjust_brightness(x, params["brightness"])
    expected = adjust_contrast(expected, params["contrast"])
    expected = pca_lighting(
        expected, params["pca_alpha"],
        np.array(image_noise.IMAGENET_EIGVAL) / 255.0)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_value_range_shift_measures_from_black():
    # [-1, 1] images: brightness scales the distance from -1 (black).
    noise = InDomainImageNoise(contrast=0.0, pca_noise=0.0,
                               value_range=(-1, 1), seed=0)
    x = np.full((8, 1, 1, 3), 0.0, "float32")
    params = noise.sample_parameters(x)
    y = np.asarray(noise.apply(x, params))[:, 0, 0, 0]
    np.testing.assert_allclose(y, (1 + np.asarray(params["brightness"])) - 1,
                               atol=1e-6)


def test_out_of_domain_matches_blocks_and_clip_option():
    noise = OutOfDomainImageNoise(value_range=(0, 1), clip=True, seed=2)
    x = images(high=1.0)
    params = noise.sample_parameters(x)
    assert np.all(np.abs(np.asarray(params["hue"])) <= 0.5)
    y = np.asarray(noise.apply(x, params))
    expected = adjust_saturation(adjust_hue(x, params["hue"]),
                                 params["saturation"])
    np.testing.assert_allclose(y, np.clip(expected, 0, 1), atol=1e-5)
    assert y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("cls", [InDomainImageNoise, OutOfDomainImageNoise])
def test_same_seed_reproduces(cls):
    x = images()
    a = cls(seed=7).perturb(x)
    b = cls(seed=7).perturb(x)
    c = cls(seed=8).perturb(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls", [InDomainImageNoise, OutOfDomainImageNoise])
def test_get_config_round_trip(cls):
    noise = cls(value_range=(0, 1), clip=True, seed=5, name="noise")
    for var in noise.non_trainable_variables:
        if var.shape == ():
            var.assign(0.25)
    config = noise.get_config()
    restored = cls.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(noise)
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is cls and again.get_config() == config


def test_custom_eigen_basis_round_trips():
    noise = InDomainImageNoise(eigval=[3.0, 2.0, 1.0], eigvec=np.eye(3))
    config = noise.get_config()
    assert config["eigval"] == [3.0, 2.0, 1.0]
    assert InDomainImageNoise.from_config(config).eigvec == np.eye(3).tolist()


@pytest.mark.parametrize("cls", [InDomainImageNoise, OutOfDomainImageNoise])
def test_jit_compile_and_variable_change_without_retrace(cls):
    noise = cls(seed=0)
    traces = []

    @tf.function(jit_compile=True)
    def run(x):
        traces.append(1)
        return noise.perturb(x)

    x = images()
    y = run(x)
    assert not np.allclose(y, x)
    for var in noise.non_trainable_variables:
        if var.shape == ():
            var.assign(0.0)
    np.testing.assert_allclose(run(x), x, rtol=1e-5, atol=1e-3)
    assert len(traces) == 1


def test_dtype_preserved():
    x = images().astype("float16")
    assert InDomainImageNoise(seed=0).perturb(x).dtype == tf.float16


def test_rejects_bad_inputs_and_arguments():
    noise = OutOfDomainImageNoise()
    with pytest.raises(ValueError, match="float images"):
        noise.perturb(np.zeros((1, 2, 2, 3), "uint8"))
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
        noise.perturb(np.zeros((1, 2, 2, 1), "float32"))
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
        noise.perturb(np.zeros((2, 2, 3), "float32"))
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        InDomainImageNoise(brightness=-0.1)
    with pytest.raises(ValueError, match="high > low"):
        InDomainImageNoise(value_range=(1, 0))
    with pytest.raises(ValueError, match="3×3"):
        InDomainImageNoise(eigvec=np.eye(2))
