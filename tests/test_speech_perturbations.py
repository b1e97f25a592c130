"""The speech perturbations: their mathematics, composition and Keras machinery.

Each perturbation is checked against a NumPy/SciPy reference of what it
should compute (`fftconvolve` for reverberation, `resample_poly` for
telephony, exact SNRs for noise and overlapping speech), then inside
`fit()` under XLA, `MirroredStrategy` and `mixed_bfloat16`, through a
save/load round trip, and against bad input.
"""

import shutil

import keras
from keras import ops
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.ops import random_ops
from tests.engine_checks import SCCE
from tests.engine_checks import check_distribution_equivalence
from tests.engine_checks import check_save_load
from tests.engine_checks import mirrored_strategy

SR = 16000
T = 1600  # 0.1 s clips keep every fit fast


def speech(batch=4, length=T, seed=0):
    """Harmonic 'voices' with random pitch and level."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / SR
    f0 = rng.uniform(100, 250, (batch, 1, 1))
    k = np.arange(1, 6)[None, None]
    x = np.sum(np.sin(2 * np.pi * f0 * k * t[None, :, None]) / k, axis=-1)
    return (x * rng.uniform(0.05, 0.5, (batch, 1))).astype("float32")


def snr_db(signal, noisy):
    return 10 * np.log10(np.mean(signal**2, 1) / np.mean((noisy - signal) ** 2, 1))


def bank(n=3, length=700, seed=1):
    return np.random.default_rng(seed).normal(size=(n, length)).astype("float32")


# ------------------------------------------------------------ the mathematics


def test_noise_bank_mixes_a_looped_window_at_the_drawn_snr():
    clips = [bank(1, 500)[0], bank(1, 300, seed=2)[0]]  # shorter than T: looped
    x = speech(batch=8)
    noise = ki.perturbations.NoiseBank(clips, snr_db=(-5.0, 15.0), seed=0)
    y = noise.perturb(x).numpy()
    snr = snr_db(x, y)
    assert np.all((snr >= -5 - 1e-3) & (snr <= 15 + 1e-3)) and np.ptp(snr) > 1
    for row in range(len(x)):
        added = y[row] - x[row]
        # The added noise is a scaled, looped window of one bank clip.
        matches = []
        for clip in clips:
            for offset in range(len(clip)):
                window = np.take(clip, np.arange(offset, offset + T), mode="wrap")
                scale = added @ window / (window @ window)
                matches.append(np.max(np.abs(added - scale * window)))
        assert min(matches) < 1e-5
    fixed = ki.perturbations.NoiseBank(clips, snr_db=6.0, seed=0).perturb(x).numpy()
    np.testing.assert_allclose(snr_db(x, fixed), 6.0, atol=1e-3)


def test_noise_bank_from_wav_folder_equals_the_array_bank(tmp_path):
    clips = np.clip(bank(2, 900) * 0.3, -0.99, 0.99)
    for i, clip in enumerate(clips):
        tf.io.write_file(str(tmp_path / f"n{i}.wav"), tf.audio.encode_wav(clip[:, None], SR))
    # What 16-bit PCM holds: within half a step of the clips.
    quantized = np.stack([tf.audio.decode_wav(tf.io.read_file(str(tmp_path / f"n{i}.wav")))[0][:, 0]
                          for i in range(2)])
    assert np.max(np.abs(quantized - clips)) <= 1 / 32767
    x = speech()
    from_files = ki.perturbations.NoiseBank(str(tmp_path), snr_db=3.0, seed=5).perturb(x)
    from_arrays = ki.perturbations.NoiseBank(quantized, snr_db=3.0, seed=5).perturb(x)
    np.testing.assert_allclose(from_files, from_arrays, atol=1e-6)


def test_overlapping_speech_from_the_batch_uses_another_row_of_its_block():
    class Context:  # the engine's K = 2 perturbed copies of a batch of 4
        batch_size = 4

    def partners(x, y, row, shift):
        added, found = y[row] - x[row], set()
        for other in range(len(x)):
            for lag in (range(T) if shift else [0]):
                w = np.roll(x[other], -lag)
                if np.max(np.abs(added - (added @ w / (w @ w)) * w)) < 1e-5:
                    found.add(other)
        return found

    copies = np.concatenate([speech(4)] * 2)
    distinct = np.concatenate([speech(4), speech(4, seed=7)])
    for shift in (False, True):
        noise = ki.perturbations.OverlappingSpeech(snr_db=6.0, shift=shift, seed=3)
        for x in (copies, distinct):
            y = noise.perturb(x, Context()).numpy()
            np.testing.assert_allclose(snr_db(x, y), 6.0, atol=1e-3)
            for row in range(8):
                found = partners(x, y, row, shift)
                # Another utterance (never the row's own copy) ...
                assert found and all(o % 4 != row % 4 for o in found)
                if x is distinct:  # ... of the same block
                    assert all(o // 4 == row // 4 for o in found)
    single = ki.perturbations.OverlappingSpeech(seed=0).perturb(copies[:1]).numpy()
    assert np.all(np.isfinite(single)) and not np.allclose(single, copies[:1])


def test_overlapping_speech_from_a_bank():
    x = speech()
    y = ki.perturbations.OverlappingSpeech(
        bank=speech(3, 2000, seed=9), snr_db=(6, 6), seed=0
    ).perturb(x)
    np.testing.assert_allclose(snr_db(x, y.numpy()), 6.0, atol=1e-3)


def test_reverberation_with_a_recorded_rir_equals_fftconvolve():
    h = np.zeros(300, "float32")
    h[40] = 1.0  # the direct path, after 40 samples of pre-delay
    h[41:] = 0.3 * np.exp(-np.arange(259) / 60.0) * np.random.default_rng(0).normal(size=259)
    aligned = h[40:] / np.linalg.norm(h[40:])
    x = speech()
    raw = ki.perturbations.Reverberation(rir_bank=h[None], normalize=False).perturb(x).numpy()
    expected = np.stack([scipy.signal.fftconvolve(row, aligned)[:T] for row in x])
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    level = ki.perturbations.Reverberation(rir_bank=[h], max_rir_seconds=0.01).perturb(x).numpy()
    short = aligned[:160] / np.linalg.norm(aligned[:160])
    expected = np.stack([scipy.signal.fftconvolve(row, short)[:T] for row in x])
    expected *= np.sqrt(np.mean(x**2, 1) / np.mean(expected**2, 1))[:, None]
    np.testing.assert_allclose(level, expected, atol=1e-5)


def test_synthetic_reverberation_is_aligned_and_level_normalized():
    x = speech(batch=6, length=8000)
    reverb = ki.perturbations.Reverberation(
        rt60=(0.3, 0.9), drr_db=(-3.0, 3.0), rir_seconds=0.3, seed=1
    )
    y = reverb.perturb(x).numpy()
    np.testing.assert_allclose(np.mean(y**2, 1), np.mean(x**2, 1), rtol=1e-4)
    assert not np.allclose(y, x, atol=1e-3)
    h = reverb.impulse_responses(6).numpy()
    assert h.shape == (6, 4800) and np.all(h[:, 0] == 1.0)
    assert np.all(np.argmax(np.abs(h), axis=1) == 0)  # direct path first
    # Later taps decay: the last 0.1 s hold much less energy than the first.
    assert np.all((h[:, -1600:] ** 2).sum(1) < 0.1 * (h[:, 1:1601] ** 2).sum(1))


def test_telephony_equals_resample_poly_round_trip():
    x = speech(length=T + 1)  # an odd length: 801 samples at 8 kHz
    y = ki.perturbations.Telephony().perturb(x).numpy()
    narrow = scipy.signal.resample_poly(x.astype("float64"), 1, 2, axis=-1)
    expected = scipy.signal.resample_poly(narrow, 2, 1, axis=-1)[:, : T + 1]
    np.testing.assert_allclose(y, expected, atol=2e-5)
    # Nothing is left above 4 kHz.
    noise = np.random.default_rng(0).normal(size=(1, 8192)).astype("float32")
    spectrum = np.abs(np.fft.rfft(ki.perturbations.Telephony().perturb(noise).numpy()[0])) ** 2
    freqs = np.fft.rfftfreq(8192, 1 / SR)
    assert spectrum[freqs > 4400].sum() < 1e-4 * spectrum[freqs < 3600].sum()


def test_telephony_band_and_mu_law_equal_their_reference_pipeline():
    x = speech()
    y = ki.perturbations.Telephony(band=(300, 3400), mu_law=True).perturb(x).numpy()
    narrow = scipy.signal.resample_poly(x.astype("float64"), 1, 2, axis=-1)
    taps = scipy.signal.firwin(101, [300, 3400], pass_zero=False, fs=8000)
    narrow = np.stack([np.convolve(r, taps, mode="same") for r in narrow])
    code = np.sign(narrow) * np.log1p(255 * np.abs(narrow)) / np.log1p(255)
    code = np.round(code * 127) / 127
    narrow = np.sign(code) * ((256.0 ** np.abs(code)) - 1) / 255
    expected = scipy.signal.resample_poly(narrow, 2, 1, axis=-1)[:, :T]
    # μ-law rounding may land on the other side of a level for a few samples.
    close = np.abs(y - expected) < 1e-4
    assert close.mean() > 0.99


def test_compose_and_random_choice():
    x = speech()
    phone, up = ki.perturbations.Telephony(), ki.perturbations.VolumeNoise(2.0, direction="up")
    chained = ki.perturbations.Compose([phone, up]).perturb(x)
    np.testing.assert_allclose(chained, 2.0 * phone.perturb(x).numpy(), rtol=1e-6, atol=1e-7)
    ones = np.ones((4000, 2), "float32")
    gated = (
        ki.perturbations.Compose(
            [ki.perturbations.VolumeNoise(2.0, direction="up")], probabilities=[0.3], seed=0
        )
        .perturb(ones)
        .numpy()[:, 0]
    )
    assert set(np.unique(gated)) == {1.0, 2.0}
    assert abs(np.mean(gated == 2.0) - 0.3) < 5 * np.sqrt(0.21 / 4000)
    choice = ki.perturbations.RandomChoice([ki.perturbations.VolumeNoise(2.0, direction="up"),
                              ki.perturbations.VolumeNoise(2.0, direction="down"),
                              ki.perturbations.VolumeNoise(1.0, direction="up")],
                             probabilities=[2, 1, 1], seed=0)
    picked = choice.perturb(ones).numpy()[:, 0]
    for value, p in [(2.0, 0.5), (0.5, 0.25), (1.0, 0.25)]:
        assert abs(np.mean(picked == value) - p) < 5 * np.sqrt(p * (1 - p) / 4000)
    # The contract of the members carries over.
    assert ki.perturbations.Compose(
        [ki.perturbations.FGSM(0.1), ki.perturbations.GaussianNoise(0.1)]
    ).is_adversarial
    assert not ki.perturbations.RandomChoice(
        [ki.perturbations.BlankNoise(1), ki.perturbations.UnigramNoise(vocabulary_size=4)]
    ).requires_float_inputs


ALL = {
    "noise_bank": lambda: ki.perturbations.NoiseBank(bank(), snr_db=(0, 10), seed=1),
    "overlap_batch": lambda: ki.perturbations.OverlappingSpeech(seed=2),
    "overlap_bank": lambda: ki.perturbations.OverlappingSpeech(bank=bank(2, 900), seed=2),
    "reverb_synthetic": lambda: ki.perturbations.Reverberation(rir_seconds=0.05, seed=3),
    "reverb_bank": lambda: ki.perturbations.Reverberation(rir_bank=bank(2, 400), seed=3),
    "telephony": lambda: ki.perturbations.Telephony(band=(300, 3400), mu_law=True),
    "compose": lambda: ki.perturbations.Compose(
        [
            ki.perturbations.Reverberation(rir_seconds=0.05, seed=3),
            ki.perturbations.NoiseBank(bank(), seed=1),
            ki.perturbations.Telephony(),
            ki.perturbations.VolumeNoise(seed=4),
            ki.perturbations.AdditiveNoise(20.0, seed=5),
        ],
        probabilities=[0.5, 1.0, 0.5, 0.5, 1.0],
        seed=6,
    ),
    "choice": lambda: ki.perturbations.RandomChoice(
        [
            ki.perturbations.Reverberation(rir_seconds=0.05),
            ki.perturbations.OverlappingSpeech(),
            ki.perturbations.Telephony(),
        ],
        seed=7,
    ),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_silent_clips_stay_finite_and_shapes_dtypes_kept(name):
    p = ALL[name]()
    silent = p.perturb(np.zeros((3, T, 1), "float32")).numpy()
    assert silent.shape == (3, T, 1) and np.all(np.isfinite(silent))
    assert np.max(np.abs(silent)) == 0.0
    y = p.perturb(speech().astype("float16"))
    assert y.dtype == tf.float16 and np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("name", sorted(ALL))
def test_config_round_trip(name):
    p = ALL[name]()
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(p))
    assert type(again) is type(p)
    assert keras.saving.serialize_keras_object(again) == keras.saving.serialize_keras_object(p)
    np.testing.assert_allclose(again.perturb(speech()).shape, (4, T))


# ------------------------------------------------------------ Keras machinery


def waveform_model(name="base"):
    inputs = keras.Input((T,))
    h = ki.audio.LogMelSpectrogram(sample_rate=SR, num_mel_bins=16, name="logmel")(inputs)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    h = keras.layers.Dense(8, activation="tanh", name="embedding")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(h), name=name)


def data(n=64):
    return speech(n, seed=4), np.arange(n, dtype="int32") % 3


def test_fit_under_xla_with_every_noise():
    x, y = data()
    for name in sorted(ALL):
        keras.utils.set_random_seed(0)
        model = ki.IRL(waveform_model(), perturbation=ALL[name](), layers="above:embedding")
        model.compile(keras.optimizers.Adam(0.01), SCCE, jit_compile=True)
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        for key in ("loss", "perturbed_loss", "irl_distance"):
            assert np.all(np.isfinite(history.history[key])), (name, key)


def test_mirrored_strategy_matches_one_device(monkeypatch):
    # Per-replica random streams differ from one device's by design (see
    # test_derivative_conformance), so the draws are constants here; every
    # other path (bank gathers, FFTs, resampling, mixing) is the real one.
    monkeypatch.setattr(random_ops, "normal", lambda shape, mean=0.0, stddev=1.0,
                        dtype=None, seed=None: 0.3 * ops.ones(shape, dtype or "float32"))
    monkeypatch.setattr(random_ops, "uniform", lambda shape, minval=0.0, maxval=1.0,
                        dtype=None, seed=None: minval + (maxval - minval) * 0.5
                        * ops.ones(shape, dtype or "float32"))
    x, y = data()

    def build():
        noise = ki.perturbations.Compose(
            [
                ki.perturbations.Reverberation(rir_seconds=0.05),
                ki.perturbations.NoiseBank(bank(), snr_db=(0, 10)),
                ki.perturbations.OverlappingSpeech(bank=bank(2, 900, seed=3)),
                ki.perturbations.Telephony(mu_law=True),
            ]
        )
        return ki.IRL(waveform_model(), perturbation=noise, weight=0.5,
                      layers="above:embedding")

    check_distribution_equivalence(build, x, y)


def test_batch_overlap_trains_under_mirrored_strategy():
    x, y = data()
    with mirrored_strategy().scope():
        model = ki.IRL(waveform_model(), perturbation=ki.perturbations.OverlappingSpeech(seed=0))
        model.compile("adam", SCCE)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["irl_distance"][0])


def test_mixed_bfloat16_trains():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x, y = data()
    model = ki.IRL(waveform_model(), perturbation=ALL["compose"]())
    model.compile(keras.optimizers.Adam(0.01), SCCE)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_save_load_keeps_the_banks(tmp_path):
    x, y = data()
    noise = ki.perturbations.Compose(
        [ki.perturbations.Reverberation(rir_bank=bank(2, 300)), ki.perturbations.NoiseBank(bank())]
    )
    model = ki.IRL(waveform_model(), perturbation=noise, layers="above:embedding")
    model.compile(keras.optimizers.Adam(0.01), SCCE)
    loaded = check_save_load(model, x, y, tmp_path)
    for a, b in zip(noise.perturbations, loaded.perturbation.perturbations):
        np.testing.assert_array_equal(a.bank_samples.numpy(), b.bank_samples.numpy())


def test_a_bank_read_from_files_reloads_without_the_files(tmp_path):
    folder = tmp_path / "noise"
    folder.mkdir()
    for i, clip in enumerate(bank(2, 800) * 0.3):
        tf.io.write_file(str(folder / f"{i}.wav"), tf.audio.encode_wav(clip[:, None], SR))
    x, y = data(16)
    model = ki.IRL(waveform_model(), perturbation=ki.perturbations.NoiseBank(str(folder)))
    model.compile("adam", SCCE)
    model.fit(x, y, batch_size=16, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    shutil.rmtree(folder)
    loaded = keras.models.load_model(path)
    assert loaded.perturbation.bank == str(folder)
    np.testing.assert_array_equal(loaded.perturbation.bank_samples.numpy(),
                                  model.perturbation.bank_samples.numpy())


# ------------------------------------------------------------ bad input


def test_bad_waveforms_are_rejected_with_advice():
    for p in (
        ki.perturbations.Telephony(),
        ki.perturbations.Reverberation(rir_seconds=0.01),
        ki.perturbations.NoiseBank(bank()),
        ki.perturbations.OverlappingSpeech(),
    ):
        with pytest.raises(ValueError, match="float waveforms"):
            p.perturb(np.zeros((2, T), "int16"))
        with pytest.raises(ValueError, match=r"\(batch, time, 1\)"):
            p.perturb(np.zeros((2, T, 2), "float32"))
        with pytest.raises(ValueError, match=r"x\[None\]"):
            p.perturb(np.zeros((T,), "float32"))
    model = ki.IRL(waveform_model(), perturbation=ki.perturbations.Telephony())
    model.compile("adam", SCCE)
    with pytest.raises(ValueError, match="Telephony needs float inputs"):
        model.fit(np.zeros((4, T), "int16"), np.zeros(4, "int32"), verbose=0)


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="`telephone_rate`.*8001/16000"):
        ki.perturbations.Telephony(telephone_rate=8001)
    with pytest.raises(ValueError, match="`telephone_rate` .* must not exceed"):
        ki.perturbations.Telephony(sample_rate=8000, telephone_rate=16000)
    with pytest.raises(ValueError, match="`sample_rate` must be a positive whole"):
        ki.perturbations.NoiseBank(bank(), sample_rate=0)
    with pytest.raises(ValueError, match="`band`"):
        ki.perturbations.Telephony(band=(300, 4500))
    with pytest.raises(ValueError, match="`snr_db` is a range"):
        ki.perturbations.NoiseBank(bank(), snr_db=(10, 0))
    with pytest.raises(ValueError, match="`snr_db` is a range"):
        ki.perturbations.OverlappingSpeech(snr_db=(7, 6))
    with pytest.raises(ValueError, match="`rt60` must be above 0"):
        ki.perturbations.Reverberation(rt60=(0.0, 0.5))
    with pytest.raises(ValueError, match="`drr_db` is a range"):
        ki.perturbations.Reverberation(drr_db=(5, -5))
    with pytest.raises(ValueError, match="`bank` found no audio files"):
        ki.perturbations.NoiseBank(str(tmp_path))
    with pytest.raises(ValueError, match="`rir_bank` found no audio files"):
        ki.perturbations.Reverberation(rir_bank=str(tmp_path))
    (tmp_path / "bad.wav").write_bytes(b"not a wav file")
    with pytest.raises(ValueError, match="`bank`: cannot read .*bad.wav"):
        ki.perturbations.OverlappingSpeech(bank=str(tmp_path))
    with pytest.raises(ValueError, match="NoiseBank needs `bank`"):
        ki.perturbations.NoiseBank()
    with pytest.raises(ValueError, match="`rir_bank`: impulse response 0 is empty"):
        ki.perturbations.Reverberation(rir_bank=np.zeros((1, 10)))
    with pytest.raises(ValueError, match="one value per perturbation"):
        ki.perturbations.Compose([ki.perturbations.Telephony()], probabilities=[0.5, 0.5])
    with pytest.raises(ValueError, match="probabilities in"):
        ki.perturbations.Compose([ki.perturbations.Telephony()], probabilities=[1.5])
    with pytest.raises(ValueError, match="`probabilities` must be 2 non-negative"):
        ki.perturbations.RandomChoice(
            [ki.perturbations.Telephony(), ki.perturbations.Telephony()], probabilities=[0, 0]
        )


def test_rir_longer_than_the_clip_names_the_argument():
    with pytest.raises(ValueError, match="`rir_seconds`.*longer than the clips"):
        ki.perturbations.Reverberation(rir_seconds=0.5).perturb(speech())
    with pytest.raises(ValueError, match="`rir_bank`.*Set `max_rir_seconds`"):
        ki.perturbations.Reverberation(rir_bank=bank(1, 4000)).perturb(speech())
    with pytest.raises(ValueError, match="known number of samples"):
        tf.function(ki.perturbations.Reverberation(rir_seconds=0.01).perturb).get_concrete_function(
            tf.TensorSpec((None, None)))
    # Mixing from a bank needs no static length (no FFT or filter sizes).
    mix = tf.function(ki.perturbations.NoiseBank(bank(), snr_db=6.0, seed=0).perturb,
                      input_signature=[tf.TensorSpec((None, None))])
    y = mix(speech()).numpy()
    np.testing.assert_allclose(snr_db(speech(), y), 6.0, atol=1e-3)


def test_snr_and_rt60_variables_change_without_retrace():
    noise = ki.perturbations.NoiseBank(bank(), snr_db=0.0, seed=0)
    reverb = ki.perturbations.Reverberation(rt60=0.3, rir_seconds=0.05, drr_db=0.0, seed=0)
    traces = []

    @tf.function(jit_compile=True)
    def run(x):
        traces.append(1)
        return noise.perturb(x), reverb.impulse_responses(4)

    x = speech()
    run(x)
    noise.min_snr_db.assign(20.0)
    noise.max_snr_db.assign(20.0)
    reverb.min_drr_db.assign(10.0)
    reverb.max_drr_db.assign(10.0)
    y, h = run(x)
    np.testing.assert_allclose(snr_db(x, y.numpy()), 20.0, atol=1e-3)
    np.testing.assert_allclose((h.numpy()[:, 1:] ** 2).sum(1), 0.1, rtol=1e-4)
    assert len(traces) == 1
