"""Telephony: resampling to a telephone rate and back, optional band and μ-law.

The IRL paper's "tel." noise resamples 16 kHz speech to 8 kHz and back,
which removes everything above 4 kHz. `Telephony` does that with the
polyphase resampler of `audio.resampling` (SciPy's `resample_poly`
filters), and optionally also what a telephone channel adds: the
300–3400 Hz voice band (`band=`) and 8-bit μ-law companding
(`mu_law=True`, ITU-T G.711's curve).
"""

from keras import ops

from keras_invariance.audio import companding
from keras_invariance.audio import convolution
from keras_invariance.audio import filters
from keras_invariance.audio import resampling
from keras_invariance.audio import waveforms
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils.api_export import keras_invariance_export

#: Taps of the voice-band filter at the telephone rate (12.6 ms at 8 kHz).
BAND_TAPS = 101


@keras_invariance_export("keras_invariance.perturbations.Telephony")
class Telephony(Perturbation):
    """Band-limits each clip as a telephone line: down to 8 kHz and back.

    Resamples from `sample_rate` to `telephone_rate` (anti-aliasing low pass
    at the lower Nyquist frequency), optionally band-passes to `band` and
    μ-law quantizes at the telephone rate, then resamples back and keeps
    the input's length. Deterministic (there is nothing to draw), so it is
    mostly an evaluation noise, or one member of a `RandomChoice`.

    Example:

    >>> import numpy as np
    >>> t = np.arange(1600) / 16000
    >>> x = np.sin(2 * np.pi * np.array([[300.0], [6000.0]]) * t).astype("float32")
    >>> y = Telephony().perturb(x).numpy()
    >>> np.round(np.std(y[:, 400:-400], axis=1) / np.std(x, axis=1), 2)
    array([1., 0.], dtype=float32)

    Args:
        sample_rate: The waveforms' sample rate in Hz.
        telephone_rate: The channel's sample rate (≤ `sample_rate`); the
            ratio must reduce to factors ≤ 1000 (16000/8000 = 2/1).
        band: `None` (paper: resampling only) or `(low_hz, high_hz)`, e.g.
            `(300, 3400)`, below half of `telephone_rate`.
        mu_law: Whether to μ-law quantize at the telephone rate.
        bits: Bits per sample of the μ-law codec.
        mu: μ of the codec.
        clip: Whether to clip the result to [-1, 1].
        seed: Unused (accepted like every perturbation's).
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For rates that are not positive whole numbers, a
            `telephone_rate` above `sample_rate` or with a ratio that does
            not reduce, a band outside the channel, and (when called) for
            non-float or non-mono waveforms.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §3 "Speech recognition", Table 3 ("tel.").
    """

    single_input = True

    def __init__(self, sample_rate=16000, telephone_rate=8000, band=None,
                 mu_law=False, bits=8, mu=255.0, clip=False, seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.sample_rate = waveforms.check_sample_rate("sample_rate", sample_rate)
        self.telephone_rate = waveforms.check_sample_rate("telephone_rate", telephone_rate)
        if self.telephone_rate > self.sample_rate:
            raise ValueError(
                f"`telephone_rate` ({self.telephone_rate} Hz) must not exceed "
                f"`sample_rate` ({self.sample_rate} Hz): telephony removes "
                "bandwidth."
            )
        self.up, self.down = resampling.resampling_factors(
            self.sample_rate, self.telephone_rate, "telephone_rate"
        )
        self.band = None if band is None else [float(b) for b in band]
        self._band_taps = None
        if self.band is not None:
            if len(self.band) != 2:
                raise ValueError(f"`band` must be (low_hz, high_hz); received {band!r}.")
            self._band_taps = filters.bandpass_filter(
                self.band[0], self.band[1], self.telephone_rate, BAND_TAPS
            )
        self.mu_law = bool(mu_law)
        self.bits = int(bits)
        self.mu = float(mu)
        if self.mu_law:
            companding.mu_law_quantize(0.0, self.bits, self.mu)  # checks bits and mu
        self.clip = bool(clip)

    def perturb(self, x, context=None):
        x, dtype = waveforms.check_waveforms(x, type(self).__name__)
        y = waveforms.to_batch_time(x)
        length = waveforms.time_length(y, type(self).__name__)
        narrow = resampling.resample_poly(y, self.up, self.down)
        if self._band_taps is not None:
            narrow = convolution.fir_filter(narrow, self._band_taps)
        if self.mu_law:
            narrow = companding.mu_law_quantize(narrow, self.bits, self.mu)
        wide = resampling.resample_poly(narrow, self.down, self.up)[:, :length]
        if self.clip:
            wide = ops.clip(wide, -1.0, 1.0)
        return waveforms.from_batch_time(wide, x, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate, telephone_rate=self.telephone_rate,
            band=self.band, mu_law=self.mu_law, bits=self.bits, mu=self.mu,
            clip=self.clip,
        )
        return config
