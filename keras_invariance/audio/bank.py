"""Waveform banks: reading folders of audio files, and windows of a bank.

A bank is a set of clips (noise recordings, room impulse responses, speech)
that a perturbation draws from. `load_clips` reads it from a MUSAN-style
folder (searched recursively), a glob pattern, a list of files, or arrays,
and returns mono float32 clips at one sample rate. Files are decoded, in
this order, by

1. `tf.audio.decode_wav` (core TensorFlow: 16-bit PCM WAV, e.g. MUSAN);
2. `scipy.io.wavfile`, when SciPy is installed (8/24/32-bit PCM and float
   WAV);
3. tensorflow-io's `AudioIOTensor` (FLAC, MP3, Ogg Vorbis), only when
   `tfio_available()`: a working decode, not just a successful import,
   because tensorflow-io's compiled ops do not load on every TensorFlow
   (its 0.37 release is built for TF 2.16 and fails on TF 2.21).

Clips at another sample rate are resampled (`resampling.resample`). In the
training step a bank is one flat float32 tensor with the start and length
of each clip, so clips of any length cost no padding; `gather_windows`
reads a window of each row's clip, looping a clip shorter than the window.
"""

import functools
import glob
import os

import numpy as np
import tensorflow as tf

from keras_invariance.audio import resampling

#: File name endings read as audio when a folder is searched.
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg")


@functools.lru_cache(maxsize=None)
def tfio_available():
    """Whether tensorflow-io is installed *and* its compiled ops work.

    Decodes a tiny WAV with `tfio.audio.decode_wav`: importing
    `tensorflow_io` succeeds even where its kernels fail to load (a
    tensorflow-io built for another TensorFlow), so only a decode proves it
    works. Cached for the process.

    Example:

    >>> isinstance(tfio_available(), bool)
    True

    Returns:
        `True` if FLAC/MP3/Ogg files can be read through tensorflow-io.
    """
    try:
        import tensorflow_io as tfio

        wav = tf.audio.encode_wav(tf.zeros((8, 1)), 16000)
        decoded = tfio.audio.decode_wav(wav, dtype=tf.int16)
        return tuple(decoded.shape) == (8, 1)
    except Exception:  # any failure to import or to run means "not usable"
        return False


