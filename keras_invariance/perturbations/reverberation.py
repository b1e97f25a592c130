"""Reverberation: convolution with room impulse responses (RIRs).

The IRL paper's "RIR" noise convolves each utterance with a room impulse
response. `Reverberation` draws one per example, either from a bank of
recorded RIRs (a folder of WAV files or arrays, aligned at their direct
path when the bank is read) or, with no data at all, from the synthetic
generator of `audio.rir` (exponentially decaying noise with a random RT60
and direct-to-reverberant ratio). The reverberant clip stays aligned with
the dry one (the direct path is the first tap) and, by default, keeps its
level (the same RMS as the dry clip), so the perturbation changes the
room, not the loudness.
"""

from keras import ops
import tensorflow as tf

from keras_invariance.audio import convolution
from keras_invariance.audio import rir as rir_lib
from keras_invariance.audio import waveforms
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.noise_bank import BankPerturbation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


@keras_invariance_export("keras_invariance.perturbations.Reverberation")
class Reverberation(BankPerturbation):
    """Convolves each clip with a random room impulse response.

    Without `rir_bank`, each example gets a synthetic RIR
    (`audio.synthetic_rirs`) of `rir_seconds`: a unit direct path followed
    by Gaussian noise decaying 60 dB in RT60 seconds, RT60 drawn uniformly
    in `rt60` and the direct-to-reverberant ratio uniformly in `drr_db`
    (all four bounds are non-trainable variables). With `rir_bank`, each
    example gets a uniformly drawn recorded RIR, cut to start at its direct
    path and cropped to `max_rir_seconds` when the bank is read.

    The output is the first `time` samples of the convolution (aligned with
    the input) and, with `normalize=True`, rescaled to the input's RMS.
    Silent clips stay silent.

    Example:

    >>> import numpy as np
    >>> reverb = Reverberation(rt60=(0.3, 0.6), rir_seconds=0.25, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(2, 8000)).astype("float32")
    >>> reverb.perturb(x).shape
    TensorShape([2, 8000])

    Args:
        rir_bank: `None` (synthetic RIRs), or recorded RIRs: a folder of
            audio files (searched recursively), a glob pattern, files, or
            float arrays at `sample_rate` (`(rirs, taps)` or a list of 1-D
            arrays).
        rt60: Synthetic RT60 in seconds, a number or `(min, max)` (> 0).
        drr_db: Synthetic direct-to-reverberant ratio in dB, a number or
            `(min, max)`; lower is more reverberant.
        rir_seconds: Length of the synthetic RIRs; default the largest RT60
            (the tail is then 60 dB down).
        max_rir_seconds: Crop recorded RIRs to this length.
        normalize: Rescale each output to its input's RMS level.
        sample_rate: The waveforms' sample rate in Hz.
        clip: Whether to clip the result to [-1, 1].
        seed: Optional int seed.
        bank_size: Set by `from_config` (leave it unset).
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For an empty or unreadable bank, bad ranges (min > max,
            RT60 ≤ 0), and (when called) for non-float or non-mono waveforms
            or RIRs longer than the clips.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §3 "Speech recognition", Table 3 ("RIR").
    """

    bank_argument = "rir_bank"
    bank_optional = True

    def __init__(self, rir_bank=None, rt60=(0.2, 0.8), drr_db=(-5.0, 5.0),
                 rir_seconds=None, max_rir_seconds=1.0, normalize=True,
                 sample_rate=16000, clip=False, seed=None, bank_size=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.sample_rate = waveforms.check_sample_rate("sample_rate", sample_rate)
        rt_low, rt_high = waveforms.check_range("rt60", rt60, minimum=0.0, unit=" s")
        drr_low, drr_high = waveforms.check_range("drr_db", drr_db)
        self.min_rt60 = add_hyperparameter(self, "min_rt60", rt_low)
        self.max_rt60 = add_hyperparameter(self, "max_rt60", rt_high)
        self.min_drr_db = add_hyperparameter(self, "min_drr_db", drr_low, validate=False)
        self.max_drr_db = add_hyperparameter(self, "max_drr_db", drr_high, validate=False)
        self.rir_seconds = float(rt_high if rir_seconds is None else rir_seconds)
        waveforms.check_range("rir_seconds", self.rir_seconds, minimum=0.0, unit=" s")
        self.max_rir_seconds = float(max_rir_seconds)
        waveforms.check_range("max_rir_seconds", self.max_rir_seconds, minimum=0.0, unit=" s")
        self.normalize = bool(normalize)
        self.clip = bool(clip)
        max_taps = max(1, int(round(self.max_rir_seconds * self.sample_rate)))
        self._build_bank(
            rir_bank, bank_size, self.sample_rate,
            prepare=lambda clips: rir_lib.prepare_rirs(clips, max_taps, "rir_bank"),
        )

    @property
    def rir_taps(self):
        """The number of taps of the RIRs drawn."""
        if self.bank_size is None:
            return max(1, int(round(self.rir_seconds * self.sample_rate)))
        return self.bank_size[1] // self.bank_size[0]

    def impulse_responses(self, rows):
        """`(rows, rir_taps)` float32 RIRs, direct path first."""
        taps = self.rir_taps
        if self.bank_size is not None:
            return self._bank_windows(rows, taps, random_offset=False)
        noise = random_ops.normal((rows, taps), seed=self.seed_generator)
        u = random_ops.uniform((rows, 2), seed=self.seed_generator)
        rt60 = self.min_rt60 + (self.max_rt60 - self.min_rt60) * u[:, 0]
        drr = self.min_drr_db + (self.max_drr_db - self.min_drr_db) * u[:, 1]
        return rir_lib.synthetic_rirs(noise, rt60, drr, self.sample_rate)

    def perturb(self, x, context=None):
        x, dtype = waveforms.check_waveforms(x, type(self).__name__)
        y = waveforms.to_batch_time(x)
        length = waveforms.time_length(y, type(self).__name__)
        taps = self.rir_taps
        if taps > length:
            source, argument = (
                ("`rir_bank`", "max_rir_seconds") if self.bank_size is not None
                else ("the synthetic impulse responses (`rir_seconds`)", "rir_seconds")
            )
            raise ValueError(
                f"Reverberation: {source} have {taps} taps "
                f"({taps / self.sample_rate:g} s), longer than the clips "
                f"({length} samples). Set `{argument}` ≤ "
                f"{length / self.sample_rate:g}, or use longer clips."
            )
        wet = convolution.convolve(y, self.impulse_responses(tf.shape(y)[0]),
                                   mode="causal")
        if self.normalize:
            wet = waveforms.match_level(wet, y)
        if self.clip:
            wet = ops.clip(wet, -1.0, 1.0)
        return waveforms.from_batch_time(wet, x, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(self._bank_config())
        config.update(
            rt60=[value_of(self.min_rt60), value_of(self.max_rt60)],
            drr_db=[value_of(self.min_drr_db), value_of(self.max_drr_db)],
            rir_seconds=self.rir_seconds, max_rir_seconds=self.max_rir_seconds,
            normalize=self.normalize, sample_rate=self.sample_rate,
            clip=self.clip,
        )
        return config
