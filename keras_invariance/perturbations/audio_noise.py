"""Simple waveform noise for speech models: additive noise at an SNR, volume.

The IRL paper's speech experiments (following Liang et al. 2018) add noise
clips at a signal-to-noise ratio in dB and double or halve the amplitude
("vol. up" / "vol. down"). These perturbations do the same in plain tensor
ops on float waveforms shaped `(batch, time)` or `(batch, time, 1)`, so they
compile under XLA. Waveforms are expected in [-1, 1] (the scale of
`tf.audio.decode_wav`); nothing is clipped unless `clip=True`.

The paper's other speech noises live next to these: `Reverberation` (room
impulse responses), `OverlappingSpeech`, `Telephony` and `NoiseBank`
(MUSAN-style folders), all composable with `Compose` / `RandomChoice`.
"""

from keras import ops

from keras_invariance.audio import waveforms
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of

#: Mixes any noise waveform you load at a chosen SNR (kept under this name).
add_noise_at_snr = waveforms.mix_at_snr


def _check_waveforms(x, layer_name):
    return waveforms.check_waveforms(x, layer_name)


@keras_invariance_export("keras_invariance.perturbations.AdditiveNoise")
class AdditiveNoise(Perturbation):
    """Adds white Gaussian noise at a signal-to-noise ratio `snr_db` per clip.

    Each example gets independent Gaussian noise whose mean power is its own
    signal power divided by `10^(snr_db / 10)`. `snr_db` is a non-trainable
    variable (it may be negative); assign to `noise.snr_db` to change it
    without retracing.

    Example:

    >>> import numpy as np
    >>> noise = AdditiveNoise(snr_db=10.0, seed=0)
    >>> x = np.sin(np.linspace(0, 100, 800, dtype="float32"))[None]
    >>> noise.perturb(x).shape
    TensorShape([1, 800])

    Args:
        snr_db: Signal-to-noise ratio in dB (paper's overlapping speech: 6).
        clip: Whether to clip the result to [-1, 1].
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: (when called) for non-float inputs or shapes other than
            `(batch, time)` / `(batch, time, 1)`.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Speech recognition".
    """

    single_input = True

    def __init__(self, snr_db=10.0, clip=False, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.snr_db = add_hyperparameter(self, "snr_db", snr_db,
                                         validate=False)
        self.clip = bool(clip)

    def perturb(self, x, context=None):
        x, dtype = _check_waveforms(x, type(self).__name__)
        y = ops.cast(x, "float32")
        noise = random_ops.normal(ops.shape(y), seed=self.seed_generator)
        y = add_noise_at_snr(y, noise, self.snr_db)
        if self.clip:
            y = ops.clip(y, -1.0, 1.0)
        return ops.cast(y, dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"snr_db": value_of(self.snr_db), "clip": self.clip})
        return config


@keras_invariance_export("keras_invariance.perturbations.VolumeNoise")
class VolumeNoise(Perturbation):
    """Turns each clip's volume up or down by `factor` (amplitude scaling).

    With `direction="up"` every clip is multiplied by `factor`, with `"down"`
    divided by it, and with `"both"` each clip independently gets one of the
    two with probability ½. The paper's "vol. up / vol. down" noise doubles or
    halves the amplitude (`factor=2`). `factor` is a non-trainable variable;
    `noise.factor.assign(1.)` switches the noise off without retracing.

    Example:

    >>> import numpy as np
    >>> noise = VolumeNoise(factor=2.0, direction="down")
    >>> np.asarray(noise.perturb(np.full((1, 3), 0.5, "float32")))
    array([[0.25, 0.25, 0.25]], dtype=float32)

    Args:
        factor: Amplitude factor, > 0 (`1` is the identity).
        direction: `"up"`, `"down"` or `"both"`.
        clip: Whether to clip the result to [-1, 1].
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: for a non-positive `factor` or an unknown `direction`,
            and (when called) for non-float or non-mono inputs.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Speech recognition".
    """

    single_input = True

    def __init__(self, factor=2.0, direction="both", clip=False, seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        if direction not in ("up", "down", "both"):
            raise ValueError(
                "`direction` must be 'up', 'down' or 'both'; received "
                f"{direction!r}."
            )
        self.factor = add_hyperparameter(self, "factor", factor)
        if not value_of(self.factor) > 0:
            raise ValueError(
                f"`factor` must be positive (1 is the identity); received "
                f"{factor}."
            )
        self.direction = direction
        self.clip = bool(clip)

    def perturb(self, x, context=None):
        x, dtype = _check_waveforms(x, type(self).__name__)
        y = ops.cast(x, "float32")
        factor = ops.cast(self.factor, "float32")
        if self.direction == "up":
            exponent = ops.ones((ops.shape(y)[0],))
        elif self.direction == "down":
            exponent = -ops.ones((ops.shape(y)[0],))
        else:
            u = random_ops.uniform((ops.shape(y)[0],),
                                     seed=self.seed_generator)
            exponent = ops.where(u < 0.5, -1.0, 1.0)
        scale = ops.power(factor, exponent)
        y = y * ops.reshape(scale, (-1,) + (1,) * (len(y.shape) - 1))
        if self.clip:
            y = ops.clip(y, -1.0, 1.0)
        return ops.cast(y, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "factor": value_of(self.factor),
                "direction": self.direction,
                "clip": self.clip,
            }
        )
        return config
