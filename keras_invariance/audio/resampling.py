"""Rational resampling by a polyphase FIR filter, in TensorFlow ops.

`resample_poly(x, up, down)` computes exactly what
`scipy.signal.resample_poly(x, up, down, axis=-1)` computes (zero padding
at both ends, the filter delay removed, `ceil(T·up/down)` output samples):

    y[k] = Σ_n x[n] · h[half + k·down − n·up],      h of length 2·half + 1,

as a batched, XLA-compilable op. Three exact paths keep the work at the
number of non-zero products: decimation (`up == 1`, a strided convolution),
interpolation (`down == 1`, `up` filter phases as the output channels of one
convolution) and the general ratio (each output gathers the
`ceil(len(h)/up)` input samples its filter phase touches).
"""

import math

import numpy as np
import tensorflow as tf

from keras_invariance.audio import filters
from keras_invariance.audio import waveforms

#: The largest reduced up/down factor accepted: the low pass has
#: 20·max(up, down) + 1 taps, so larger ratios (e.g. 16000 → 8001 Hz, i.e.
#: 8001/16000) would need filters of hundreds of thousands of taps.
MAX_FACTOR = 1000


def resampling_factors(from_rate, to_rate, argument="sample_rate"):
    """The reduced `(up, down)` that takes `from_rate` Hz to `to_rate` Hz.

    Example:

    >>> resampling_factors(16000, 8000)
    (1, 2)
    >>> resampling_factors(44100, 16000)
    (160, 441)

    Args:
        from_rate: The input sample rate (a positive whole number of Hz).
        to_rate: The output sample rate.
        argument: The argument named in errors.

    Returns:
        `(up, down)` with `to_rate / from_rate = up / down` in lowest terms.

    Raises:
        ValueError: For rates that are not positive whole numbers, or whose
            ratio does not reduce to factors ≤ `MAX_FACTOR`.
    """
    from_rate = waveforms.check_sample_rate(argument, from_rate)
    to_rate = waveforms.check_sample_rate(argument, to_rate)
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    if max(up, down) > MAX_FACTOR:
        raise ValueError(
            f"`{argument}`: {from_rate} Hz → {to_rate} Hz is a ratio of "
            f"{up}/{down}, which does not reduce to factors ≤ {MAX_FACTOR}; "
            f"its anti-aliasing filter would need {20 * max(up, down) + 1} "
            "taps. Choose rates with a simpler ratio (e.g. 16000 and 8000)."
        )
    return up, down


def output_length(length, up, down):
    """`ceil(length · up / down)`, the number of resampled samples.

    Example:

    >>> output_length(16001, 1, 2)
    8001
    """
    return -(-length * up // down)


def _decimate(x, taps, down, half, n_out, length):
    # y[k] = Σ_i g[i]·xpad[k·down + i] with g = h reversed, xpad = x shifted
    # right by `half`: a strided correlation.
    size = len(taps)
    right = max(0, (n_out - 1) * down + size - half - length)
    xpad = tf.pad(x, [[0, 0], [half, right]])[..., None]
    kernel = tf.constant(taps[::-1].reshape(size, 1, 1), tf.float32)
    y = tf.nn.conv1d(xpad, kernel, stride=down, padding="VALID")
    return y[:, :n_out, 0]


def _interpolate(x, taps, up, half, length):
    # Output k = q·up + r uses phase r: y[q·up + r] = Σ_m K[r, m]·x[q − m]
    # with K[r, m] = h[half + r + m·up]; the phases are the output channels.
    size = len(taps)
    starts = half + np.arange(up)
    m_lo = int(np.min(np.ceil(-starts / up)))
    m_hi = int(np.max(np.floor((size - 1 - starts) / up)))
    kernel = np.zeros((m_hi - m_lo + 1, 1, up), "float64")
    for r in range(up):
        for m in range(m_lo, m_hi + 1):
            index = starts[r] + m * up
            if 0 <= index < size:
                kernel[m_hi - m, 0, r] = taps[index]
    xpad = tf.pad(x, [[0, 0], [m_hi, -m_lo]])[..., None]
    y = tf.nn.conv1d(xpad, tf.constant(kernel, tf.float32), stride=1, padding="VALID")
    return tf.reshape(y, (-1, length * up))


def _general(x, taps, up, down, half, n_out, length):
    # Output k reads x[n_k − m], m < M, with taps h[r_k + m·up].
    size = len(taps)
    width = -(-size // up)
    positions = half + np.arange(n_out) * down
    base = positions // up
    phase = positions - base * up
    phased = np.zeros((up, width), "float64")
    for r in range(up):
        column = taps[r::up]
        phased[r, : len(column)] = column
    left = width - 1
    right = max(0, int(base[-1]) - (length - 1))
    index = base[:, None] - np.arange(width)[None, :] + left
    xpad = tf.pad(x, [[0, 0], [left, right]])
    windows = tf.gather(xpad, tf.constant(index, tf.int32), axis=1)
    weights = tf.constant(phased[phase], tf.float32)
    return tf.reduce_sum(windows * weights[None], axis=-1)


def resample_poly(x, up, down, taps=None):
    """Resamples by `up / down` along the last axis, as SciPy does.

    Example:

    >>> import numpy as np
    >>> x = np.sin(np.arange(160, dtype="float32") / 4.0)[None]
    >>> resample_poly(x, 1, 2).shape
    TensorShape([1, 80])

    Args:
        x: Float waveforms `(batch, time)` with a known number of samples.
        up: The upsampling factor (a positive integer).
        down: The downsampling factor.
        taps: Optional filter taps; default `filters.resampling_filter(up,
            down)` (SciPy's Kaiser-windowed low pass). Custom taps are used
            as given and multiplied by `up`, as SciPy does with an array
            `window`.

    Returns:
        Float32 `(batch, ceil(time · up / down))`.

    Raises:
        ValueError: For non-positive factors or an unknown clip length.
    """
    up, down = int(up), int(down)
    if up < 1 or down < 1:
        raise ValueError(f"`up` and `down` must be ≥ 1; received {up}, {down}.")
    g = math.gcd(up, down)
    up, down = up // g, down // g
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    length = waveforms.time_length(x, "resample_poly")
    if up == down == 1:
        return x
    if taps is None:
        taps = filters.resampling_filter(up, down)
    else:
        taps = np.asarray(taps, "float64").ravel() * up
    half = (len(taps) - 1) // 2
    n_out = output_length(length, up, down)
    if up == 1:
        return _decimate(x, taps, down, half, n_out, length)
    if down == 1:
        return _interpolate(x, taps, up, half, length)
    return _general(x, taps, up, down, half, n_out, length)


def resample(x, from_rate, to_rate, argument="sample_rate"):
    """Resamples waveforms from `from_rate` Hz to `to_rate` Hz.

    Example:

    >>> resample(np.zeros((2, 16000), "float32"), 16000, 8000).shape
    TensorShape([2, 8000])

    Args:
        x: Float waveforms `(batch, time)`.
        from_rate: Their sample rate in Hz.
        to_rate: The new sample rate in Hz.
        argument: The argument named in errors about the rates.

    Returns:
        Float32 `(batch, ceil(time · to_rate / from_rate))`.
    """
    up, down = resampling_factors(from_rate, to_rate, argument)
    return resample_poly(x, up, down)
