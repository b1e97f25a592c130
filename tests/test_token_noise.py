"""Tests for the token noise of the IRL language modeling experiments."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance.perturbations.token_noise import BlankNoise
from keras_invariance.perturbations.token_noise import UnigramNoise

SHAPE = (200, 100)  # 20,000 tokens


def tokens(low=2, high=50, seed=0, dtype="int32"):
    return np.random.default_rng(seed).integers(low, high, SHAPE).astype(dtype)


def assert_rate_close(rate, p, n):
    # Five binomial standard deviations: a false failure is ~1e-6 likely.
    assert abs(rate - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9, (rate, p)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.7, 1.0])
def test_blank_replacement_rate_and_blank_id(p):
    x = tokens()
    y = np.asarray(BlankNoise(blank_id=1, p=p, seed=0).perturb(x))
    changed = y != x
    assert np.all(y[changed] == 1)
    assert_rate_close(changed.mean(), p, x.size)


def test_pad_tokens_never_touched():
    x = tokens()
    x[:, 60:] = 0  # padding
    x[:, 0] = 3  # a BOS-like id, protected too
    for noise in [
        BlankNoise(blank_id=1, p=1.0, pad_id=[0, 3], seed=0),
        UnigramNoise(vocabulary_size=50, p=1.0, pad_id=[0, 3], seed=0),
    ]:
        y = np.asarray(noise.perturb(x))
        protected = (x == 0) | (x == 3)
        np.testing.assert_array_equal(y[protected], x[protected])
        if isinstance(noise, UnigramNoise):
            # Protected ids are never drawn as replacements either.
            assert not np.isin(y[~protected], [0, 3]).any()


def test_unigram_rate_and_distribution():
    counts = np.array([0.0, 0.0, 50.0, 30.0, 15.0, 5.0])
    x = np.full(SHAPE, 1, "int32")  # id 1 has zero mass: every change shows
    noise = UnigramNoise(unigram=counts.tolist(), p=0.5, seed=1)
    y = np.asarray(noise.perturb(x))
    replaced = y[y != 1]
    assert_rate_close(replaced.size / x.size, 0.5, x.size)
    observed = np.bincount(replaced, minlength=6)
    expected = counts / counts.sum() * replaced.size
    assert observed[:2].sum() == 0
    chi2 = np.sum((observed[2:] - expected[2:]) ** 2 / expected[2:])
    # 3 degrees of freedom: P(chi2 > 25) ≈ 1.6e-5.
    assert chi2 < 25, (observed, expected)


def test_unigram_pad_id_never_drawn_and_uniform_vocabulary():
    x = np.full(SHAPE, 7, "int64")
    noise = UnigramNoise(vocabulary_size=10, p=1.0, pad_id=0, seed=2)
    y = np.asarray(noise.perturb(x))
    assert y.dtype == np.int64
    counts = np.bincount(y.ravel(), minlength=10)
    assert counts[0] == 0
    expected = x.size / 9
    chi2 = np.sum((counts[1:] - expected) ** 2 / expected)
    assert chi2 < 40  # 8 degrees of freedom: P(chi2 > 40) ≈ 3e-6.
    assert y.max() < 10


def test_unigram_last_id_reachable_and_no_overflow():
    # All mass on the last id: the pinned cdf must still return it.
    noise = UnigramNoise(unigram=[0, 0, 0, 1e-3], p=1.0, seed=0)
    y = np.asarray(noise.perturb(np.zeros((50, 50), "int32")))
    assert np.all(y == 3)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_dtype_and_shape_preserved(dtype):
    x = tokens(dtype=dtype)[:4, :7]
    for noise in [BlankNoise(blank_id=1, seed=0),
                  UnigramNoise(vocabulary_size=50, seed=0)]:
        y = noise.perturb(x)
        assert keras.backend.standardize_dtype(y.dtype) == dtype
        assert tuple(y.shape) == x.shape


def test_float_input_rejected_with_advice():
    for noise in [BlankNoise(blank_id=1), UnigramNoise(vocabulary_size=5)]:
        assert noise.requires_float_inputs is False
        with pytest.raises(ValueError,
                           match="needs integer token ids.*GaussianNoise"):
            noise.perturb(np.zeros((2, 3), "float32"))


def test_same_seed_reproduces_and_examples_differ():
    x = tokens()
    a = np.asarray(UnigramNoise(vocabulary_size=50, seed=3).perturb(x))
    b = np.asarray(UnigramNoise(vocabulary_size=50, seed=3).perturb(x))
    c = np.asarray(UnigramNoise(vocabulary_size=50, seed=4).perturb(x))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)
    masks = a != x
    assert len({row.tobytes() for row in masks}) > 150


@pytest.mark.parametrize(
    "noise",
    [
        BlankNoise(blank_id=2, p=0.3, pad_id=0, seed=1, name="blank"),
        UnigramNoise(unigram=[0, 1, 2, 3], p=0.1, pad_id=[0, 1], seed=1),
        UnigramNoise(vocabulary_size=9, p=0.25),
    ],
)
def test_get_config_round_trip(noise):
    config = noise.get_config()
    restored = type(noise).from_config(config)
    assert restored.get_config() == config
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(noise))
    assert type(again) is type(noise) and again.get_config() == config
    if config["seed"] is None:
        return
    # A fixed seed is part of the config: both copies draw the same noise.
    x = tokens(high=4)
    np.testing.assert_array_equal(
        np.asarray(type(noise).from_config(config).perturb(x)),
        np.asarray(restored.perturb(x)))


def test_p_variable_change_without_retrace_under_jit():
    noise = UnigramNoise(vocabulary_size=50, p=0.2, seed=0)
    traces = []

    @tf.function(jit_compile=True)
    def run(x):
        traces.append(1)
        return noise.perturb(x)

    x = tokens()
    assert np.mean(np.asarray(run(x)) != x) > 0.1
    noise.p.assign(0.0)
    np.testing.assert_array_equal(run(x), x)
    assert len(traces) == 1


def test_blank_under_jit():
    noise = BlankNoise(blank_id=1, p=0.5, pad_id=0, seed=0)
    run = tf.function(noise.perturb, jit_compile=True)
    x = tokens()
    y = np.asarray(run(x))
    assert set(np.unique(y[y != x])) == {1}


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BlankNoise(blank_id=1, p=1.5)
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        BlankNoise(blank_id=1, p=-0.1)
    with pytest.raises(ValueError, match="blank_id"):
        BlankNoise(blank_id=1.5)
    with pytest.raises(ValueError, match="exactly one"):
        UnigramNoise()
    with pytest.raises(ValueError, match="exactly one"):
        UnigramNoise(unigram=[1, 2], vocabulary_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        UnigramNoise(unigram=[1, -2])
    with pytest.raises(ValueError, match="no mass"):
        UnigramNoise(unigram=[1, 0], pad_id=0)
