"""Waveform checks and levels: mono batches, power, mixing at an SNR.

Every speech perturbation takes float waveforms shaped `(batch, time)` or
`(batch, time, 1)` in [-1, 1] (the scale of `tf.audio.decode_wav`), works
per example in float32 and returns the input's shape and dtype. The helpers
here are that shared contract, plus the level arithmetic the perturbations
share: mean power per example, mixing a second waveform in at a
signal-to-noise ratio, and matching one waveform's level to another's.
Silent clips (zero power) stay finite everywhere: they receive no noise and
are not rescaled.
"""

import math

import keras
from keras import ops

#: Keeps ratios of powers finite for silent clips (zero power).
EPSILON = 1e-12


def check_waveforms(x, who):
    """Returns `(x, dtype)` for a float mono batch, or raises `ValueError`.

    Example:

    >>> x, dtype = check_waveforms(np.zeros((2, 8), "float32"), "Telephony")
    >>> dtype
    'float32'
    >>> check_waveforms(np.zeros((2, 8), "int16"), "Telephony")
    Traceback (most recent call last):
    ...
    ValueError: Telephony needs float waveforms in [-1, 1]; received dtype int16. ...

    Args:
        x: Waveforms `(batch, time)` or `(batch, time, 1)`.
        who: The caller's name, used in the message.

    Returns:
        `x` as a tensor and its standardized dtype name.

    Raises:
        ValueError: For an integer dtype or another shape (several channels,
            a single unbatched clip).
    """
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"{who} needs float waveforms in [-1, 1]; received dtype "
            f"{dtype}. For 16-bit PCM use "
            "`keras.ops.cast(x, 'float32') / 32768.0`."
        )
    rank = len(x.shape)
    if rank not in (2, 3) or (rank == 3 and x.shape[-1] != 1):
        raise ValueError(
            f"{who} needs mono waveforms shaped (batch, time) or "
            f"(batch, time, 1); received shape {tuple(x.shape)}. Batch a "
            "single clip with `x[None]`; mix stereo down with "
            "`x.mean(axis=-1)`."
        )
    return x, dtype


def to_batch_time(x):
    """`(batch, time[, 1])` → float32 `(batch, time)`.

    Example:

    >>> to_batch_time(np.zeros((2, 5, 1))).shape
    TensorShape([2, 5])
    """
    x = ops.cast(x, "float32")
    if len(x.shape) == 3:
        x = x[..., 0]
    return x


def from_batch_time(y, like, dtype):
    """Restores the shape (channel axis or not) and dtype of `like`.

    Example:

    >>> like = np.zeros((2, 5, 1), "float16")
    >>> from_batch_time(np.ones((2, 5), "float32"), like, "float16").shape
    TensorShape([2, 5, 1])
    """
    if len(like.shape) == 3:
        y = y[..., None]
    return ops.cast(y, dtype)


def time_length(x, who, argument=None):
    """The static number of samples of a waveform batch, or raises.

    Example:

    >>> time_length(np.zeros((2, 7)), "Reverberation")
    7

    Raises:
        ValueError: If the time axis is unknown while tracing.
    """
    length = x.shape[1]
    if length is None:
        raise ValueError(
            f"{who} needs waveforms with a known number of samples (a fixed "
            "clip length, as XLA needs anyway); pad or crop the clips to one "
            "length, e.g. `keras.Input((16000,))`"
            + (f", or set `{argument}`." if argument else ".")
        )
    return int(length)


def power(x):
    """Mean power per example over every non-batch axis, keepdims, float32.

    Example:

    >>> power(np.array([[1.0, -1.0], [2.0, 0.0]])).numpy().ravel().tolist()
    [1.0, 2.0]

    Args:
        x: Waveforms, shape `(batch, ...)`.

    Returns:
        Shape `(batch, 1, ...)` (every non-batch axis kept as 1), float32.
    """
    x = ops.cast(x, "float32")
    return ops.mean(ops.square(x), axis=tuple(range(1, len(x.shape))),
                    keepdims=True)


