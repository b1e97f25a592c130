"""Reproduces the speech experiment (Table 3) of "Invariant Representation Learning".

Paper: Salazar, Liang et al., "Invariant Representation Learning for Robust
Deep Networks" (2018), §3 "Speech recognition" and Table 3: a recognizer
trained with in-domain noise (MUSAN noise recordings added at a random
SNR) and evaluated clean, under that noise, and under four out-of-domain
noises: room impulse responses ("RIR"), overlapping speech at 6 dB SNR
("speech"), doubled / halved amplitude ("v.up" / "v.down") and telephony
resampling 16 → 8 → 16 kHz ("tel.").

Here the task is keyword classification (Speech Commands' ten words, plus
silence and unknown at full scale) instead of WSJ character recognition,
with a small convolutional recognizer on log-mel features computed inside
the network (`ki.audio.LogMelSpectrogram`), so every noise acts on waveforms.
Rows, (α, β, γ) as in Table 3 (plus data augmentation, as in Tables 1–2):

    regular            (1, 0, 0)     no noise
    data augmentation  (0, 1, 0)     trained on noisy clips only
    IRL batching       (1, 1, 0)     clean and noisy clips in one batch
    IRL loss           (1, 1, 1)     + the IRL distance (‖u−v‖² − λ·cos by
                                     default) on the encoder output
                                     (`embedding`) and the logits, as the
                                     paper supervises "the encoder … and
                                     logits (γ_ℓ = 1 for ℓ ≥ e)"

Columns are test error (%) on the clean test set and under each noise (one
fixed draw per noise and seed, the same for every row), and "emb. Δ²", the
mean squared distance per unit between the embeddings of the clean and the
noisy test clips, the quantity the IRL loss shrinks. Each tapped layer's
γ_ℓ is 1/(its units) by default (`--layer-gamma per_unit`): with the
paper's γ_ℓ = 1 the summed squared distance of the 64-unit embedding and the
logits dominated the cross-entropy from the first steps and collapsed the
representation (measured on the synthetic keywords at the default sizes:
clean error 80 % with L2-cosine, 48 % with squared L2, against 0 % for the
regular and IRL batching rows). Training noise is
`ki.perturbations.NoiseBank` over the training half of the noise folder at
`--train-snr`; the "noise" column uses the held-out half at `--eval-snr`.
RIRs are synthetic (`ki.perturbations.Reverberation`, RT60 0.3–0.9 s) unless `--rir-dir`
points at recorded ones; overlapping speech comes from the other test
utterances of the batch (`ki.perturbations.OverlappingSpeech`).

Full scale (Speech Commands prepared for TFDS in DATA_DIR with `tfds build
speech_commands --data_dir DATA_DIR`; MUSAN's `noise` folder for the noise):

    python recipes/irl_speech.py --dataset speech_commands --data-dir DATA_DIR \\
        --noise-dir musan/noise [--rir-dir RIRS]

Embedded run, no download: formant-synthesized keywords
(`ki.datasets.synthetic_keywords`, a new speaker per utterance, 0.5 s
clips) and MUSAN-like synthetic noises written as WAV files into
`<output-dir>/noise_bank/` and read back through `ki.perturbations.NoiseBank` (so the
folder path is the one MUSAN takes):

    python recipes/irl_speech.py --dataset synthetic
"""

import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `recipes` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_invariance as ki  # noqa: E402
from keras_invariance import audio  # noqa: E402
from keras_invariance.datasets import synthetic_speech  # noqa: E402
from keras_invariance.integrations import cli  # noqa: E402
from recipes import _common  # noqa: E402

RECIPE = "irl_speech"
SAMPLE_RATE = 16000

#: Table 3's rows: name, (α, β, γ).
ROWS = [
    ("regular", (1.0, 0.0, 0.0)),
    ("data augmentation", (0.0, 1.0, 0.0)),
    ("IRL batching", (1.0, 1.0, 0.0)),
    ("IRL loss", (1.0, 1.0, 1.0)),
]
#: Evaluation columns (Table 3's, plus the in-domain "noise").
NOISE_COLUMNS = ["clean", "noise", "RIR", "speech", "v.up", "v.down", "tel."]
#: Mean squared distance per unit between the embeddings of clean and
#: noisy ("noise" column) test clips: the invariance the IRL loss targets.
DISTANCE_COLUMN = "emb. Δ²"

DEFAULTS = {
    "speech_commands": dict(seconds=1.0, epochs=30, batch_size=100,
                            learning_rate=1e-3, train_size=None, test_size=None,
                            per_word=None, width=64),
    "synthetic": dict(seconds=0.5, epochs=15, batch_size=64, learning_rate=3e-3,
                      train_size=None, test_size=None, per_word=120, width=32),
}


