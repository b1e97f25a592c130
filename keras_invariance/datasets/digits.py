"""scikit-learn's 8×8 handwritten digits: embedded data that needs no download.

The main job (`keras-invariance digits`), the Keras Tuner example and the
science checks train on these 1,797 images because they ship with
scikit-learn, load in milliseconds and train in seconds on a CPU.
scikit-learn is the `digits` extra (`pip install 'keras-invariance[digits]'`),
imported when the data are loaded.
"""

import keras
import numpy as np

from keras_invariance.utils.extras import require

#: Classes, image side and the largest raw pixel value of sklearn's digits.
NUM_CLASSES = 10
IMAGE_SIZE = 8
MAX_PIXEL = 16.0


def load_digits(test_size=0.25, seed=0, image=False, pad_to=None):
    """Loads scikit-learn's digits as float32 in [0, 1], split train/test.

    Pixels are the raw counts 0–16 divided by 16. The split is stratified by
    class with a fixed seed, so every call with the same arguments returns
    the same arrays.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape, x_test.shape, x_train.dtype.name
    ((1347, 64), (450, 64), 'float32')
    >>> (x_train, _), _ = load_digits(image=True, pad_to=16)
    >>> x_train.shape
    (1347, 16, 16, 1)

    Args:
        test_size: Fraction (0 < test_size < 1) or number of test examples.
        seed: Seed of the stratified shuffle-split.
        image: Return images of shape `(8, 8, 1)` instead of flat `(64,)`
            vectors.
        pad_to: If given, zero-pad each image symmetrically (extra row or
            column at the bottom/right when the padding is odd) to
            `pad_to × pad_to`, leaving room to translate the digit. Implies
            `image=True`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float32 inputs in [0, 1] and
        int32 labels in 0–9.

    Raises:
        ValueError: If `pad_to` is smaller than 8, or `test_size` is not a
            valid fraction or count.
    """
    sk_datasets = require("sklearn.datasets", "digits", "load_digits")
    model_selection = require("sklearn.model_selection", "digits", "load_digits")

    digits = sk_datasets.load_digits()
    x = (digits.data / MAX_PIXEL).astype("float32")
    y = digits.target.astype("int32")
    if isinstance(test_size, float) and not 0.0 < test_size < 1.0:
        raise ValueError(
            f"`test_size` must be a fraction in (0, 1) or a count; received {test_size}."
        )
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    if image or pad_to is not None:
        x_train = to_images(x_train, pad_to)
        x_test = to_images(x_test, pad_to)
    return (x_train, y_train), (x_test, y_test)


def to_images(x, pad_to=None):
    """Reshapes flat digits `(n, 64)` to `(n, 8, 8, 1)`, optionally zero-padded.

    Example:

    >>> float(to_images(np.ones((2, 64), "float32"), pad_to=10)[0, :, :, 0].sum())
    64.0

    Args:
        x: Flat digits, shape `(n, 64)`.
        pad_to: Optional side ≥ 8 of the zero-padded image.

    Returns:
        A float32 array of shape `(n, side, side, 1)`.

    Raises:
        ValueError: If `pad_to` < 8.
    """
    images = np.asarray(x, "float32").reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    if pad_to is None:
        return images
    if int(pad_to) != pad_to or pad_to < IMAGE_SIZE:
        raise ValueError(
            f"`pad_to` must be an integer ≥ {IMAGE_SIZE} (the digits are "
            f"{IMAGE_SIZE}×{IMAGE_SIZE}); received {pad_to}."
        )
    extra = int(pad_to) - IMAGE_SIZE
    before, after = extra // 2, extra - extra // 2
    return np.pad(images, ((0, 0), (before, after), (before, after), (0, 0)))


def digits_classifier(
    input_shape=(IMAGE_SIZE * IMAGE_SIZE,),
    num_classes=NUM_CLASSES,
    hidden_units=(256, 256),
    conv_filters=None,
    activation="relu",
    dropout=0.0,
    name="digits_classifier",
):
    """A small Functional classifier for digits with named, tappable layers.

    An MLP by default: `hidden_1`, `hidden_2`, … (Dense) then `logits`
    (Dense, no activation: compile with `from_logits=True`). With
    `conv_filters`, 3×3 "same" convolutions `conv_1`, `conv_2`, … come
    first (each followed by 2×2 max pooling while the map is larger than
    2×2), then `flatten` and the Dense layers. Image inputs without
    `conv_filters` are flattened first. The layer names are what IRL taps:
    `layers="hidden_2"` (IRL-E style) or `layers="above:hidden_1"` (IRL-C).

    Example:

    >>> model = digits_classifier(hidden_units=(32, 32))
    >>> [layer.name for layer in model.layers]
    ['pixels', 'hidden_1', 'hidden_2', 'logits']
    >>> cnn = digits_classifier((16, 16, 1), conv_filters=(8,), hidden_units=(16,))
    >>> cnn.output_shape
    (None, 10)

    Args:
        input_shape: `(64,)` for flat digits or `(side, side, 1)` for images.
        num_classes: Number of logits.
        hidden_units: Units of each hidden Dense layer.
        conv_filters: Optional filters of each convolution (image inputs).
        activation: Hidden activation.
        dropout: Dropout rate after each hidden Dense layer (0 for none).
        name: The model's name.

    Returns:
        An uncompiled Functional `keras.Model` returning logits.

    Raises:
        ValueError: If `conv_filters` is given for flat inputs.
    """
    inputs = keras.Input(tuple(input_shape), name="pixels")
    h = inputs
    if conv_filters:
        if len(input_shape) != 3:
            raise ValueError(
                "`conv_filters` needs image inputs of shape (side, side, 1); "
                f"received input_shape={tuple(input_shape)}. Load the data "
                "with `load_digits(image=True)`."
            )
        side = input_shape[0]
        for i, filters in enumerate(conv_filters, start=1):
            h = keras.layers.Conv2D(
                filters, 3, padding="same", activation=activation, name=f"conv_{i}"
            )(h)
            if side > 2:
                h = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(h)
                side //= 2
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    for i, units in enumerate(hidden_units, start=1):
        h = keras.layers.Dense(units, activation=activation, name=f"hidden_{i}")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"dropout_{i}")(h)
    outputs = keras.layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)
