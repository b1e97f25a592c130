"""The report's data and base model: digits or TFDS, a small CNN or the user's.

* `digits` (default): scikit-learn's 8×8 digits, embedded, upscaled 2×
  (bilinear) to 16×16 glyphs and zero-padded to 20×20 (room to translate
  them). At 8×8 a sub-pixel shift blurs a stroke away, so every model failed
  the worst of the 775-transform grid and the spatial columns said nothing;
  upscaled, the grid separates the methods. A user model's square
  single-channel input of side s gets the upscaled glyphs when s ≥ 16, the
  8×8 ones otherwise, padded to s; flat `(64,)` for a model with flat
  inputs.
* any TFDS image-classification name, read from prepared data
  (`tfds.load(..., data_dir=..., download=False)`): it never downloads.

Pixels are float32 in [0, 1] everywhere, so noise σ and attack ε are in
pixel units. Every problem with the data or the model raises `ReportError`,
whose message is one line saying what to do.
"""

import os

import keras
import numpy as np

from keras_invariance.datasets import digits as digits_lib


class ReportError(ValueError):
    """Bad input to the report: the message is one line saying what to do."""


#: The side digits are padded to for the default CNN.
DIGITS_SIDE = 20
#: The upscaling of the 8×8 glyphs (to 16×16) when the frame has room.
DIGITS_SCALE = 2


def load_data(dataset, data_dir=None, train_size=None, test_size=None,
              seed=0, input_shape=None):
    """Loads `(x_train, y_train), (x_test, y_test)` for the report.

    Example:

    >>> (x, y), (xt, yt) = load_data("digits", train_size=100, test_size=50)
    >>> x.shape, xt.shape, float(x.max()) <= 1.0
    ((100, 20, 20, 1), (50, 20, 20, 1), True)

    Args:
        dataset: `"digits"` or a TFDS name (e.g. `"mnist"`).
        data_dir: TFDS `data_dir` holding the prepared dataset.
        train_size: Optional number of training examples (a seeded subset).
        test_size: Optional number of test examples (a seeded subset).
        seed: Seed of the digits split and of the subsets.
        input_shape: The model's input shape, when it is the user's (digits
            are shaped to fit it when they can).

    Returns:
        Float32 inputs in [0, 1] and int32 labels.

    Raises:
        ReportError: For TFDS data that is not prepared or not images with
            labels, or digits that cannot fit `input_shape`.
    """
    if dataset == "digits":
        data = _digits(seed, input_shape)
    else:
        data = _tfds(dataset, data_dir)
    rng = np.random.default_rng(seed)
    (x, y), (xt, yt) = data
    return _subset(x, y, train_size, rng), _subset(xt, yt, test_size, rng)


def _subset(x, y, size, rng):
    if size is None or size >= len(y):
        return x, y
    index = np.sort(rng.permutation(len(y))[:size])
    return x[index], y[index]


def _digits(seed, input_shape):
    flat = input_shape is not None and len(input_shape) == 1
    if flat:
        if tuple(input_shape) != (digits_lib.IMAGE_SIZE ** 2,):
            raise ReportError(
                f"the model takes inputs of shape {tuple(input_shape)}, but flat "
                "digits have shape (64,); give a model taking (64,) or "
                "(side, side, 1) images with side ≥ 8"
            )
        return digits_lib.load_digits(seed=seed)
    side = DIGITS_SIDE
    if input_shape is not None:
        shape = tuple(input_shape)
        if (len(shape) != 3 or shape[0] != shape[1] or shape[2] != 1
                or shape[0] is None or shape[0] < digits_lib.IMAGE_SIZE):
            raise ReportError(
                f"the model takes inputs of shape {shape}, which digits cannot "
                "fill: give a model taking (side, side, 1) images with side ≥ 8 "
                "or flat (64,) vectors, or pass --dataset with data of that shape"
            )
        side = shape[0]
    scale = DIGITS_SCALE if side >= DIGITS_SCALE * digits_lib.IMAGE_SIZE else 1
    (x, y), (xt, yt) = digits_lib.load_digits(seed=seed, image=True)
    return (upscale(x, scale, side), y), (upscale(xt, scale, side), yt)