def parse_args(argv=None):
    parser = _common.build_parser(RECIPE, __doc__, ["speech_commands", "synthetic"])
    add = parser.add_argument
    add("--noise-dir", default=None,
        help="folder of noise recordings (e.g. MUSAN's musan/noise); every 5th "
        "file (sorted) is held out for the 'noise' column. Default: synthetic "
        "noises written to <output-dir>/noise_bank")
    add("--rir-dir", default=None,
        help="folder of recorded room impulse responses for the RIR column "
        "(default: synthetic RIRs)")
    add("--train-snr", type=float, nargs=2, default=[0.0, 20.0],
        metavar=("MIN", "MAX"), help="SNR range (dB) of the training noise")
    add("--eval-snr", type=float, nargs=2, default=[5.0, 5.0],
        metavar=("MIN", "MAX"), help="SNR range (dB) of the 'noise' column")
    add("--gamma", type=float, default=1.0, help="γ of the IRL loss row")
    add("--distance", default="l2_cosine",
        help="IRL distance: l2_cosine (default), squared_l2, cosine")
    add("--layers", nargs="+", default=["embedding", "logits"],
        help="tapped layers of the IRL loss row")
    add("--layer-gamma", choices=["per_unit", "one"], default="per_unit",
        help="γ_ℓ of each tapped layer: 1/(its units), i.e. the mean squared "
        "difference per unit (default), or 1 as in the paper (measured on the "
        "synthetic keywords: γ_ℓ = 1 collapses the representation, clean "
        "error 48–80%%)")
    add("--per-word", type=_common.positive_int, default=None,
        help="synthetic: training utterances per word (test: a quarter)")
    add("--seconds", type=float, default=None, help="clip length in seconds")
    add("--width", type=_common.positive_int, default=None,
        help="channels of the recognizer's first convolutions")
    add("--jit-compile", action="store_true", help="compile(jit_compile=True)")
    args = parser.parse_args(argv)
    return _common.apply_defaults(args, DEFAULTS)


# ---------------------------------------------------------------- data


def _pad(audio_int16, samples):
    x = tf.cast(audio_int16[:samples], tf.float32) / 32768.0
    return tf.ensure_shape(tf.pad(x, [[0, samples - tf.shape(x)[0]]]), [samples])


