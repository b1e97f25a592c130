"""Synthetic spoken keywords and noise clips: speech-like audio, no download.

`synthetic_keywords` speaks the ten command words of the Speech Commands
dataset (Warden, "Speech Commands: A Dataset for Limited-Vocabulary Speech
Recognition", 2018) with a source-filter model: voiced phones are harmonics
of a falling pitch contour shaped by formant resonances (vowel formants of
Peterson and Barney, "Control Methods Used in a Study of the Vowels",
1952), fricatives and stop bursts are band-limited noise. Every utterance
has its own speaker (pitch 90–240 Hz, vocal-tract length ±15 %, speaking
rate ±25 %, level) and onset. The words differ in what a recognizer must
hear, including above 4 kHz (the /s/ of "yes" and "stop", the bursts of
/t/), so that reverberation, overlapping speech and telephone band-limiting
each hurt in their own way.

`synthetic_noises` makes MUSAN-like background noises (coloured noise,
mains hum, fan, engine, rain, speech-shaped babble) for a noise bank.

Not a substitute for recorded speech: it runs the whole speech pipeline
(waveforms → perturbations → log-mel → recognizer) offline, in seconds.
"""

import numpy as np

#: The ten command words of Speech Commands, as phone sequences.
KEYWORDS = {
    "yes": ["j", "e", "s"], "no": ["n", "o", "u"], "up": ["^", "p"],
    "down": ["d", "a", "u", "n"], "left": ["l", "e", "f", "t"],
    "right": ["r", "a", "i", "t"], "on": ["a", "n"], "off": ["o", "f"],
    "stop": ["s", "t", "a", "p"], "go": ["g", "o", "u"],
}

# Voiced phones: formants F1–F3 (Hz), relative amplitude, duration (s).
_VOICED = {
    "i": ((270, 2290, 3010), 1.0, 0.09), "e": ((530, 1840, 2480), 1.0, 0.12),
    "a": ((730, 1090, 2440), 1.0, 0.13), "o": ((570, 840, 2410), 1.0, 0.12),
    "u": ((300, 870, 2240), 0.9, 0.09), "^": ((640, 1190, 2390), 1.0, 0.11),
    "j": ((260, 2100, 3000), 0.6, 0.05), "l": ((360, 1300, 2700), 0.6, 0.07),
    "r": ((420, 1300, 1600), 0.6, 0.07), "n": ((250, 1700, 2600), 0.35, 0.08),
}
# Noise phones: band (Hz), amplitude, duration (s), closure before (s),
# voiced closure (a weak voice bar for /d/, /g/).
_NOISE = {
    "s": ((4000, 7800), 0.35, 0.12, 0.0, False), "f": ((1500, 7500), 0.12, 0.11, 0.0, False),
    "t": ((3000, 7000), 0.5, 0.02, 0.05, False), "p": ((300, 1500), 0.5, 0.015, 0.06, False),
    "d": ((2500, 5000), 0.4, 0.012, 0.03, True), "g": ((1200, 3000), 0.4, 0.015, 0.03, True),
}
_BANDWIDTHS = np.array([80.0, 110.0, 160.0])
_FORMANT_GAINS = np.array([1.0, 0.55, 0.3])


def _band_noise(rng, n, band, sample_rate):
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum[(freqs < band[0]) | (freqs > band[1])] = 0.0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.std(noise) + 1e-12)


