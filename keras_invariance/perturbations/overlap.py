"""Overlapping speech: another utterance mixed in at an SNR (6 dB in the paper).

The IRL paper's "speech" noise overlaps each utterance with another one
from the same corpus at 6 dB SNR. `OverlappingSpeech` takes the other
utterance from the batch itself (no data needed) or from a bank of speech
recordings (e.g. MUSAN's `speech` folder).
"""

from keras import ops
import tensorflow as tf

from keras_invariance.ops import random_ops
from keras_invariance.perturbations.noise_bank import NoiseBank
from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.perturbations.OverlappingSpeech")
class OverlappingSpeech(NoiseBank):
    """Mixes a second utterance into each clip at a random SNR.

    With `bank=None` (default) the interfering utterance is another row of
    the same batch: row i of each block of `batch` rows (the engine's K
    perturbed copies are K blocks) is paired with a different row of its
    block drawn uniformly, so an utterance never overlaps its own copy.
    With `shift=True` the partner is also rotated in time by a random
    number of samples, so that the two onsets do not line up. Under
    `tf.distribute` the partner comes from the same replica's share of the
    batch. A batch of one has no other utterance; its clip is then mixed
    with a time-rotated copy of itself.

    With a `bank` (files or arrays, as `NoiseBank`) the interfering speech
    is a random window of a random bank clip instead.

    `min_snr_db` and `max_snr_db` are non-trainable variables.

    Example:

    >>> import numpy as np
    >>> speech = OverlappingSpeech(snr_db=6.0, seed=0)
    >>> x = np.random.default_rng(0).normal(size=(4, 800)).astype("float32")
    >>> speech.perturb(x).shape
    TensorShape([4, 800])

    Args:
        bank: `None` (the batch's other utterances), or a speech bank as in
            `NoiseBank` (a folder, glob, files or arrays).
        snr_db: An SNR in dB (paper: 6), or a `(min, max)` range.
        shift: Rotate batch partners by a random number of samples.
        sample_rate: The waveforms' sample rate (for resampling a bank).
        max_clip_seconds: As `NoiseBank`.
        max_files: As `NoiseBank`.
        clip: Whether to clip the result to [-1, 1].
        seed: Optional int seed.
        bank_size: Set by `from_config` (leave it unset).
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For an empty or unreadable bank, an SNR range with min >
            max, and (when called) for non-float or non-mono waveforms.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §3 "Speech recognition", Table 3 ("speech").
    """

    bank_optional = True

    def __init__(self, bank=None, snr_db=6.0, shift=True, sample_rate=16000,
                 max_clip_seconds=None, max_files=None, clip=False, seed=None,
                 bank_size=None, **kwargs):
        self.shift = bool(shift)
        super().__init__(
            bank=bank, snr_db=snr_db, sample_rate=sample_rate,
            max_clip_seconds=max_clip_seconds, max_files=max_files,
            clip=clip, seed=seed, bank_size=bank_size, **kwargs,
        )

    @property
    def from_batch(self):
        """Whether the interfering speech comes from the batch (no bank)."""
        return self.bank_size is None

    def noise_for(self, y, context=None):
        if not self.from_batch:
            return super().noise_for(y, context)
        rows = tf.shape(y)[0]
        block = rows if context is None else tf.cast(context.batch_size, tf.int32)
        u = random_ops.uniform((rows, 2), seed=self.seed_generator)
        index = tf.range(rows)
        position = index % block
        others = tf.maximum(block - 1, 1)
        step = 1 + tf.minimum(
            tf.cast(u[:, 0] * tf.cast(others, tf.float32), tf.int32), others - 1
        )
        partner = index - position + (position + step) % block
        noise = tf.gather(y, partner)
        if self.shift:
            length = ops.shape(y)[1]
            shift = tf.cast(u[:, 1] * tf.cast(length, tf.float32), tf.int32)
            time = (tf.range(length)[None] + shift[:, None]) % length
            noise = tf.gather(noise, time, batch_dims=1)
        return noise

    def get_config(self):
        config = super().get_config()
        config["shift"] = self.shift
        return config
