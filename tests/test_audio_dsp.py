"""The signal processing of `keras_invariance.audio` against NumPy/SciPy.

Resampling against `scipy.signal.resample_poly` (every code path), FIR
design against `scipy.signal.firwin`, convolution against
`scipy.signal.fftconvolve` / `np.convolve`, μ-law against its closed form,
synthetic RIRs against their defining properties (direct path, DRR, RT60
by Schroeder integration), WAV banks against the samples written, and the
log-mel layer against a NumPy STFT and mel filter bank.
"""

import os
import sys
import types

import keras
import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal
import tensorflow as tf

from keras_invariance import audio
from keras_invariance.audio import bank as bank_lib
from keras_invariance.audio import resampling
from keras_invariance.audio import waveforms

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize(
    "up, down", [(1, 2), (1, 3), (2, 1), (3, 1), (2, 3), (3, 2), (160, 441), (5, 7)]
)
@pytest.mark.parametrize("length", [1, 7, 160, 161])
def test_resample_poly_equals_scipy(up, down, length):
    x = RNG.normal(size=(3, length))
    expected = scipy.signal.resample_poly(x, up, down, axis=-1)
    got = audio.resample_poly(x.astype("float32"), up, down).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_resample_poly_with_custom_taps_and_factors_not_in_lowest_terms():
    x = RNG.normal(size=(2, 99))
    taps = scipy.signal.firwin(31, 0.4, window="hann")
    for up, down in [(1, 2), (2, 1), (3, 2)]:
        np.testing.assert_allclose(
            audio.resample_poly(x.astype("float32"), up, down, taps=taps),
            scipy.signal.resample_poly(x, up, down, axis=-1, window=taps),
            atol=2e-5,
        )
    np.testing.assert_allclose(
        audio.resample_poly(x.astype("float32"), 4, 8),
        scipy.signal.resample_poly(x, 1, 2, axis=-1), atol=2e-5)


def test_resampling_under_xla_matches_eager():
    x = RNG.normal(size=(2, 1001)).astype("float32")
    for up, down in [(1, 2), (2, 1), (2, 3)]:
        run = tf.function(lambda t, u=up, d=down: audio.resample_poly(t, u, d),
                          jit_compile=True)
        np.testing.assert_allclose(run(x), audio.resample_poly(x, up, down), atol=1e-5)


def test_resampling_factors_and_errors():
    assert resampling.resampling_factors(16000, 8000) == (1, 2)
    assert resampling.resampling_factors(8000, 16000) == (2, 1)
    assert resampling.resampling_factors(48000, 16000) == (1, 3)
    with pytest.raises(ValueError, match="`telephone_rate`.*8001/16000"):
        resampling.resampling_factors(16000, 8001, "telephone_rate")
    with pytest.raises(ValueError, match="`sample_rate` must be a positive whole"):
        resampling.resampling_factors(16000.5, 8000)
    with pytest.raises(ValueError, match="known number of samples"):
        tf.function(lambda t: audio.resample_poly(t, 1, 2)).get_concrete_function(
            tf.TensorSpec((None, None)))


# ---------------------------------------------------------------- filters


def test_firwin_equals_scipy():
    np.testing.assert_allclose(
        audio.firwin(41, 0.5, window=("kaiser", 5.0)),
        scipy.signal.firwin(41, 0.5, window=("kaiser", 5.0)), atol=1e-15)
    np.testing.assert_allclose(
        audio.bandpass_filter(300, 3400, 8000),
        scipy.signal.firwin(101, [300, 3400], pass_zero=False, fs=8000), atol=1e-15)
    np.testing.assert_allclose(
        audio.firwin(21, 0.3, pass_zero=False, window="hann"),
        scipy.signal.firwin(21, 0.3, pass_zero=False, window="hann"), atol=1e-15)
    np.testing.assert_allclose(
        audio.resampling_filter(2, 3),
        scipy.signal.firwin(61, 1 / 3, window=("kaiser", 5.0)) * 2, atol=1e-15)
    with pytest.raises(ValueError, match="`band`"):
        audio.bandpass_filter(300, 4000, 8000)


# ---------------------------------------------------------------- convolution


