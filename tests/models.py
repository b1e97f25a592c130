"""Tiny model builders and data shared by the tests and the conformance kit.

Each builder seeds Keras itself where its test relied on that, so moving it
here changes no number.
"""

import keras
import numpy as np

from keras_invariance.testing import default_data
from keras_invariance.testing import default_model

__all__ = ["default_data", "default_model"]

IMAGE_SHAPE = (8, 8, 3)
WAVE_LENGTH = 400
VOCABULARY = 20
TOKENS = 6


def image_model():
    """Conv net on 8×8 RGB images in [0, 255], 3 logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    h = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inputs, outputs, name="image_base")


def image_data(rows=16):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 255.0, size=(rows,) + IMAGE_SHAPE).astype("float32")
    return x, rng.integers(0, 3, size=(rows,)).astype("int32")


def audio_model():
    """Dense net on 400-sample waveforms in [-1, 1], 3 logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((WAVE_LENGTH,), name="wave")
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inputs, outputs, name="audio_base")


def audio_data(rows=16):
    rng = np.random.default_rng(0)
    t = np.arange(WAVE_LENGTH) / 16000.0
    freq = rng.uniform(200.0, 2000.0, size=(rows, 1))
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype("float32")
    return x, rng.integers(0, 3, size=(rows,)).astype("int32")


def token_model():
    """Embedding + mean pooling over 6 token ids (vocabulary 20), 3 logits."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((TOKENS,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(VOCABULARY, 4, name="embedding")(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    outputs = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inputs, outputs, name="token_base")


def token_data(rows=16):
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCABULARY, size=(rows, TOKENS)).astype("int32")
    return x, rng.integers(0, 3, size=(rows,)).astype("int32")
