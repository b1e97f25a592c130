"""Room impulse responses: a synthetic generator and bank preparation.

Synthetic RIRs follow the statistical model of late reverberation (Polack's
model): a direct path, then Gaussian noise under an exponential envelope
that decays by 60 dB in RT60 seconds,

    h[0] = 1,   h[n] = g · w[n] · 10^(−3 n / (RT60 · fs))   (n ≥ 1, w ~ N(0, 1)),

with the gain `g` set so that the direct-to-reverberant energy ratio is
`drr_db`: Σ_{n≥1} h[n]² = 10^(−drr_db / 10). The direct path comes first,
so convolving with `h` keeps the clip aligned.

Recorded RIRs (a user's bank) are brought to the same convention by
`prepare_rirs`: each is cut to start at its direct path (its largest
magnitude sample, as SpeechBrain's reverberation does), cropped, scaled to
unit energy and zero-padded to one length.
"""

import numpy as np
import tensorflow as tf

#: ln(10^3): the envelope exp(−ln(10³)·t / RT60) is 60 dB down at t = RT60.
_DECAY = 3.0 * np.log(10.0)


def synthetic_rirs(noise, rt60, drr_db, sample_rate):
    """Exponentially decaying noise with a direct path, one RIR per row.

    Example:

    >>> import numpy as np
    >>> noise = np.random.default_rng(0).normal(size=(2, 4000)).astype("float32")
    >>> h = synthetic_rirs(noise, rt60=[0.3, 0.6], drr_db=[0.0, 0.0],
    ...                    sample_rate=16000).numpy()
    >>> h[:, 0].tolist(), np.round((h[:, 1:] ** 2).sum(axis=1), 4).tolist()
    ([1.0, 1.0], [1.0, 1.0])

    Args:
        noise: Standard normal draws `(batch, taps)` (the RIR length).
        rt60: `(batch,)` reverberation times in seconds (> 0).
        drr_db: `(batch,)` direct-to-reverberant ratios in dB.
        sample_rate: The sample rate in Hz.

    Returns:
        Float32 `(batch, taps)` impulse responses with `h[:, 0] = 1`.
    """
    noise = tf.cast(noise, tf.float32)
    rt60 = tf.reshape(tf.cast(rt60, tf.float32), (-1, 1))
    drr_db = tf.reshape(tf.cast(drr_db, tf.float32), (-1, 1))
    taps = noise.shape[1] if noise.shape[1] is not None else tf.shape(noise)[1]
    t = tf.range(taps, dtype=tf.float32)[None] / float(sample_rate)
    tail = noise * tf.exp(-_DECAY * t / rt60)
    tail = tf.concat([tf.zeros_like(tail[:, :1]), tail[:, 1:]], axis=1)
    energy = tf.reduce_sum(tf.square(tail), axis=1, keepdims=True)
    gain = tf.sqrt(tf.pow(10.0, -drr_db / 10.0) / (energy + 1e-12))
    direct = tf.one_hot(tf.zeros_like(rt60[:, 0], tf.int32), taps, dtype=tf.float32)
    return direct + gain * tail


def prepare_rirs(rirs, max_taps=None, argument="rir_bank"):
    """Aligns recorded RIRs at their direct path; unit energy; one length.

    Example:

    >>> h = prepare_rirs([np.array([0.0, 0.0, 2.0, 1.0]), np.array([1.0])])
    >>> h.tolist()
    [[0.8944271802902222, 0.4472135901451111], [1.0, 0.0]]

    Args:
        rirs: A list of 1-D arrays, or a 2-D array with one RIR per row.
        max_taps: Crop each RIR (after its direct path) to this many taps.
        argument: The argument named in errors.

    Returns:
        A float32 array `(n, taps)`, each row starting at its direct path.

    Raises:
        ValueError: For an empty bank, or an RIR that is empty, all zeros or
            not finite.
    """
    rirs = list(rirs)
    if not rirs:
        raise ValueError(f"`{argument}` holds no impulse responses.")
    prepared = []
    for i, h in enumerate(rirs):
        h = np.asarray(h, "float64").ravel()
        if h.size == 0 or not np.all(np.isfinite(h)) or not np.any(h):
            raise ValueError(
                f"`{argument}`: impulse response {i} is empty, all zeros or "
                "not finite."
            )
        h = h[int(np.argmax(np.abs(h))):]
        if max_taps is not None:
            h = h[: int(max_taps)]
        prepared.append(h / np.sqrt(np.sum(h**2)))
    taps = max(len(h) for h in prepared)
    out = np.zeros((len(prepared), taps), "float32")
    for i, h in enumerate(prepared):
        out[i, : len(h)] = h
    return out
