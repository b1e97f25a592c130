"""Label handling and batching shared by every evaluation helper."""

import numpy as np
import tensorflow as tf

from keras_invariance.utils import validation


def sparse_labels(y):
    """Integer class labels `(n,)` from sparse `(n,)` / `(n, 1)` or one-hot.

    Example:

    >>> sparse_labels(np.eye(3)[[2, 0]]).tolist()
    [2, 0]

    Raises:
        ValueError: For any other shape.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1).astype(np.int64)
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise ValueError(
            "`y` must hold sparse integer labels of shape (n,) or (n, 1), or "
            f"one-hot labels of shape (n, num_classes); received {y.shape}."
        )
    return y.reshape(-1).astype(np.int64)


def checked_inputs(x, y, who, images=False):
    """Validates `(x, y)` before any compiled code runs; returns the labels.

    Example:

    >>> checked_inputs(np.zeros((2, 3), "float32"), [0, 1], "noisy_accuracy").tolist()
    [0, 1]

    Args:
        x: Float inputs `(n, ...)`.
        y: Labels (see `sparse_labels`).
        who: The evaluation function's name, for messages.
        images: Whether `x` must be a 4-D image batch.

    Returns:
        The sparse int64 labels.

    Raises:
        ValueError: For integer inputs, non-images where images are needed,
            or a length mismatch.
    """
    labels = sparse_labels(y)
    if images:
        validation.check_image_batch(x, who)
    else:
        validation.check_float(
            x, who, "Cast the inputs, e.g. `x.astype('float32')`, with the "
            "scaling the model was trained on."
        )
    validation.check_same_length(x, labels)
    return labels


def float_batches(x, labels, batch_size):
    """Yields `(start, images, labels)` tensors of `batch_size` rows.

    Example:

    >>> [int(b[1].shape[0]) for b in float_batches(np.zeros((5, 2)), np.zeros(5), 2)]
    [2, 2, 1]
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive; received {batch_size}.")
    for start in range(0, len(labels), batch_size):
        xb = tf.convert_to_tensor(x[start:start + batch_size])
        yield start, xb, tf.constant(labels[start:start + xb.shape[0]])


def check_levels(values, name, who):
    """A non-empty list of finite numbers ≥ 0 (σ or ε levels), as floats.

    Checked before any compiled code runs, so a wrong list fails with one
    line naming the argument.

    Example:

    >>> check_levels([0, 0.1], "stddevs", "noise_curve")
    [0.0, 0.1]
    >>> check_levels([], "epsilons", "adversarial_curve")
    Traceback (most recent call last):
    ...
    ValueError: adversarial_curve: `epsilons` must be a non-empty list of numbers ≥ 0; received [].

    Args:
        values: A list (or other iterable) of numbers.
        name: The argument's name, for the message.
        who: The caller's name, for the message.

    Returns:
        A list of Python floats, in the given order.

    Raises:
        ValueError: For an empty list, a non-number, or a negative, NaN or
            infinite value.
    """
    message = (
        f"{who}: `{name}` must be a non-empty list of numbers ≥ 0; "
        f"received {values!r}."
    )
    if isinstance(values, (str, bytes)) or np.ndim(values) > 1:
        raise ValueError(message)
    try:
        levels = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=object))]
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not levels or not all(np.isfinite(v) and v >= 0 for v in levels):
        raise ValueError(message)
    return levels


def check_batch_size(batch_size):
    """Returns `batch_size` as an int ≥ 1, or raises a `ValueError`.

    Example:

    >>> check_batch_size(32)
    32
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(
            f"`batch_size` must be an integer ≥ 1; received {batch_size!r}."
        )
    return int(batch_size)
