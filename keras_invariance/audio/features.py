"""Log-mel spectrograms as a Keras layer, per example, with `tf.signal`.

A speech model that takes waveforms and computes its features inside the
network lets every waveform perturbation (noise, reverberation, telephony)
act on the audio, and lets the IRL distance compare representations of the
clean and the perturbed clip.

Why not `keras.layers.MelSpectrogram`: with `power_to_db=True` it clamps
every value at `max(whole batch) − top_db`, so one example's features
depend on the other examples of its batch. Under IRL batching (clean and
perturbed halves in one pass) the perturbed half would change the clean
features. This layer is strictly per example: `log(mel power + floor)`.
"""

import keras
import tensorflow as tf

from keras_invariance.audio import waveforms
from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.audio.LogMelSpectrogram")
class LogMelSpectrogram(keras.layers.Layer):
    """Waveforms `(batch, time[, 1])` → log-mel features `(batch, frames, mels)`.

    Frames of `frame_seconds` every `hop_seconds` (no padding: `frames = 1 +
    (time − frame) // hop`), a periodic Hann window, the power spectrum of
    an `fft_length`-point real FFT, HTK-style triangular mel filters
    (`tf.signal.linear_to_mel_weight_matrix`) between `lower_hz` and
    `upper_hz`, then `log(power + floor)`. Computed in float32 whatever the
    dtype policy (the STFT needs it); the output takes the compute dtype.
    Compiles under XLA.

    Example:

    >>> import numpy as np
    >>> layer = LogMelSpectrogram(sample_rate=16000, num_mel_bins=40)
    >>> layer(np.zeros((2, 16000), "float32")).shape
    TensorShape([2, 98, 40])

    Args:
        sample_rate: The waveforms' sample rate in Hz.
        frame_seconds: The analysis window (25 ms: 400 samples at 16 kHz).
        hop_seconds: The frame step (10 ms).
        num_mel_bins: The number of mel filters.
        lower_hz: The lowest mel filter edge in Hz.
        upper_hz: The highest edge; default half the sample rate.
        fft_length: The FFT size; default the smallest power of two ≥ the
            frame.
        floor: Added to the mel power before the log, keeping silence
            finite (log(floor)).
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For inconsistent frequencies or sizes, and (when
            called) for non-float waveforms or clips shorter than a frame.
    """

    def __init__(self, sample_rate=16000, frame_seconds=0.025, hop_seconds=0.010,
                 num_mel_bins=40, lower_hz=20.0, upper_hz=None, fft_length=None,
                 floor=1e-6, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.sample_rate = waveforms.check_sample_rate("sample_rate", sample_rate)
        self.frame_seconds = float(frame_seconds)
        self.hop_seconds = float(hop_seconds)
        self.frame_length = int(round(self.frame_seconds * self.sample_rate))
        self.frame_step = int(round(self.hop_seconds * self.sample_rate))
        if self.frame_length < 2 or self.frame_step < 1:
            raise ValueError(
                "`frame_seconds` and `hop_seconds` must cover at least 2 and 1 "
                f"samples; received {frame_seconds} s and {hop_seconds} s at "
                f"{self.sample_rate} Hz."
            )
        self.fft_length = int(fft_length or 1 << (self.frame_length - 1).bit_length())
        if self.fft_length < self.frame_length:
            raise ValueError(
                f"`fft_length` ({self.fft_length}) must be ≥ the frame "
                f"({self.frame_length} samples)."
            )
        self.num_mel_bins = int(num_mel_bins)
        self.lower_hz = float(lower_hz)
        self.upper_hz = float(upper_hz) if upper_hz is not None else None
        upper = self.upper_hz or self.sample_rate / 2.0
        if not 0 <= self.lower_hz < upper <= self.sample_rate / 2.0:
            raise ValueError(
                "Mel filters need 0 ≤ `lower_hz` < `upper_hz` ≤ sample_rate / "
                f"2; received {self.lower_hz} and {upper}."
            )
        if not float(floor) > 0:
            raise ValueError(f"`floor` must be > 0; received {floor}.")
        self.floor = float(floor)

    def num_frames(self, length):
        """The number of frames of a clip of `length` samples."""
        return 1 + (int(length) - self.frame_length) // self.frame_step

    def call(self, inputs):
        x, _ = waveforms.check_waveforms(inputs, "LogMelSpectrogram")
        x = waveforms.to_batch_time(x)
        length = x.shape[1]
        if length is not None and length < self.frame_length:
            raise ValueError(
                f"LogMelSpectrogram needs clips of at least one frame "
                f"({self.frame_length} samples); received {length}."
            )
        spectrum = tf.signal.stft(
            x, self.frame_length, self.frame_step, self.fft_length,
            window_fn=tf.signal.hann_window, pad_end=False,
        )
        power = tf.square(tf.abs(spectrum))
        mel = tf.signal.linear_to_mel_weight_matrix(
            self.num_mel_bins, self.fft_length // 2 + 1, self.sample_rate,
            self.lower_hz, self.upper_hz or self.sample_rate / 2.0,
        )
        features = tf.math.log(tf.tensordot(power, mel, 1) + self.floor)
        return tf.cast(features, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        frames = None if length is None else self.num_frames(length)
        return (input_shape[0], frames, self.num_mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate, frame_seconds=self.frame_seconds,
            hop_seconds=self.hop_seconds, num_mel_bins=self.num_mel_bins,
            lower_hz=self.lower_hz, upper_hz=self.upper_hz,
            fft_length=self.fft_length, floor=self.floor,
        )
        return config
