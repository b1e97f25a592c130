"""Convolution of waveforms: per-example filters by FFT, shared FIR filters.

`convolve` convolves each waveform with its own filter (a room impulse
response per example) through real FFTs of a power-of-two length ≥
`time + taps − 1`, which is exact linear convolution (no circular wrap) and
O(T log T) per example instead of O(T·taps); it equals
`scipy.signal.fftconvolve` to float32 rounding. `fir_filter` applies one
linear-phase FIR filter to every waveform, centred (`mode="same"`), with a
plain convolution, which is faster than an FFT for the ~100 taps of a band
pass. Both compile under XLA (static lengths).
"""

import numpy as np
import tensorflow as tf

from keras_invariance.audio import waveforms


def fft_length(n):
    """The smallest power of two ≥ `n`.

    Example:

    >>> fft_length(16000 + 8000 - 1)
    32768
    """
    return 1 << max(0, int(n) - 1).bit_length()


def convolve(x, h, mode="full"):
    """Linear convolution of each row of `x` with the same row of `h`.

    Example:

    >>> x = np.array([[1.0, 2.0, 3.0]], "float32")
    >>> np.round(convolve(x, np.array([[1.0, 1.0]], "float32")).numpy(), 5)
    array([[1., 3., 5., 3.]], dtype=float32)

    Args:
        x: Float waveforms `(batch, time)`.
        h: Filters `(batch, taps)`, or one filter `(taps,)` for every row.
        mode: `"full"` (`time + taps − 1` samples, as `np.convolve`) or
            `"causal"` (the first `time` samples: the output stays aligned
            with `x` when `h[0]` is the direct path).

    Returns:
        Float32 `(batch, time + taps − 1)` or `(batch, time)`.

    Raises:
        ValueError: For an unknown `mode` or unknown lengths.
    """
    if mode not in ("full", "causal"):
        raise ValueError(f"`mode` must be 'full' or 'causal'; received {mode!r}.")
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    h = tf.cast(tf.convert_to_tensor(h), tf.float32)
    if len(h.shape) == 1:
        h = h[None]
    length = waveforms.time_length(x, "convolve")
    taps = waveforms.time_length(h, "convolve")
    n = fft_length(length + taps - 1)
    spectrum = tf.signal.rfft(x, [n]) * tf.signal.rfft(h, [n])
    y = tf.signal.irfft(spectrum, [n])
    return y[:, : (length + taps - 1 if mode == "full" else length)]


def fir_filter(x, taps):
    """Filters every row of `x` with the FIR `taps`, centred (`"same"`).

    `y[t] = Σ_k taps[k] · x[t + (len(taps) − 1) // 2 − k]`, with zeros
    outside the clip, i.e. `np.convolve(x, taps, mode="same")` per row: a
    symmetric (linear-phase) filter adds no delay.

    Example:

    >>> fir_filter(np.array([[0.0, 1.0, 0.0]]), [0.25, 0.5, 0.25]).numpy()
    array([[0.25, 0.5 , 0.25]], dtype=float32)

    Args:
        x: Float waveforms `(batch, time)`.
        taps: 1-D filter taps.

    Returns:
        Float32 `(batch, time)`.
    """
    taps = np.asarray(taps, "float64").ravel()
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    size = len(taps)
    left = (size - 1) // 2
    xpad = tf.pad(x, [[0, 0], [size - 1 - left, left]])[..., None]
    kernel = tf.constant(taps[::-1].reshape(size, 1, 1), tf.float32)
    return tf.nn.conv1d(xpad, kernel, stride=1, padding="VALID")[..., 0]