def load_speech_commands(args, samples):
    """Training `tf.data` stream and a numpy test set from TFDS (prepared)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder("speech_commands", data_dir=args.data_dir)
    if not args.download and not builder.is_prepared():
        target = args.data_dir or "~/tensorflow_datasets"
        raise _common.DataNotPreparedError(
            f"Speech Commands is not prepared in {target}.\nPrepare it once on "
            "a machine with internet access:\n    pip install tensorflow-datasets "
            f"pydub\n    tfds build speech_commands --data_dir {target}\ncopy "
            f"that directory here and pass --data-dir {target}; or rerun with "
            "--download. For a run without any download use --dataset synthetic."
        )
    train, test = tfds.load("speech_commands", split=["train", "test"],
                            data_dir=args.data_dir, download=args.download,
                            as_supervised=True)
    if args.train_size:
        train = train.take(args.train_size)
    if args.test_size:
        test = test.take(args.test_size)
    train = train.map(lambda a, y: (_pad(a, samples), tf.cast(y, tf.int32)))
    x_test, y_test = [], []
    for a, y in test.map(lambda a, y: (_pad(a, samples), y)).batch(512):
        x_test.append(a.numpy())
        y_test.append(y.numpy())
    names = builder.info.features["label"].names
    try:
        count = builder.info.splits["train"].num_examples
    except KeyError:  # split metadata not recorded (e.g. a mocked dataset)
        count = int(train.reduce(0, lambda n, _: n + 1))
    count = min(count, args.train_size or count)
    x_test, y_test = np.concatenate(x_test), np.concatenate(y_test).astype("int32")
    return (train, count), (x_test, y_test), names


def load_synthetic(args, samples):
    words = list(synthetic_speech.KEYWORDS)
    x_train, y_train = synthetic_speech.synthetic_keywords(
        args.per_word, SAMPLE_RATE, args.seconds, seed=args.seed)
    x_test, y_test = synthetic_speech.synthetic_keywords(
        max(1, args.per_word // 4), SAMPLE_RATE, args.seconds, seed=args.seed + 1)
    rng = np.random.default_rng(args.seed)
    if args.train_size:
        keep = rng.permutation(len(y_train))[: args.train_size]
        x_train, y_train = x_train[keep], y_train[keep]
    if args.test_size:
        keep = rng.permutation(len(y_test))[: args.test_size]
        x_test, y_test = x_test[keep], y_test[keep]
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    return (train, len(y_train)), (x_test, y_test), words


def noise_banks(args):
    """(training files, held-out files) of the noise bank."""
    if args.noise_dir:
        files = audio.find_audio_files(args.noise_dir, "--noise-dir")
        held_out = files[4::5]
        return [f for f in files if f not in held_out] or files, held_out or files
    folder = os.path.join(args.output_dir, "noise_bank")
    banks = []
    for split, seed in (("train", args.seed + 10), ("test", args.seed + 11)):
        clips = synthetic_speech.synthetic_noises(8, SAMPLE_RATE, 3.0, seed=seed)
        os.makedirs(os.path.join(folder, split), exist_ok=True)
        paths = []
        for i, clip in enumerate(clips):
            path = os.path.join(folder, split, f"noise_{i}.wav")
            tf.io.write_file(path, tf.audio.encode_wav(clip[:, None], SAMPLE_RATE))
            paths.append(path)
        banks.append(os.path.join(folder, split))
    return banks[0], banks[1]


# ---------------------------------------------------------------- model


def feature_statistics(x, batch_size=256):
    """Mean and variance of each log-mel bin over clean clips (global CMVN)."""
    layer = ki.audio.LogMelSpectrogram(SAMPLE_RATE, num_mel_bins=40)
    features = np.concatenate([
        np.asarray(layer(x[i:i + batch_size])).reshape(-1, 40)
        for i in range(0, len(x), batch_size)
    ])
    return features.mean(axis=0), features.var(axis=0) + 1e-6


def recognizer(samples, num_classes, mean, variance, width=64, name="recognizer"):
    """Log-mel (40 bins, 25/10 ms) → CMVN → 3 conv blocks → `embedding` → `logits`.

    The features are normalized with fixed per-bin statistics of the clean
    training clips (not BatchNorm), so a volume change shifts them as it
    would in a deployed recognizer.
    """
    inputs = keras.Input((samples,), name="waveform")
    h = ki.audio.LogMelSpectrogram(SAMPLE_RATE, num_mel_bins=40, name="log_mel")(inputs)
    h = keras.layers.Normalization(mean=mean.tolist(), variance=variance.tolist(),
                                   name="cmvn")(h)
    for i, (filters, kernel) in enumerate([(width, 5), (width, 5), (2 * width, 3)], 1):
        h = keras.layers.Conv1D(filters, kernel, padding="same", use_bias=False,
                                name=f"conv_{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.9, name=f"bn_{i}")(h)
        h = keras.layers.ReLU(name=f"relu_{i}")(h)
        if i < 3:
            h = keras.layers.MaxPooling1D(2, name=f"pool_{i}")(h)
    h = keras.layers.GlobalAveragePooling1D(name="time_pool")(h)
    h = keras.layers.Dense(2 * width, activation="relu", name="embedding")(h)
    h = keras.layers.Dropout(0.2, name="dropout")(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def evaluation_noise(column, args, banks, seed):
    """A fresh perturbation for one column (same seed → same draws), or None."""
    if column == "clean":
        return None
    if column == "noise":
        return ki.perturbations.NoiseBank(banks[1], snr_db=tuple(args.eval_snr), seed=seed)
    if column == "RIR":
        if args.rir_dir:
            return ki.perturbations.Reverberation(
                rir_bank=args.rir_dir, max_rir_seconds=min(1.0, args.seconds), seed=seed
            )
        return ki.perturbations.Reverberation(rt60=(0.3, 0.9), drr_db=(-3.0, 3.0),
                                rir_seconds=min(0.5, args.seconds), seed=seed)
    if column == "speech":
        return ki.perturbations.OverlappingSpeech(snr_db=6.0, seed=seed)
    if column in ("v.up", "v.down"):
        return ki.perturbations.VolumeNoise(2.0, direction=column[2:])
    return ki.perturbations.Telephony(SAMPLE_RATE, 8000)


def noisy_copy(noise, x, batch_size=256):
    """One fixed noisy copy of the test set (the same for every row)."""
    if noise is None:
        return x
    dtype = "float16" if x.nbytes > 5e8 else "float32"  # Speech Commands: halve it
    return np.concatenate([
        np.asarray(noise.perturb(x[i:i + batch_size])).astype(dtype)
        for i in range(0, len(x), batch_size)
    ])


def embedding_distance(model, x_clean, x_noisy, batch_size=256):
    """Mean squared distance per unit of `embedding` on clean vs noisy clips."""
    embed = keras.Model(model.inputs, model.get_layer("embedding").output)
    total = 0.0
    for i in range(0, len(x_clean), batch_size):
        u = embed.predict_on_batch(np.asarray(x_clean[i:i + batch_size], "float32"))
        v = embed.predict_on_batch(np.asarray(x_noisy[i:i + batch_size], "float32"))
        total += float(np.sum(np.mean((u - v) ** 2, axis=-1)))
    return total / len(x_clean)


def error_percent(model, x, y, batch_size=256):
    """Test error (%) of the plain network on `x`."""
    correct = 0
    for i in range(0, len(y), batch_size):
        scores = model.predict_on_batch(np.asarray(x[i:i + batch_size], "float32"))
        correct += int(np.sum(np.argmax(scores, axis=-1) == y[i:i + batch_size]))
    return 100.0 * (1.0 - correct / len(y))


def layer_gammas(base, args):
    """{layer: γ_ℓ} of the IRL loss (see --layer-gamma)."""
    if args.layer_gamma == "one":
        return {name: 1.0 for name in args.layers}
    return {name: 1.0 / float(np.prod(base.get_layer(name).output.shape[1:]))
            for name in args.layers}


def build_model(row, base, args, banks):
    alpha, beta, gamma = dict(ROWS)[row]
    if beta == 0:
        return ki.InvariantModel(base)
    noise = ki.perturbations.NoiseBank(banks[0], snr_db=tuple(args.train_snr), seed=args.seed)
    penalties = []
    if gamma > 0:
        penalties = [ki.penalties.ActivationDistance(layers=layer_gammas(base, args),
                                           distance=args.distance,
                                           weight=gamma * args.gamma,
                                           # γ_ℓ = 1/units is this recipe's
                                           # scale on the raw distance.
                                           scale="paper")]
    return ki.InvariantModel(base, alpha=alpha, beta=beta, perturbation=noise,
                             penalties=penalties)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    samples = int(round(args.seconds * SAMPLE_RATE))
    load = load_synthetic if args.dataset == "synthetic" else load_speech_commands
    (train, count), (x_test, y_test), names = load(args, samples)
    banks = noise_banks(args)
    steps = -(-count // args.batch_size)
    clean = np.concatenate([x for x, _ in train.take(2000).batch(500).as_numpy_iterator()])
    mean, variance = feature_statistics(clean)
    tests = {c: noisy_copy(evaluation_noise(c, args, banks, args.seed + 1000), x_test)
             for c in NOISE_COLUMNS}
    stream = _common.progress_stream(args)
    rows = []
    for i, (row, _) in enumerate(ROWS, start=1):
        keras.utils.set_random_seed(args.seed)
        base = recognizer(samples, len(names), mean, variance, args.width)
        model = build_model(row, base, args, banks)
        data = train.shuffle(10000, seed=args.seed).batch(args.batch_size).prefetch(2)
        schedule = keras.optimizers.schedules.CosineDecay(
            args.learning_rate, decay_steps=max(1, args.epochs * steps))
        model.compile(keras.optimizers.Adam(schedule),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=args.jit_compile)
        began = time.perf_counter()
        model.fit(data, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[
            cli.EpochProgress(f"[{i}/{len(ROWS)}] {row}", args.epochs, stream)])
        result = {"method": row, "train s": time.perf_counter() - began}
        for column in NOISE_COLUMNS:
            result[column] = error_percent(model.base_model, tests[column], y_test)
        result[DISTANCE_COLUMN] = embedding_distance(model.base_model, x_test, tests["noise"])
        rows.append(result)
        if stream is not None:
            stream.write(f"    {row}: " + ", ".join(
                f"{c} {result[c]:.2f}" for c in NOISE_COLUMNS + [DISTANCE_COLUMN]) + "\n")
            stream.flush()
    columns = [_common.Column(c, None, "{:.2f}") for c in NOISE_COLUMNS]
    columns.append(_common.Column(DISTANCE_COLUMN, None, "{:.4f}"))
    title = (
        f"IRL Table 3 analogue ({args.dataset}: {len(names)} classes, {count} "
        f"training clips, {args.epochs} epochs, {len(y_test)} test clips of "
        f"{args.seconds:g} s; train noise {args.train_snr[0]:g}–{args.train_snr[1]:g} dB; "
        f"IRL loss γ={args.gamma:g} on {args.layers} (γ_ℓ {args.layer_gamma}), "
        f"{args.distance}; "
        f"seed={args.seed}): test error %"
    )
    return _common.report(args, title, rows, columns, time.perf_counter() - start,
                          extra={"classes": list(names), "noise_bank": list(
                              banks[0] if isinstance(banks[0], list) else [banks[0]])})


if __name__ == "__main__":
    main()
