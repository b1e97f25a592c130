"""μ-law companding, as in telephone codecs (ITU-T G.711, North America/Japan).

`mu_law_encode` maps [-1, 1] to [-1, 1] with `F(x) = sign(x)·ln(1 + μ|x|) /
ln(1 + μ)`, which spends the codec's levels on quiet samples;
`mu_law_decode` is its inverse. `mu_law_quantize` is the codec round trip:
compress, round to uniform levels, expand. Like G.711 (a sign bit and a
magnitude, with +0 and −0), a `bits`-bit code has `2^bits − 1` distinct
levels, symmetric about an exact zero, so silence stays silent. The curve is
the continuous μ-law (as in WaveNet), not G.711's 8-segment
piecewise-linear approximation of it.
"""

import tensorflow as tf


def _check_mu(mu):
    mu = float(mu)
    if not mu > 0:
        raise ValueError(f"`mu` must be > 0 (telephony: 255); received {mu}.")
    return mu


def mu_law_encode(x, mu=255.0):
    """Compresses samples in [-1, 1] (clipped) with the μ-law curve.

    Example:

    >>> import numpy as np
    >>> np.round(mu_law_encode(np.array([-1.0, 0.0, 0.01, 1.0])).numpy(), 4)
    array([-1.    ,  0.    ,  0.2285,  1.    ], dtype=float32)

    Args:
        x: Float samples; values outside [-1, 1] are clipped first.
        mu: μ > 0 (255 for 8-bit telephony).

    Returns:
        Float32 values in [-1, 1].
    """
    mu = _check_mu(mu)
    x = tf.clip_by_value(tf.cast(x, tf.float32), -1.0, 1.0)
    return tf.sign(x) * tf.math.log1p(mu * tf.abs(x)) / tf.math.log1p(mu)


def mu_law_decode(y, mu=255.0):
    """Expands μ-law values in [-1, 1]: the inverse of `mu_law_encode`.

    Example:

    >>> import numpy as np
    >>> x = np.array([-0.5, 0.001, 0.9], "float32")
    >>> np.allclose(mu_law_decode(mu_law_encode(x)), x, atol=1e-6)
    True

    Args:
        y: μ-law values in [-1, 1] (clipped to it).
        mu: μ > 0 (255 for 8-bit telephony).

    Returns:
        The expanded waveform, float32, the shape of `y`.
    """
    mu = _check_mu(mu)
    y = tf.clip_by_value(tf.cast(y, tf.float32), -1.0, 1.0)
    return tf.sign(y) * (tf.pow(1.0 + mu, tf.abs(y)) - 1.0) / mu


def mu_law_quantize(x, bits=8, mu=255.0):
    """The codec round trip: compress, quantize, expand.

    The `2^bits − 1` levels `k / (2^(bits−1) − 1)` are uniform in the
    compressed domain, so the error grows with the amplitude (about constant
    SNR), unlike linear quantization.

    Example:

    >>> import numpy as np
    >>> y = mu_law_quantize(np.linspace(-1, 1, 5, dtype="float32"))
    >>> bool(np.max(np.abs(y.numpy() - np.linspace(-1, 1, 5))) < 0.03)
    True

    Args:
        x: Float samples (clipped to [-1, 1]).
        bits: Bits per sample (≥ 2; telephony: 8).
        mu: μ > 0.

    Returns:
        Float32 samples in [-1, 1].

    Raises:
        ValueError: For `bits` < 2 or `mu` ≤ 0.
    """
    if int(bits) != bits or bits < 2:
        raise ValueError(f"`bits` must be an integer ≥ 2; received {bits!r}.")
    steps = float(2 ** (int(bits) - 1) - 1)
    code = tf.round(mu_law_encode(x, mu) * steps) / steps
    return mu_law_decode(code, mu)