def upscale(images, scale, side):
    """Upscales `(n, h, w, 1)` images `scale`× (bilinear), zero-pads to `side`.

    Example:

    >>> glyph = np.zeros((1, 8, 8, 1), "float32")
    >>> glyph[0, 2:6, 3:5] = 1.0
    >>> big = upscale(glyph, 2, 20)
    >>> big.shape, float(big.max()), float(big[0, :2].sum())
    ((1, 20, 20, 1), 1.0, 0.0)

    Args:
        images: Float images in [0, 1].
        scale: An integer ≥ 1.
        side: The padded side (≥ `scale` × the image side); the extra row
            or column of an odd padding goes to the bottom/right.

    Returns:
        Float32 images of shape `(n, side, side, channels)` in [0, 1].
    """
    import tensorflow as tf

    images = np.asarray(images, "float32")
    height, width = images.shape[1:3]
    if scale > 1:
        images = tf.image.resize(images, (scale * height, scale * width),
                                 method="bilinear").numpy()
    extra_h, extra_w = side - images.shape[1], side - images.shape[2]
    if min(extra_h, extra_w) < 0:
        raise ValueError(f"`side` {side} is smaller than the upscaled images "
                         f"{images.shape[1:3]}.")
    padding = ((0, 0), (extra_h // 2, extra_h - extra_h // 2),
               (extra_w // 2, extra_w - extra_w // 2), (0, 0))
    return np.clip(np.pad(images, padding), 0.0, 1.0).astype("float32")


def _tfds(name, data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ReportError(
            f"--dataset {name} reads TFDS data, but tensorflow-datasets is not "
            "installed: pip install 'keras-invariance[recipes]' (or use "
            "--dataset digits)"
        ) from None
    where = data_dir or "~/tensorflow_datasets"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # unknown names raise several TFDS errors
        raise ReportError(
            f"--dataset {name!r} is not a TFDS dataset ({str(error).splitlines()[0]})"
        ) from None
    if not builder.is_prepared():
        raise ReportError(
            f"TFDS dataset {name!r} is not prepared in {where}: run "
            f"`tfds build {name} --data_dir {where}` where the internet is "
            "reachable, copy the directory here and pass --data-dir (or use "
            "--dataset digits)"
        )
    if not builder.info.supervised_keys:
        raise ReportError(f"TFDS dataset {name!r} has no (image, label) supervised keys")
    splits = list(builder.info.splits)
    test_split = next((s for s in ("test", "validation") if s in splits), None)
    if "train" not in splits or test_split is None:
        raise ReportError(
            f"TFDS dataset {name!r} needs a 'train' and a 'test' (or "
            f"'validation') split; it has {splits}"
        )
    (x, y), (xt, yt) = (
        tfds.as_numpy(builder.as_dataset(split=s, as_supervised=True, batch_size=-1))
        for s in ("train", test_split)
    )
    return as_report_images(name, (x, y), (xt, yt))


def as_report_images(name, train, test):
    """TFDS arrays as the report's data: float32 pixels in [0, 1], int32 labels.

    Integer pixels are divided by 255; grayscale `(n, h, w)` images get a
    channel axis.

    Example:

    >>> (x, y), _ = as_report_images(
    ...     "toy", (np.full((2, 4, 4), 255, "uint8"), [1, 2]),
    ...     (np.zeros((1, 4, 4), "uint8"), [0]))
    >>> x.shape, float(x.max()), y.dtype.name
    ((2, 4, 4, 1), 1.0, 'int32')

    Args:
        name: The dataset's name, for messages.
        train: `(x, y)` arrays.
        test: `(x, y)` arrays.

    Returns:
        `(x_train, y_train), (x_test, y_test)`.

    Raises:
        ReportError: For inputs that are not images.
    """
    (x, y), (xt, yt) = ((np.asarray(a), np.asarray(b)) for a, b in (train, test))
    if x.ndim == 3:
        x, xt = x[..., None], xt[..., None]
    if x.ndim != 4 or xt.shape[1:] != x.shape[1:]:
        raise ReportError(
            f"TFDS dataset {name!r} has inputs of shape {x.shape[1:]}; the "
            "report needs images (height, width, channels)"
        )
    scale = 255.0 if np.issubdtype(x.dtype, np.integer) else 1.0
    return ((x.astype("float32") / scale, y.astype("int32")),
            (xt.astype("float32") / scale, yt.astype("int32")))


def default_model(input_shape, num_classes):
    """The report's small CNN: two 3×3 convolutions, a hidden layer, logits.

    Example:

    >>> default_model((20, 20, 1), 10).output_shape
    (None, 10)

    Args:
        input_shape: Image shape `(height, width, channels)`, or `(features,)`
            for an MLP.
        num_classes: Number of logits.

    Returns:
        An uncompiled Functional model with layers `conv_1`, `conv_2`,
        `hidden_1` and `logits` (an MLP `hidden_1`, `hidden_2`, `logits` for
        flat inputs).
    """
    if len(input_shape) == 1:
        return digits_lib.digits_classifier(input_shape, num_classes, hidden_units=(128, 64))
    return digits_lib.digits_classifier(
        input_shape, num_classes, conv_filters=(16, 32), hidden_units=(64,),
        name="report_cnn",
    )


def load_user_model(path):
    """Loads a `.keras` model file and checks it is one classifier.

    Example:

    >>> load_user_model("missing.keras")
    Traceback (most recent call last):
    ...
    keras_invariance.integrations.report.data.ReportError: --model missing.keras: no such file

    Args:
        path: A `.keras` file (saved with `model.save(path)`).

    Returns:
        The loaded, uncompiled `keras.Model`.

    Raises:
        ReportError: For a missing file, a file that is not a Keras model,
            or a model with several inputs or outputs.
    """
    if not os.path.isfile(path):
        raise ReportError(f"--model {path}: no such file")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ReportError(
            f"--model {path} is not a Keras model file that loads ({first}); "
            "save yours with model.save('model.keras')"
        ) from None
    if not isinstance(model, keras.Model):
        raise ReportError(f"--model {path} holds a {type(model).__name__}, not a keras.Model")
    if len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        raise ReportError(
            f"--model {path} must have one input and one output (class scores); "
            f"it has {len(model.inputs or [])} and {len(model.outputs or [])}"
        )
    return model


def check_model_fits(model, x, num_classes, source):
    """Raises `ReportError` unless `model` maps `x` to `num_classes` logits.

    Example:

    >>> check_model_fits(default_model((16, 16, 1), 10),
    ...                  np.zeros((2, 8, 8, 1), "float32"), 10, "--model m.keras")
    Traceback (most recent call last):
    ...
    keras_invariance.integrations.report.data.ReportError: --model m.keras takes inputs of
    shape (16, 16, 1) but the data have shape (8, 8, 1); ...

    Args:
        model: The base model.
        x: Some training inputs.
        num_classes: Classes in the labels.
        source: Where the model came from, for the message.

    Raises:
        ReportError: For another input shape, an output that is not
            `(batch, k)` with k ≥ `num_classes`, or probabilities (a final
            softmax) instead of logits.
    """
    expected = tuple(model.inputs[0].shape[1:])
    got = tuple(x.shape[1:])
    if len(expected) != len(got) or any(e not in (None, g) for e, g in zip(expected, got)):
        raise ReportError(
            f"{source} takes inputs of shape {expected} but the data have shape "
            f"{got}; give a model for this data or choose --dataset to match"
        )
    scores = keras.ops.convert_to_numpy(model(x[:8], training=False))
    if scores.ndim != 2 or scores.shape[1] < num_classes:
        raise ReportError(
            f"{source} returns shape {scores.shape[1:]}, but the report needs "
            f"class scores (batch, {num_classes})"
        )
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
        raise ReportError(
            f"{source} ends with a softmax; the report (and the presets' "
            "defaults) expect logits: remove the final activation"
        )