def _ramp(n, sample_rate, seconds=0.008):
    # Raised-cosine fade in and out, so phones join without clicks.
    k = max(1, min(n // 2, int(seconds * sample_rate)))
    window = np.ones(n)
    fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
    window[:k], window[n - k:] = fade, fade[::-1]
    return window


def _utterance(word, rng, sample_rate):
    rate = rng.uniform(0.8, 1.25)
    scale = rng.uniform(0.85, 1.15)  # vocal-tract length
    f0_start = rng.uniform(90.0, 240.0)
    segments = []
    for phone in KEYWORDS[word]:
        if phone in _VOICED:
            formants, amplitude, seconds = _VOICED[phone]
            segments.append(("voiced", phone, int(seconds / rate * sample_rate)))
        else:
            band, amplitude, seconds, closure, voiced = _NOISE[phone]
            segments.append(("closure", voiced, int(closure / rate * sample_rate)))
            segments.append(("noise", phone, int(seconds / rate * sample_rate)))
    n = sum(s[2] for s in segments)
    t = np.arange(n) / sample_rate
    f0 = (f0_start * (1.0 - 0.18 * t / max(t[-1], 1e-3))
          * (1 + 0.01 * rng.normal(size=n).cumsum() / np.sqrt(n)))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = np.arange(1, int(7000 / f0.min()) + 1)[:, None]
    out, start = np.zeros(n), 0
    for kind, what, length in segments:
        if length <= 0:
            continue
        piece = slice(start, start + length)
        window = _ramp(length, sample_rate)
        if kind == "voiced":
            formants, amplitude, _ = _VOICED[what]
            f = harmonics * f0[piece][None]
            envelope = sum(
                g / np.sqrt(1.0 + ((f - scale * fi) / (0.5 * b)) ** 2)
                for fi, b, g in zip(formants, _BANDWIDTHS, _FORMANT_GAINS)
            ) / harmonics  # −6 dB/octave source tilt
            voice = np.sum(envelope * np.sin(harmonics * phase[piece][None]), axis=0)
            out[piece] = amplitude * window * voice / (np.std(voice) + 1e-12)
        elif kind == "noise":
            band, amplitude, *_ = _NOISE[what]
            band = (band[0] * scale, min(band[1] * scale, 0.49 * sample_rate))
            out[piece] = amplitude * window * _band_noise(rng, length, band, sample_rate)
        elif what:  # a voice bar under a voiced closure
            out[piece] = 0.05 * window * np.sin(phase[piece])
        start += length
    return out


def synthetic_keywords(num_per_word=100, sample_rate=16000, seconds=1.0,
                       words=None, seed=0):
    """Spoken keywords with a random speaker each, as float32 waveforms.

    Example:

    >>> x, y = synthetic_keywords(num_per_word=2, seconds=0.5, seed=0)
    >>> x.shape, x.dtype.name, sorted(set(y.tolist())) == list(range(10))
    ((20, 8000), 'float32', True)

    Args:
        num_per_word: Utterances per word.
        sample_rate: Sample rate in Hz (≥ 16000 keeps the /s/ band).
        seconds: Clip length; each word sits at a random onset in it.
        words: A subset of `KEYWORDS` (default all ten, in its order); the
            label is the index in this list.
        seed: Seed of speakers, onsets and noise.

    Returns:
        `(x, y)`: `(n, samples)` float32 waveforms (speech at −30 to −15
        dBFS RMS, peaks ≤ 0.9, over a −70 dBFS noise floor) and `(n,)` int32 labels, shuffled.

    Raises:
        ValueError: For an unknown word or clips too short for a word.
    """
    words = list(KEYWORDS) if words is None else list(words)
    unknown = [w for w in words if w not in KEYWORDS]
    if unknown:
        raise ValueError(f"Unknown keywords {unknown}; use some of {list(KEYWORDS)}.")
    rng = np.random.default_rng(seed)
    length = int(round(seconds * sample_rate))
    x = np.zeros((num_per_word * len(words), length), "float32")
    y = np.repeat(np.arange(len(words), dtype="int32"), num_per_word)
    for i, label in enumerate(y):
        voice = _utterance(words[label], rng, sample_rate)
        if len(voice) > length:
            raise ValueError(
                f"`seconds`={seconds} is too short for {words[label]!r} "
                f"({len(voice) / sample_rate:.2f} s at the slowest rate); use ≥ 0.5."
            )
        # An RMS level in dBFS, lowered if needed to keep peaks below 0.9.
        gain = min(10 ** (rng.uniform(-30.0, -15.0) / 20.0) / (np.std(voice) + 1e-12),
                   0.9 / (np.max(np.abs(voice)) + 1e-12))
        onset = rng.integers(0, length - len(voice) + 1)
        clip = 10 ** (-70 / 20.0) * rng.normal(size=length)
        clip[onset:onset + len(voice)] += gain * voice
        x[i] = clip
    order = rng.permutation(len(y))
    return x[order], y[order]


def _colored(rng, n, exponent):
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    return np.fft.irfft(spectrum * freqs ** (-exponent / 2.0), n)


def synthetic_noises(num_clips=8, sample_rate=16000, seconds=2.0, seed=0):
    """MUSAN-like background noise clips (RMS −20 dBFS each).

    Kinds, in turn: pink noise, brown noise, mains hum, fan, engine, rain,
    speech-shaped babble, white noise, each with random parameters.

    Example:

    >>> synthetic_noises(num_clips=3, seconds=0.5).shape
    (3, 8000)

    Args:
        num_clips: Number of clips.
        sample_rate: Sample rate in Hz.
        seconds: Length of each clip.
        seed: Seed.

    Returns:
        `(num_clips, samples)` float32.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    clips = []
    for i in range(num_clips):
        kind = i % 8
        if kind == 0:
            clip = _colored(rng, n, 1.0)
        elif kind == 1:
            clip = _colored(rng, n, 2.0)
        elif kind == 2:  # hum: mains harmonics over a little noise
            mains = rng.choice([50.0, 60.0])
            clip = sum(np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 6.3)) / k
                       for k in range(1, 8)) + 0.1 * rng.normal(size=n)
        elif kind == 3:  # fan: low band noise and a blade tone
            clip = _band_noise(rng, n, (80, 900), sample_rate) + 0.5 * np.sin(
                2 * np.pi * rng.uniform(90, 240) * t)
        elif kind == 4:  # engine: firing harmonics, amplitude modulated
            fire = rng.uniform(25, 60)
            rumble = _colored(rng, n, 1.5)
            clip = (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t)) * sum(
                np.sin(2 * np.pi * fire * k * t) / k**1.5 for k in range(1, 12)
            ) + 0.2 * rumble / (np.std(rumble) + 1e-12)
        elif kind == 5:  # rain: random decaying clicks
            clip = np.zeros(n)
            clicks = rng.integers(0, n, int(rng.uniform(200, 800) * seconds))
            clip[clicks] = rng.normal(size=len(clicks))
            decay = np.exp(-np.arange(int(0.004 * sample_rate)) / (0.001 * sample_rate))
            clip = np.convolve(clip, decay)[:n] + 0.05 * rng.normal(size=n)
        elif kind == 6:  # babble: four speech-band streams, syllabic bursts
            clip = sum(
                _band_noise(rng, n, (100, 4000), sample_rate) * np.maximum(
                    0.0, np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.3)))
                for _ in range(4)
            )
        else:
            clip = rng.normal(size=n)
        clip = np.asarray(clip, "float64")
        clips.append(0.1 * clip / (np.std(clip) + 1e-12))
    return np.stack(clips).astype("float32")
