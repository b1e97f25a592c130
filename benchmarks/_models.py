"""The benchmark models and their data.

* `digits_mlp`: 64→256→256→10 on scikit-learn digits (per-op overhead
  dominates: a plain step is a few milliseconds).
* `resnet_cnn`: a small ResNet (a 3×3 stem and three residual stages of
  16, 32 and 64 filters with BatchNorm, global average pooling) on synthetic
  data of CIFAR-10's shape, 32×32×3: compute dominates.
* `digits_cnn`: the 16×16 two-convolution CNN of the spatial benchmark
  (scikit-learn digits zero-padded to 16×16).

`quick=True` shrinks every model and data set to a smoke-test size.
"""

import keras
import numpy as np

from keras_invariance.datasets import digits as digits_lib

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def digits_mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return digits_lib.digits_classifier(hidden_units=(256, 256))


def digits_mlp_data(batch_size):
    """Digits in [0, 1], whole batches only (every step has one shape)."""
    (x, y), _ = digits_lib.load_digits(test_size=0.1)
    rows = len(x) // batch_size * batch_size
    return x[:rows], y[:rows]


def _norm(name, batch_norm):
    if batch_norm:
        return keras.layers.BatchNormalization(name=name)
    return keras.layers.Identity(name=name)


def _block(h, filters, stride, name, batch_norm=True):
    shortcut = h
    h = keras.layers.Conv2D(filters, 3, strides=stride, padding="same",
                            use_bias=False, name=f"{name}_conv1")(h)
    h = _norm(f"{name}_bn1", batch_norm)(h)
    h = keras.layers.ReLU(name=f"{name}_relu1")(h)
    h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                            name=f"{name}_conv2")(h)
    h = _norm(f"{name}_bn2", batch_norm)(h)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       name=f"{name}_proj")(shortcut)
        shortcut = _norm(f"{name}_proj_bn", batch_norm)(shortcut)
    h = keras.layers.Add(name=f"{name}_add")([h, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(h)


#: The activations IRL can tap in `resnet_cnn`, input to output.
RESNET_TAPS = ("stem_relu", "block1_out", "block2_out", "block3_out", "pool", "logits")


def resnet_cnn(seed=0, quick=False, batch_norm=True):
    """ResNet-8 style: stem, 3 residual blocks (16/32/64 filters), GAP, Dense.

    `batch_norm=False` replaces every BatchNormalization by an identity (to
    measure what training-mode BatchNorm costs the second-order methods).
    """
    keras.utils.set_random_seed(seed)
    size, width = (8, 4) if quick else (32, 16)
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                            name="stem_conv")(inputs)
    h = _norm("stem_bn", batch_norm)(h)
    h = keras.layers.ReLU(name="stem_relu")(h)
    for i, (factor, stride) in enumerate([(1, 1), (2, 2), (4, 2)]):
        h = _block(h, width * factor, stride, f"block{i + 1}", batch_norm)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(10, name="logits")(h)
    return keras.Model(inputs, outputs, name="resnet8")


def cifar_shaped_data(rows, seed=0, quick=False):
    """Synthetic images in [0, 1] of CIFAR-10's shape, labels 0–9."""
    size = 8 if quick else 32
    rng = np.random.default_rng(seed)
    x = rng.random((rows, size, size, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=(rows,)).astype("int32")
    return x, y


def digits_cnn(seed=0, size=16):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def digits_images(size=16):
    """scikit-learn digits (8×8) in [0, 1], zero-padded to `size`×`size`."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    pad = (size - 8) // 2
    x = np.pad(x, ((0, 0), (pad, size - 8 - pad), (pad, size - 8 - pad), (0, 0)))
    return x, data.target.astype("int32")