def test_convolve_equals_fftconvolve():
    x, h = RNG.normal(size=(3, 700)), RNG.normal(size=(3, 129))
    full = audio.convolve(x.astype("float32"), h.astype("float32")).numpy()
    expected = np.stack([scipy.signal.fftconvolve(a, b) for a, b in zip(x, h)])
    assert full.shape == (3, 828)
    np.testing.assert_allclose(full, expected, atol=1e-4)
    causal = audio.convolve(x, h, mode="causal").numpy()
    np.testing.assert_allclose(causal, expected[:, :700], atol=1e-4)
    shared = audio.convolve(x, h[0]).numpy()
    np.testing.assert_allclose(shared[2], scipy.signal.fftconvolve(x[2], h[0]), atol=1e-4)


def test_fir_filter_equals_numpy_same_mode():
    x = RNG.normal(size=(2, 300))
    for taps in (RNG.normal(size=11), RNG.normal(size=10)):
        np.testing.assert_allclose(
            audio.fir_filter(x, taps),
            np.stack([np.convolve(row, taps, mode="same") for row in x]), atol=1e-5)


# ---------------------------------------------------------------- μ-law


def test_mu_law_closed_form_inverse_and_levels():
    x = np.linspace(-1.2, 1.2, 2001)
    clipped = np.clip(x, -1, 1)
    expected = np.sign(clipped) * np.log1p(255 * np.abs(clipped)) / np.log1p(255)
    np.testing.assert_allclose(audio.mu_law_encode(x), expected, atol=1e-6)
    np.testing.assert_allclose(
        audio.mu_law_decode(audio.mu_law_encode(clipped)), clipped, atol=1e-5)
    q = audio.mu_law_quantize(x, bits=8).numpy()
    # 2^8 − 1 levels k/127 (k = −127 … 127), an exact zero among them: the
    # codes of every level, jittered by less than half a step, map back to it.
    codes = np.arange(-127, 128) / 127
    jitter = RNG.uniform(-0.4, 0.4, codes.shape) / 127
    levels = audio.mu_law_quantize(audio.mu_law_decode(codes + jitter)).numpy()
    np.testing.assert_allclose(levels, audio.mu_law_decode(codes), rtol=1e-5, atol=1e-7)
    assert float(audio.mu_law_quantize(np.zeros(3)).numpy().max()) == 0.0
    # Quantization error in the compressed domain is at most half a step.
    step = 1.0 / 127
    assert np.max(np.abs(audio.mu_law_encode(q) - expected)) <= step / 2 + 1e-6
    with pytest.raises(ValueError, match="`bits`"):
        audio.mu_law_quantize(x, bits=1)


# ---------------------------------------------------------------- RIRs


def _schroeder_rt60(h, sample_rate):
    # Energy decay curve in dB; T20 slope between −5 and −25 dB, × 3.
    edc = np.cumsum((np.asarray(h, "float64") ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-300)
    t = np.arange(len(h)) / sample_rate
    fit = (edc_db <= -5) & (edc_db >= -25)
    slope = np.polyfit(t[fit], edc_db[fit], 1)[0]
    return -60.0 / slope


def test_synthetic_rirs_direct_path_drr_and_rt60():
    sr = 16000
    noise = RNG.normal(size=(3, 2 * sr)).astype("float32")
    rt60 = np.array([0.25, 0.5, 1.0], "float32")
    drr = np.array([-5.0, 0.0, 10.0], "float32")
    h = audio.synthetic_rirs(noise, rt60, drr, sr).numpy()
    np.testing.assert_array_equal(h[:, 0], 1.0)
    tail_energy = (h[:, 1:] ** 2).sum(axis=1)
    np.testing.assert_allclose(10 * np.log10(1.0 / tail_energy), drr, atol=1e-3)
    for row, target in zip(h, rt60):
        tail = row.copy()
        tail[0] = 0.0
        assert _schroeder_rt60(tail, sr) == pytest.approx(target, rel=0.1)


def test_prepare_rirs_aligns_at_direct_path_and_normalizes():
    h = np.zeros(50)
    h[7], h[9], h[20] = 0.2, -1.0, 0.5
    out = audio.prepare_rirs([h, np.array([4.0, 3.0])], max_taps=5)
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out[0], np.array([-1.0, 0, 0, 0, 0]), atol=1e-7)
    np.testing.assert_allclose(out[1], [0.8, 0.6, 0, 0, 0], atol=1e-7)
    with pytest.raises(ValueError, match="`rir_bank`: impulse response 1 is empty"):
        audio.prepare_rirs([h, np.zeros(4)])


