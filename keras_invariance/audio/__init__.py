"""Signal processing for speech perturbations and speech models.

The pieces the speech perturbations are built from, usable on their own;
all of it is core TensorFlow (plus NumPy for filter design), compiles
under XLA and works per example:

* `waveforms`: the mono-batch contract, power, mixing at an SNR, levels;
* `filters`: windowed-sinc FIR design (the filters of
  `scipy.signal.firwin` / `resample_poly`);
* `resampling`: polyphase rational resampling (`resample_poly`);
* `convolution`: per-example FFT convolution, shared FIR filtering;
* `companding`: μ-law encoding, decoding and quantization;
* `rir`: synthetic room impulse responses, alignment of recorded ones;
* `bank`: reading folders of audio files into a bank, windows of a bank;
* `features`: the `LogMelSpectrogram` layer.
"""

from keras_invariance.audio.bank import decode_audio
from keras_invariance.audio.bank import find_audio_files
from keras_invariance.audio.bank import load_clips
from keras_invariance.audio.bank import tfio_available
from keras_invariance.audio.companding import mu_law_decode
from keras_invariance.audio.companding import mu_law_encode
from keras_invariance.audio.companding import mu_law_quantize
from keras_invariance.audio.convolution import convolve
from keras_invariance.audio.convolution import fir_filter
from keras_invariance.audio.features import LogMelSpectrogram
from keras_invariance.audio.filters import bandpass_filter
from keras_invariance.audio.filters import firwin
from keras_invariance.audio.filters import resampling_filter
from keras_invariance.audio.resampling import resample
from keras_invariance.audio.resampling import resample_poly
from keras_invariance.audio.rir import prepare_rirs
from keras_invariance.audio.rir import synthetic_rirs
from keras_invariance.audio.waveforms import match_level
from keras_invariance.audio.waveforms import mix_at_snr
from keras_invariance.audio.waveforms import power

__all__ = [
    "decode_audio",
    "find_audio_files",
    "load_clips",
    "tfio_available",
    "mu_law_decode",
    "mu_law_encode",
    "mu_law_quantize",
    "convolve",
    "fir_filter",
    "LogMelSpectrogram",
    "bandpass_filter",
    "firwin",
    "resampling_filter",
    "resample",
    "resample_poly",
    "prepare_rirs",
    "synthetic_rirs",
    "match_level",
    "mix_at_snr",
    "power",
]
