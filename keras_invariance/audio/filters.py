"""Linear-phase FIR filter design by the window method, in NumPy.

The filters are constants of a perturbation, designed once in NumPy when it
is built and applied in TensorFlow ops (`resampling`, `convolution`). The
design is the textbook windowed sinc, the same as `scipy.signal.firwin`
(same formula, same symmetric windows, same unit-gain scaling), so that
the resampler reproduces `scipy.signal.resample_poly` sample for sample;
SciPy itself is not a dependency of the package.
"""

import numpy as np


def _window(name, numtaps):
    if isinstance(name, tuple) and name[0] == "kaiser":
        return np.kaiser(numtaps, float(name[1]))
    if name == "hamming":
        return np.hamming(numtaps)
    if name == "hann":
        return np.hanning(numtaps)
    raise ValueError(
        f"Unknown FIR window {name!r}; use 'hamming', 'hann' or "
        "('kaiser', beta)."
    )


def firwin(numtaps, cutoff, pass_zero=True, window="hamming"):
    """A windowed-sinc FIR filter, as `scipy.signal.firwin(..., fs=2)`.

    Example:

    >>> h = firwin(5, 0.5)
    >>> round(float(h.sum()), 6)
    1.0

    Args:
        numtaps: The number of taps (odd for a high or band pass).
        cutoff: A cutoff or a sorted list of band edges, in units of the
            Nyquist frequency (0 < f < 1).
        pass_zero: `True` for a low pass (or band stop), `False` for a high
            pass (or band pass).
        window: `"hamming"`, `"hann"` or `("kaiser", beta)`.

    Returns:
        The float64 taps, scaled to unit gain at the centre of the first
        pass band (0 for a low pass).

    Raises:
        ValueError: For edges outside (0, 1) or not increasing.
    """
    edges = np.atleast_1d(np.asarray(cutoff, dtype="float64"))
    if edges.size == 0 or edges.min() <= 0 or edges.max() >= 1 or np.any(
        np.diff(edges) <= 0
    ):
        raise ValueError(
            "FIR band edges must increase strictly within (0, 1) (units of "
            f"the Nyquist frequency); received {cutoff!r}."
        )
    pass_nyquist = (edges.size % 2 == 0) == bool(pass_zero)
    if pass_nyquist and numtaps % 2 == 0:
        raise ValueError("A filter passing the Nyquist frequency needs an odd number of taps.")
    bands = np.concatenate(
        [np.zeros(int(bool(pass_zero))), edges, np.ones(int(pass_nyquist))]
    ).reshape(-1, 2)
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    h = np.zeros(numtaps)
    for left, right in bands:
        h += right * np.sinc(right * m) - left * np.sinc(left * m)
    h *= _window(window, numtaps)
    left, right = bands[0]
    frequency = 0.0 if left == 0 else (1.0 if right == 1 else 0.5 * (left + right))
    return h / np.sum(h * np.cos(np.pi * m * frequency))


def resampling_filter(up, down, window=("kaiser", 5.0)):
    """The anti-aliasing low pass of `scipy.signal.resample_poly`.

    Cutoff at the lower of the two Nyquist frequencies, `20·max(up, down)
    + 1` taps, scaled by `up` so that zero-stuffing keeps the level.

    Example:

    >>> resampling_filter(1, 2).shape
    (41,)

    Args:
        up: The upsampling factor.
        down: The downsampling factor.
        window: The design window (SciPy's default: Kaiser, β = 5).

    Returns:
        The float64 taps.
    """
    rate = max(up, down)
    return firwin(20 * rate + 1, 1.0 / rate, window=window) * up


def bandpass_filter(low_hz, high_hz, sample_rate, numtaps=101):
    """A Hamming-windowed band pass, e.g. the 300–3400 Hz telephone band.

    Example:

    >>> bandpass_filter(300, 3400, 8000).shape
    (101,)

    Args:
        low_hz: The lower band edge in Hz (> 0).
        high_hz: The upper band edge in Hz (< sample_rate / 2).
        sample_rate: The sample rate in Hz.
        numtaps: The (odd) number of taps.

    Returns:
        The float64 taps.

    Raises:
        ValueError: For band edges outside (0, sample_rate / 2).
    """
    nyquist = 0.5 * sample_rate
    if not 0 < low_hz < high_hz < nyquist:
        raise ValueError(
            f"`band` must be (low, high) Hz with 0 < low < high < "
            f"{nyquist:g} (half the rate it is applied at); received "
            f"({low_hz}, {high_hz})."
        )
    return firwin(numtaps, [low_hz / nyquist, high_hz / nyquist], pass_zero=False)
