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


def sequential_mlp_6_8_3(seed=0, bn=False):
    """Sequential 6 → Dense 8 tanh (→ BatchNorm `bn`) → 3 logits (tests/test_adversarial.py)."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((6,)), keras.layers.Dense(8, activation="tanh")]
    if bn:
        layers.append(keras.layers.BatchNormalization(name="bn"))
    layers.append(keras.layers.Dense(3))
    return keras.Sequential(layers)


def sequential_mlp_5_7_3(seed=0):
    """Sequential 5 → Dense 7 tanh → 3 logits (tests/test_clean_pass.py)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(7, activation="tanh"),
        keras.layers.Dense(3),
    ])


def linear_4_3():
    """Sequential 4 → Dense 3, unseeded (tests/test_deprecation.py)."""
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def flatten_8x8x1():
    """8×8×1 images → Flatten → Dense 3, unseeded (tests/test_deprecation.py)."""
    return keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )


def sequential_mlp_4_6_3(seed=0):
    """Sequential 4 → `hidden` 6 tanh → `logits` 3 (tests/test_engine_step.py)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(6, activation="tanh", name="hidden"),
        keras.layers.Dense(3, name="logits"),
    ])


def linear_mlp_4_5_3():
    """Functional 4 → linear `hidden` 5 → `out` 3, unseeded (test_extension_points)."""
    inputs = keras.Input((4,))
    h = keras.layers.Dense(5, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


def dropout_mlp_5_7_3(seed=0):
    """`x` 5 → `hidden` 7 tanh → Dropout `drop` → `out` 3 (tests/test_representation.py)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,), name="x")
    h = keras.layers.Dense(7, activation="tanh", name="hidden")(inputs)
    d = keras.layers.Dropout(0.5, name="drop")(h)
    out = keras.layers.Dense(3, name="out")(d)
    return keras.Model(inputs, out)


def valid_cnn_8x8(channels=1, name="cnn"):
    """8×8 images → Conv2D `conv` 4 valid → `logits_layer` 3 (tests/test_distribution.py)."""
    inputs = keras.Input((8, 8, channels))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits_layer")(h), name=name)


def same_cnn_4(size=10, batchnorm=False):
    """size² images → Conv2D 4 same (→ BatchNorm `bn`) → Dense 3 (test_spatial_training)."""
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    if batchnorm:
        h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3)(h)
    return keras.Model(inputs, outputs)


def same_cnn_3(size=6, name="base"):
    """size² images → Conv2D `conv` 3 same → `out` 3 (tests/test_tangent_prop.py)."""
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="tanh", name="conv")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, name="out")(h)
    return keras.Model(inputs, outputs, name=name)


def relu_mlp_6_16(units, activation=None):
    """6 → `hidden` 16 relu → `out` units with `activation` (tests/test_default_promise.py)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="out")(h))


def relu_token_model():
    """8 ids → `embedding` 20×8 → mean → `hidden` 16 relu → `out` 3 (test_default_promise)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), dtype="int32")
    h = keras.layers.Embedding(20, 8, name="embedding")(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(16, activation="relu", name="hidden")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


def engine_data(n=32, features=6, classes=3, seed=0):
    """n normal rows of `features` floats, `classes` labels (tests/engine_checks.py)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, classes, size=(n,)).astype("int32")
    return x, y


def engine_mlp(features=6, classes=3, hidden=8, name="base"):
    """`x` → `hidden` → `hidden2` tanh → `logits_layer`, unseeded (engine_checks)."""
    inputs = keras.Input((features,), name="x")
    h = keras.layers.Dense(hidden, activation="tanh", name="hidden")(inputs)
    h2 = keras.layers.Dense(hidden, activation="tanh", name="hidden2")(h)
    outputs = keras.layers.Dense(classes, name="logits_layer")(h2)
    return keras.Model(inputs, outputs, name=name)


def derivative_mlp(inputs=4, hidden=5, outputs=3, seed=0):
    """inputs → `hid` tanh → `out`, seeded (tests/derivative_checks.py)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    h = keras.layers.Dense(hidden, activation="tanh", name="hid")(x)
    y = keras.layers.Dense(outputs, name="out")(h)
    return keras.Model(x, y)
