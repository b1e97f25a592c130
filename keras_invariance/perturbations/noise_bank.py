"""Recorded noise from a bank (MUSAN-style folders) mixed in at an SNR range.

The IRL paper's in-domain speech noise is MUSAN's noise recordings (Snyder,
Chen and Povey, "MUSAN: A Music, Speech, and Noise Corpus", 2015) added at
a random SNR. `NoiseBank` reads such a folder once (`audio.bank`), keeps the
clips as one flat tensor in the layer's weights, and per example draws a
clip, a random window of it (looped if the clip is shorter than the
waveform) and an SNR uniformly in `snr_db`, all in tensor ops inside the
training step.

`BankPerturbation` is the shared base of the perturbations that draw from a
bank of clips (`NoiseBank`, `OverlappingSpeech`, `Reverberation`): it owns
the bank's weights and its part of the config.
"""

from keras import ops
import numpy as np
import tensorflow as tf

from keras_invariance.audio import bank as bank_lib
from keras_invariance.audio import waveforms
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


def _source_spec(source):
    """The JSON form of a file source (kept in the config), else `None`."""
    if isinstance(source, str):
        return source
    if isinstance(source, (list, tuple)) and source and all(
        isinstance(s, str) for s in source
    ):
        return list(source)
    return None


class BankPerturbation(Perturbation):
    """Base of perturbations that draw clips from a bank.

    The bank is stored as three non-trainable weights: `bank_samples` (all
    clips end to end), `bank_starts` and `bank_lengths`. So a model saved
    with `model.save` carries its bank, also one given as arrays; a bank
    read from files keeps its source in the config, and `from_config`
    re-reads the files when they exist (otherwise it builds an empty bank of
    the recorded size, which `load_model` then fills from the weights).

    Subclasses call `_build_bank(source, …)` in `__init__` and read windows
    with `_bank_windows(rows, length)`.

    Example:

    >>> import numpy as np
    >>> class AddBankClip(BankPerturbation):
    ...     def __init__(self, bank, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self._build_bank(bank, None, 16000)
    ...     def perturb(self, x, context=None):
    ...         return x + self._bank_windows(x.shape[0], x.shape[1])
    >>> AddBankClip(np.ones((1, 4), "float32")).perturb(np.zeros((2, 3), "float32")).numpy()
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    """

    single_input = True

    bank_argument = "bank"
    #: Whether the perturbation works without a bank (then it has none).
    bank_optional = False

    def _build_bank(self, source, bank_size, sample_rate, max_seconds=None,
                    max_files=None, prepare=None):
        self.bank = _source_spec(source)
        self.bank_files = None
        if source is None and bank_size is None and self.bank_optional:
            self.bank_size = None
            return
        if source is None:
            if bank_size is None:
                raise ValueError(
                    f"{type(self).__name__} needs `{self.bank_argument}`: a "
                    "folder of WAV files, a glob pattern, a list of files, or "
                    "float arrays."
                )
            count, total = (int(v) for v in bank_size)
            samples = np.zeros(total, "float32")
            lengths = np.full(count, total // count, "int32")
            starts = np.arange(count, dtype="int32") * (total // count)
        else:
            clips, files = bank_lib.load_clips(
                source, sample_rate, self.bank_argument, max_seconds, max_files
            )
            if prepare is not None:
                clips = list(prepare(clips))
            samples, starts, lengths = bank_lib.flatten_clips(clips)
            self.bank_files = files
        self.bank_size = [int(len(lengths)), int(len(samples))]
        self.bank_samples = self._bank_weight("bank_samples", samples, "float32")
        self.bank_starts = self._bank_weight("bank_starts", starts, "int32")
        self.bank_lengths = self._bank_weight("bank_lengths", lengths, "int32")

    def _bank_weight(self, name, value, dtype):
        weight = self.add_weight(
            name=name, shape=value.shape, dtype=dtype, initializer="zeros",
            trainable=False, autocast=False,
        )
        weight.assign(value)
        return weight

    def _bank_windows(self, rows, length, random_offset=True):
        """Row b: a random clip of the bank, from a random offset, looped."""
        u = random_ops.uniform((rows, 2), seed=self.seed_generator)
        count = self.bank_size[0]
        clip = tf.minimum(tf.cast(u[:, 0] * count, tf.int32), count - 1)
        size = tf.gather(tf.convert_to_tensor(self.bank_lengths), clip)
        offset = tf.cast(u[:, 1] * tf.cast(size, tf.float32), tf.int32)
        if not random_offset:
            offset = tf.zeros_like(offset)
        return bank_lib.gather_windows(
            self.bank_samples, self.bank_starts, self.bank_lengths, clip,
            offset, length,
        )

    def _bank_config(self):
        size = None if self.bank_size is None else list(self.bank_size)
        return {self.bank_argument: self.bank, "bank_size": size}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        try:
            return cls(**config)
        except ValueError:
            if config.get(cls.bank_argument) is None or config.get("bank_size") is None:
                raise
        # The files are gone (e.g. a model loaded on another machine): an
        # empty bank of the saved size, filled from the saved weights.
        source = config.pop(cls.bank_argument)
        obj = cls(**config)
        obj.bank = source
        return obj


def _add_snr_range(layer, snr_db, argument="snr_db"):
    """Adds `min_snr_db` / `max_snr_db` non-trainable variables to `layer`."""
    low, high = waveforms.check_range(argument, snr_db)
    layer.min_snr_db = add_hyperparameter(layer, "min_snr_db", low, validate=False)
    layer.max_snr_db = add_hyperparameter(layer, "max_snr_db", high, validate=False)


def _draw_snr(layer, rows):
    """`(rows,)` SNRs in dB, uniform in the layer's [min, max]."""
    u = random_ops.uniform((rows,), seed=layer.seed_generator)
    return layer.min_snr_db + (layer.max_snr_db - layer.min_snr_db) * u


@keras_invariance_export("keras_invariance.perturbations.NoiseBank")
class NoiseBank(BankPerturbation):
    """Adds noise clips from a bank (e.g. MUSAN's noise) at a random SNR.

    Per example: a clip drawn uniformly from the bank, a window of the
    waveform's length starting at a random sample of that clip (a clip
    shorter than the waveform is looped), and an SNR drawn uniformly in
    `snr_db`; the window is scaled so that the mixture has exactly that SNR
    (`audio.mix_at_snr`). Silent clips receive no noise. `min_snr_db` and
    `max_snr_db` are non-trainable variables (assign to change them without
    retracing).

    Example:

    >>> import numpy as np
    >>> bank = np.random.default_rng(0).normal(size=(3, 500)).astype("float32")
    >>> noise = NoiseBank(bank, snr_db=(5.0, 10.0), seed=0)
    >>> noise.perturb(np.ones((4, 800), "float32")).shape
    TensorShape([4, 800])

    Args:
        bank: A folder of audio files (searched recursively, e.g.
            `"musan/noise"`), a glob pattern, a file or a list of files; or
            float arrays at `sample_rate`: `(clips, samples)`, or a list of
            1-D arrays of any lengths.
        snr_db: An SNR in dB, or a `(min, max)` range drawn uniformly.
        sample_rate: The sample rate of the model's waveforms; files at
            another rate are resampled once, when the bank is read.
        max_clip_seconds: Keep only the first `max_clip_seconds` of each
            file (the bank lives in memory: 4 bytes a sample).
        max_files: Read only the first `max_files` files (sorted).
        clip: Whether to clip the result to [-1, 1].
        seed: Optional int seed.
        bank_size: `[clips, samples]` of an empty bank to fill from saved
            weights (set by `from_config`; leave it unset).
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For an empty or unreadable bank (the message names the
            file), an SNR range with min > max, and (when called) for
            non-float or non-mono waveforms.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §3 "Speech recognition" (MUSAN noise); Snyder,
        Chen and Povey, "MUSAN: A Music, Speech, and Noise Corpus" (2015).
    """

    def __init__(self, bank=None, snr_db=(0.0, 15.0), sample_rate=16000,
                 max_clip_seconds=None, max_files=None, clip=False, seed=None,
                 bank_size=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.sample_rate = waveforms.check_sample_rate("sample_rate", sample_rate)
        _add_snr_range(self, snr_db)
        self.max_clip_seconds = max_clip_seconds
        self.max_files = max_files
        self.clip = bool(clip)
        self._build_bank(bank, bank_size, self.sample_rate, max_clip_seconds,
                         max_files)

    def noise_for(self, y, context=None):
        """The `(rows, time)` waveforms mixed into float32 `y`."""
        return self._bank_windows(ops.shape(y)[0], ops.shape(y)[1])

    def perturb(self, x, context=None):
        x, dtype = waveforms.check_waveforms(x, type(self).__name__)
        y = waveforms.to_batch_time(x)
        noise = self.noise_for(y, context)
        y = waveforms.mix_at_snr(y, noise, _draw_snr(self, ops.shape(y)[0]))
        if self.clip:
            y = ops.clip(y, -1.0, 1.0)
        return waveforms.from_batch_time(y, x, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(self._bank_config())
        config.update(
            snr_db=[value_of(self.min_snr_db), value_of(self.max_snr_db)],
            sample_rate=self.sample_rate, max_clip_seconds=self.max_clip_seconds,
            max_files=self.max_files, clip=self.clip,
        )
        return config