# ---------------------------------------------------------------- banks


def _write(path, samples, rate, kind="int16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "int16":
        tf.io.write_file(path, tf.audio.encode_wav(
            np.asarray(samples, "float32").reshape(len(samples), -1)
            if len(samples) else np.zeros((0, 1), "float32"), rate))
    else:
        scipy.io.wavfile.write(path, rate, np.asarray(samples, kind))


def test_load_clips_from_a_musan_style_folder(tmp_path):
    root = str(tmp_path / "noise")
    a = RNG.uniform(-0.5, 0.5, 800)
    stereo = RNG.uniform(-0.5, 0.5, (400, 2))
    low = RNG.uniform(-0.5, 0.5, 300)
    _write(os.path.join(root, "free-sound", "a.wav"), a, 16000)
    _write(os.path.join(root, "sound-bible", "b.wav"), stereo, 16000, "float32")
    _write(os.path.join(root, "sound-bible", "c.wav"), low, 8000)
    with open(os.path.join(root, "README"), "w") as f:
        f.write("not audio")
    clips, files = audio.load_clips(root, 16000)
    assert [os.path.basename(f) for f in files] == ["a.wav", "b.wav", "c.wav"]
    # 16-bit PCM through tf.audio.decode_wav, float WAV through SciPy.
    np.testing.assert_allclose(clips[0], a, atol=1 / 32768)
    np.testing.assert_allclose(clips[1], stereo.mean(axis=1), atol=1e-7)
    quantized = np.round(low * 32767) / 32768  # what encode/decode_wav keep
    np.testing.assert_allclose(
        clips[2], scipy.signal.resample_poly(quantized, 2, 1), atol=2e-4)
    cropped, _ = audio.load_clips(root, 16000, max_seconds=0.01, max_files=2)
    assert [len(c) for c in cropped] == [160, 160]
    pattern, _ = audio.load_clips(os.path.join(root, "*", "b.wav"), 16000)
    assert len(pattern) == 1


def test_bank_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="`bank` found no audio files"):
        audio.load_clips(str(tmp_path), 16000)
    with pytest.raises(ValueError, match="`rir_bank`: .* does not exist"):
        audio.load_clips(str(tmp_path / "missing"), 16000, argument="rir_bank")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF garbage")
    with pytest.raises(ValueError, match="`bank`: cannot read .*broken.wav"):
        audio.load_clips(str(tmp_path), 16000)
    empty = tmp_path / "e" / "empty.wav"
    _write(str(empty), np.zeros(0), 16000)
    with pytest.raises(ValueError, match="empty.wav holds no samples"):
        audio.load_clips(str(empty), 16000)
    with pytest.raises(ValueError, match="`bank` is empty"):
        audio.load_clips([], 16000)
    with pytest.raises(ValueError, match="NaN"):
        audio.load_clips(np.array([[0.0, np.nan]]), 16000)


def test_non_wav_needs_a_working_tensorflow_io(tmp_path, monkeypatch):
    # A tensorflow-io whose compiled ops do not load (as on TF 2.21) is
    # importable but fails on first use: it must count as unavailable.
    broken = types.ModuleType("tensorflow_io")

    def fail(*args, **kwargs):
        raise NotImplementedError("unable to open file: libtensorflow_io.so")

    broken.audio = types.SimpleNamespace(decode_wav=fail, AudioIOTensor=fail)
    monkeypatch.setitem(sys.modules, "tensorflow_io", broken)
    bank_lib.tfio_available.cache_clear()
    try:
        assert bank_lib.tfio_available() is False
        flac = tmp_path / "x.flac"
        flac.write_bytes(b"fLaC")
        with pytest.raises(ValueError, match="x.flac.*tensorflow-io.*16-bit PCM WAV"):
            audio.load_clips(str(flac), 16000)
    finally:
        bank_lib.tfio_available.cache_clear()


def test_gather_windows_loops_short_clips():
    clips = [np.arange(5.0), 10 + np.arange(3.0)]
    samples, starts, lengths = bank_lib.flatten_clips(clips)
    got = bank_lib.gather_windows(samples, starts, lengths, np.array([0, 1, 1]),
                                  np.array([3, 2, 7]), 6).numpy()
    expected = [np.take(clips[c], np.arange(o, o + 6), mode="wrap")
                for c, o in [(0, 3), (1, 2), (1, 7)]]
    np.testing.assert_array_equal(got, expected)