def find_audio_files(source, argument="bank"):
    """The sorted audio files of a folder (recursive), pattern or list.

    Example:

    >>> import tempfile
    >>> find_audio_files(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: `bank` found no audio files (.wav, .flac, .mp3, .ogg) in ...

    Args:
        source: A folder, a file, a glob pattern, or a list of these.
        argument: The argument named in errors.

    Returns:
        A list of file paths.

    Raises:
        ValueError: For a path that does not exist, or no audio files.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    files = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            for root, dirs, names in os.walk(item):
                dirs.sort()
                files += [
                    os.path.join(root, n) for n in sorted(names)
                    if n.lower().endswith(AUDIO_EXTENSIONS)
                ]
        elif os.path.isfile(item):
            files.append(item)
        elif glob.has_magic(item):
            files += sorted(glob.glob(item, recursive=True))
        else:
            raise ValueError(f"`{argument}`: {item!r} does not exist.")
    if not files:
        raise ValueError(
            f"`{argument}` found no audio files ({', '.join(AUDIO_EXTENSIONS)}) "
            f"in {source!r}. Point it at a folder of WAV files (e.g. MUSAN's "
            "`musan/noise`), a glob pattern or a list of files."
        )
    return files


def _from_integers(samples):
    samples = np.asarray(samples)
    if samples.dtype == np.uint8:
        return (samples.astype("float32") - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype("float32") / float(-np.iinfo(samples.dtype).min)
    return samples.astype("float32")


def _read_wav(path):
    try:
        audio, rate = tf.audio.decode_wav(tf.io.read_file(path))
        return audio.numpy(), int(rate)
    except tf.errors.InvalidArgumentError as error:
        reason = error.message.split("[Op:")[0].strip()
    try:
        from scipy.io import wavfile
    except ImportError:
        raise OSError(
            f"{reason} (tf.audio.decode_wav reads 16-bit PCM only; install "
            "SciPy to read 8/24/32-bit and float WAV)"
        ) from None
    try:
        rate, samples = wavfile.read(path)
    except (ValueError, OSError, EOFError) as error:
        raise OSError(f"{reason}; scipy.io.wavfile: {error}") from None
    samples = _from_integers(samples)
    return (samples[:, None] if samples.ndim == 1 else samples), int(rate)


def decode_audio(path, argument="bank"):
    """Reads one audio file as float32 `(time, channels)` in [-1, 1].

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> tf.io.write_file(path, tf.audio.encode_wav(tf.zeros((4, 1)), 8000))
    >>> samples, rate = decode_audio(path)
    >>> samples.shape, rate
    ((4, 1), 8000)

    Args:
        path: A WAV file (or FLAC/MP3/Ogg with a working tensorflow-io).
        argument: The argument named in errors.

    Returns:
        `(samples, sample_rate)`.

    Raises:
        ValueError: If the file cannot be decoded; the message says which
            formats can be read and how to convert.
    """
    try:
        if path.lower().endswith(".wav"):
            return _read_wav(path)
        if not tfio_available():
            raise OSError(
                "only WAV is read without tensorflow-io, and tensorflow-io is "
                "not installed or does not work with this TensorFlow"
            )
        import tensorflow_io as tfio

        audio = tfio.audio.AudioIOTensor(path)
        return _from_integers(audio.to_tensor().numpy()), int(audio.rate.numpy())
    except (OSError, tf.errors.OpError) as error:
        raise ValueError(
            f"`{argument}`: cannot read {path!r}: {error}. Convert it to "
            "16-bit PCM WAV, e.g. `sox in.flac -b 16 out.wav`."
        ) from None


def load_clips(source, sample_rate, argument="bank", max_seconds=None,
               max_files=None):
    """Mono float32 clips at `sample_rate` from files or arrays.

    Example:

    >>> clips, files = load_clips([np.ones(5), np.zeros(3)], 16000)
    >>> [len(c) for c in clips], files
    ([5, 3], None)

    Args:
        source: A folder (searched recursively), a file, a glob pattern, a
            list of paths; or arrays: a 2-D array (one clip per row), a 1-D
            array (one clip) or a list of 1-D arrays, already at
            `sample_rate`.
        sample_rate: The sample rate in Hz of the clips returned.
        argument: The argument named in errors.
        max_seconds: Crop each clip to its first `max_seconds`.
        max_files: Read only the first `max_files` files (sorted).

    Returns:
        `(clips, files)`: a list of 1-D float32 arrays, and the files read
        (`None` for arrays).

    Raises:
        ValueError: For an empty or unreadable bank, an empty clip, or
            values that are not finite.
    """
    files = None
    if isinstance(source, (str, os.PathLike)) or (
        isinstance(source, (list, tuple)) and source
        and all(isinstance(s, (str, os.PathLike)) for s in source)
    ):
        files = find_audio_files(source, argument)[:max_files]
        clips = []
        for path in files:
            samples, rate = decode_audio(path, argument)
            mono = samples.mean(axis=1)[None]
            if rate != sample_rate:
                mono = resampling.resample(mono, rate, sample_rate, argument).numpy()
            clips.append((path, mono[0]))
    else:
        if isinstance(source, (tf.Tensor, tf.Variable)):
            source = source.numpy()
        if isinstance(source, np.ndarray) and source.ndim == 1:
            source = [source]
        try:
            clips = [(f"clip {i}", np.asarray(c, "float32").ravel())
                     for i, c in enumerate(source)]
        except (TypeError, ValueError):
            raise ValueError(
                f"`{argument}` must be a folder, file(s) or glob pattern, or "
                f"float arrays; received {type(source).__name__}."
            ) from None
        if not clips:
            raise ValueError(f"`{argument}` is empty: it holds no clips.")
    result = []
    for name, clip in clips:
        if max_seconds is not None:
            clip = clip[: int(round(max_seconds * sample_rate))]
        if clip.size == 0:
            raise ValueError(f"`{argument}`: {name} holds no samples.")
        if not np.all(np.isfinite(clip)):
            raise ValueError(f"`{argument}`: {name} holds NaN or infinite values.")
        result.append(clip.astype("float32"))
    return result, files


def flatten_clips(clips):
    """Clips → `(samples, starts, lengths)`: one buffer, no padding.

    Example:

    >>> samples, starts, lengths = flatten_clips([np.ones(2), np.zeros(3)])
    >>> samples.tolist(), starts.tolist(), lengths.tolist()
    ([1.0, 1.0, 0.0, 0.0, 0.0], [0, 2], [2, 3])
    """
    lengths = np.array([len(c) for c in clips], "int32")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype("int32")
    return np.concatenate(clips).astype("float32"), starts, lengths


def gather_windows(samples, starts, lengths, clip, offset, length):
    """Row b gets `length` samples of clip `clip[b]` from `offset[b]`, looped.

    Example:

    >>> samples, starts, lengths = flatten_clips([np.arange(3.0), np.arange(2.0)])
    >>> gather_windows(samples, starts, lengths, np.array([0, 1]),
    ...                np.array([1, 0]), 5).numpy()
    array([[1., 2., 0., 1., 2.],
           [0., 1., 0., 1., 0.]], dtype=float32)

    Args:
        samples: The flat float32 buffer.
        starts: `(n,)` int32 start of each clip.
        lengths: `(n,)` int32 length of each clip.
        clip: `(batch,)` int32 clip index per row.
        offset: `(batch,)` int32 first sample per row (taken modulo the
            clip's length).
        length: The window length (a Python int).

    Returns:
        Float32 `(batch, length)`.
    """
    clip = tf.cast(clip, tf.int32)
    start = tf.gather(tf.cast(starts, tf.int32), clip)[:, None]
    size = tf.gather(tf.cast(lengths, tf.int32), clip)[:, None]
    position = (tf.cast(offset, tf.int32)[:, None] + tf.range(length)[None]) % size
    return tf.gather(tf.cast(samples, tf.float32), start + position)