def mix_at_snr(signal, noise, snr_db):
    """Adds `noise`, rescaled per example so that the SNR is `snr_db` dB.

    With `P(v)` the mean power of a waveform, `noise` is scaled by `s` such
    that `10·log10(P(signal) / P(s·noise)) = snr_db`. A silent signal, or
    silent noise, adds nothing.

    Example:

    >>> signal = np.ones((1, 4), "float32")
    >>> noise = np.array([[1.0, -1.0, 1.0, -1.0]], "float32")
    >>> np.asarray(mix_at_snr(signal, noise, 20.0))
    array([[1.1, 0.9, 1.1, 0.9]], dtype=float32)

    Args:
        signal: Float waveforms `(batch, time)` or `(batch, time, 1)`.
        noise: Float waveforms of the same shape.
        snr_db: A scalar or `(batch,)` signal-to-noise ratios in dB.

    Returns:
        `signal + s · noise` in float32.
    """
    signal = ops.cast(signal, "float32")
    noise = ops.cast(noise, "float32")
    snr_db = ops.cast(snr_db, "float32")
    snr_db = ops.reshape(snr_db, (-1,) + (1,) * (len(signal.shape) - 1))
    target_power = power(signal) * ops.power(10.0, -snr_db / 10.0)
    scale = ops.sqrt(target_power / (power(noise) + EPSILON))
    return signal + scale * noise


def match_level(y, reference):
    """Rescales each row of `y` to the RMS level of the same row of `reference`.

    Rows of `y` that are silent are left silent.

    Example:

    >>> np.asarray(match_level(np.array([[2.0, -2.0]]), np.array([[0.5, 0.5]])))
    array([[ 0.5, -0.5]], dtype=float32)

    Args:
        y: Waveforms to rescale, shape `(batch, ...)`.
        reference: Waveforms whose levels `y` takes, the same batch.

    Returns:
        `y` rescaled, float32.
    """
    y = ops.cast(y, "float32")
    gain = ops.sqrt(power(reference) / (power(y) + EPSILON))
    return y * gain


def check_range(name, value, minimum=None, unit=""):
    """Returns `(low, high)` floats from a number or a pair, or raises.

    A single number is the range `(value, value)`.

    Example:

    >>> check_range("snr_db", 6)
    (6.0, 6.0)
    >>> check_range("snr_db", (10, 0))
    Traceback (most recent call last):
    ...
    ValueError: `snr_db` is a range (min, max) with min ≤ max; received (10, 0). ...

    Args:
        name: The argument's name, used in the message.
        value: A number or a `(min, max)` pair.
        minimum: If given, both ends must be strictly above it.
        unit: The unit, for the message.

    Raises:
        ValueError: For a malformed pair, non-finite ends, min > max or an
            end at or below `minimum`.
    """
    pair = value if isinstance(value, (list, tuple)) else (value, value)
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a number or a (min, max) pair of numbers; "
            f"received {value!r}."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"`{name}` must be finite; received {value!r}.")
    if low > high:
        raise ValueError(
            f"`{name}` is a range (min, max) with min ≤ max; received "
            f"{tuple(pair)!r}. Swap the two ends, or pass one number for a "
            "fixed value."
        )
    if minimum is not None and low <= minimum:
        raise ValueError(
            f"`{name}` must be above {minimum:g}{unit}; received {value!r}."
        )
    return low, high


def check_sample_rate(name, value):
    """Returns a positive integer sample rate in Hz, or raises.

    Example:

    >>> check_sample_rate("sample_rate", 16000.0)
    16000
    """
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not math.isfinite(rate) or rate <= 0 or rate != int(rate):
        raise ValueError(
            f"`{name}` must be a positive whole number of Hz (e.g. 16000); "
            f"received {value!r}."
        )
    return int(rate)