# ---------------------------------------------------------------- levels


def test_mix_at_snr_match_level_and_ranges():
    s, n = RNG.normal(size=(3, 500)), RNG.normal(size=(3, 500))
    y = audio.mix_at_snr(s, n, np.array([-3.0, 6.0, 20.0])).numpy()
    snr = 10 * np.log10((s**2).mean(1) / ((y - s) ** 2).mean(1))
    np.testing.assert_allclose(snr, [-3, 6, 20], atol=1e-3)
    silent = np.zeros((1, 10))
    assert np.all(audio.mix_at_snr(silent, np.ones((1, 10)), 6.0).numpy() == 0)
    assert np.all(audio.mix_at_snr(np.ones((1, 10)), silent, 6.0).numpy() == 1)
    m = audio.match_level(2 * s, s).numpy()
    np.testing.assert_allclose(m, s, rtol=1e-5)
    assert np.all(audio.match_level(silent, s[:1]).numpy() == 0)
    assert waveforms.check_range("snr_db", [0, 5]) == (0.0, 5.0)
    with pytest.raises(ValueError, match="`snr_db` is a range"):
        waveforms.check_range("snr_db", (5, 0))
    with pytest.raises(ValueError, match="`rt60` must be above 0"):
        waveforms.check_range("rt60", (0.0, 1.0), minimum=0.0)


# ---------------------------------------------------------------- log-mel


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f) / 700.0)


def _mel_matrix(bins, fft_length, sr, lower, upper):
    # tf.signal's HTK-style triangles over the linear bins (DC bin excluded).
    freqs = np.linspace(0, sr / 2, fft_length // 2 + 1)[1:]
    edges = np.linspace(_hz_to_mel(lower), _hz_to_mel(upper), bins + 2)
    mel = _hz_to_mel(freqs)[:, None]
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0, np.minimum((mel - lo) / (mid - lo), (hi - mel) / (hi - mid)))
    return np.concatenate([np.zeros((1, bins)), weights])


def test_log_mel_equals_numpy_reference_and_is_per_example():
    sr, x = 16000, RNG.normal(size=(2, 4000)) * 0.1
    layer = audio.LogMelSpectrogram(sample_rate=sr, num_mel_bins=32, lower_hz=50)
    got = layer(x.astype("float32")).numpy()
    frames = 1 + (4000 - 400) // 160
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    index = np.arange(frames)[:, None] * 160 + np.arange(400)[None]
    power = np.abs(np.fft.rfft(x[:, index] * window, 512)) ** 2
    expected = np.log(power @ _mel_matrix(32, 512, sr, 50, sr / 2) + 1e-6)
    assert got.shape == (2, frames, 32) == layer.compute_output_shape((2, 4000))
    np.testing.assert_allclose(got, expected, atol=2e-3)
    # Per example: a row's features do not depend on the rest of its batch.
    other = layer(np.stack([x[0], 100 * x[1]]).astype("float32")).numpy()
    np.testing.assert_allclose(other[0], got[0], atol=1e-5)
    silent = layer(np.zeros((1, 400, 1), "float32")).numpy()
    assert np.allclose(silent, np.log(1e-6))


def test_log_mel_config_xla_bfloat16_and_errors():
    layer = audio.LogMelSpectrogram(sample_rate=8000, num_mel_bins=20,
                                    frame_seconds=0.032, hop_seconds=0.016)
    again = audio.LogMelSpectrogram.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    x = RNG.normal(size=(2, 800)).astype("float32")
    run = tf.function(layer, jit_compile=True)
    np.testing.assert_allclose(run(x), layer(x), atol=1e-4)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    bf = audio.LogMelSpectrogram(sample_rate=8000)(x)
    assert bf.dtype == tf.bfloat16 and np.all(np.isfinite(np.asarray(bf, "float32")))
    with pytest.raises(ValueError, match="at least one frame"):
        layer(np.zeros((1, 100), "float32"))
    with pytest.raises(ValueError, match="float waveforms"):
        layer(np.zeros((1, 800), "int16"))
    with pytest.raises(ValueError, match="`lower_hz`"):
        audio.LogMelSpectrogram(sample_rate=8000, upper_hz=5000)
