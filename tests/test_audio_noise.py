"""Tests for the waveform noise (additive noise at an SNR, volume)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance.perturbations.audio_noise import AdditiveNoise
from keras_invariance.perturbations.audio_noise import VolumeNoise
from keras_invariance.perturbations.audio_noise import add_noise_at_snr


def waves(batch=4, time=4000, seed=0, channel=False):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, time)
    amplitude = rng.uniform(0.05, 0.8, (batch, 1))
    x = amplitude * np.sin(2 * np.pi * rng.uniform(50, 400, (batch, 1)) * t)
    x = x.astype("float32")
    return x[..., None] if channel else x


def snr_db(signal, noisy):
    noise = noisy - signal
    axes = tuple(range(1, signal.ndim))
    return 10 * np.log10(np.mean(signal**2, axis=axes)
                         / np.mean(noise**2, axis=axes))


@pytest.mark.parametrize("channel", [False, True])
def test_additive_noise_hits_snr_per_example(channel):
    x = waves(channel=channel)
    y = np.asarray(AdditiveNoise(snr_db=6.0, seed=0).perturb(x))
    assert y.shape == x.shape
    # Random noise power fluctuates ~2% over 4000 samples: 0.2 dB is wide.
    np.testing.assert_allclose(snr_db(x, y), 6.0, atol=0.2)


def test_add_noise_at_snr_exact_and_silent_signal():
    signal = waves(batch=2)
    noise = np.random.default_rng(1).normal(size=signal.shape)
    y = np.asarray(add_noise_at_snr(signal, noise, np.array([0.0, -5.0])))
    np.testing.assert_allclose(snr_db(signal, y), [0.0, -5.0], atol=1e-3)
    silent = np.zeros((1, 10), "float32")
    np.testing.assert_array_equal(
        add_noise_at_snr(silent, np.ones((1, 10)), 10.0), silent)


def test_volume_directions_and_clip():
    x = waves()
    np.testing.assert_allclose(
        VolumeNoise(direction="up").perturb(x), 2 * x, rtol=1e-6)
    np.testing.assert_allclose(
        VolumeNoise(direction="down").perturb(x), x / 2, rtol=1e-6)
    y = np.asarray(VolumeNoise(factor=4.0, direction="up", clip=True)
                   .perturb(x))
    assert y.max() <= 1.0 and y.min() >= -1.0
    ratios = np.asarray(
        VolumeNoise(seed=0).perturb(np.ones((400, 2), "float32")))[:, 0]
    assert set(np.round(ratios, 6)) == {0.5, 2.0}
    assert 0.4 < np.mean(ratios == 2.0) < 0.6


@pytest.mark.parametrize(
    "noise",
    [AdditiveNoise(snr_db=-3.0, clip=True, seed=1),
     VolumeNoise(factor=1.5, direction="down", seed=2)],
)
def test_get_config_round_trip(noise):
    config = noise.get_config()
    assert type(noise).from_config(config).get_config() == config
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(noise))
    assert type(again) is type(noise) and again.get_config() == config


def test_jit_and_variable_change_without_retrace():
    additive = AdditiveNoise(snr_db=0.0, seed=0)
    volume = VolumeNoise(seed=0)
    traces = []

    @tf.function(jit_compile=True)
    def run(x):
        traces.append(1)
        return additive.perturb(x), volume.perturb(x)

    x = waves()
    a, v = run(x)
    assert not np.allclose(a, x) and not np.allclose(v, x)
    additive.snr_db.assign(200.0)
    volume.factor.assign(1.0)
    a, v = run(x)
    np.testing.assert_allclose(a, x, atol=1e-6)
    np.testing.assert_allclose(v, x, rtol=1e-6)
    assert len(traces) == 1


def test_rejects_bad_inputs_and_arguments():
    with pytest.raises(ValueError, match="float waveforms"):
        AdditiveNoise().perturb(np.zeros((1, 5), "int16"))
    with pytest.raises(ValueError, match=r"\(batch, time, 1\)"):
        VolumeNoise().perturb(np.zeros((1, 5, 2), "float32"))
    with pytest.raises(ValueError, match="positive"):
        VolumeNoise(factor=0.0)
    with pytest.raises(ValueError, match="direction"):
        VolumeNoise(direction="sideways")
