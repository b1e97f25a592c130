"""Labeled and unlabeled data in one standard `(x, y, sample_weight)` stream."""

import numpy as np
import tensorflow as tf


def semi_supervised_dataset(
    x_labeled,
    y_labeled,
    x_unlabeled,
    batch_size=32,
    placeholder_label=0,
    shuffle=True,
    seed=None,
):
    """Mixes labeled and unlabeled examples into one `tf.data.Dataset`.

    Unlabeled rows get `placeholder_label` and sample weight 0, so they add
    nothing to the supervised terms α·L(x) and β·L_noise and train only
    through label-free penalties (IRL's activation distance, VAT, …): the
    semi-supervised IRL of the paper, (α, β, γ) = (0, 0, γ) on unlabeled data.
    Labeled rows get sample weight 1. The data keeps Keras' standard shape,
    so `evaluate`/`predict` and other tools are unaffected.

    Example:

    >>> import numpy as np
    >>> ds = semi_supervised_dataset(np.zeros((2, 3)), np.array([1, 2]),
    ...                              np.ones((4, 3)), batch_size=6,
    ...                              shuffle=False)
    >>> x, y, w = next(iter(ds))
    >>> w.numpy().tolist()
    [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]

    Args:
        x_labeled: Labeled inputs, shape `(n, ...)`.
        y_labeled: Their labels, shape `(n, ...)`.
        x_unlabeled: Unlabeled inputs, shape `(m, ...)`.
        batch_size: Rows per batch (labeled and unlabeled mixed).
        placeholder_label: A *valid* label value given to unlabeled rows
            (losses such as sparse cross-entropy reject out-of-range labels
            even at weight 0).
        shuffle: Whether to shuffle every epoch.
        seed: Shuffle seed.

    Returns:
        A batched `tf.data.Dataset` of `(x, y, sample_weight)`.

    Raises:
        ValueError: If input shapes disagree.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), §3 "Semi-supervision".
    """
    x_labeled = np.asarray(x_labeled)
    y_labeled = np.asarray(y_labeled)
    x_unlabeled = np.asarray(x_unlabeled)
    if x_labeled.shape[1:] != x_unlabeled.shape[1:]:
        raise ValueError(
            "Labeled and unlabeled inputs must have the same shape per "
            f"example; got {x_labeled.shape[1:]} and {x_unlabeled.shape[1:]}."
        )
    if len(x_labeled) != len(y_labeled):
        raise ValueError(
            f"{len(x_labeled)} labeled inputs but {len(y_labeled)} labels."
        )
    x = np.concatenate([x_labeled, x_unlabeled.astype(x_labeled.dtype)])
    placeholder = np.full(
        (len(x_unlabeled),) + y_labeled.shape[1:], placeholder_label, y_labeled.dtype
    )
    y = np.concatenate([y_labeled, placeholder])
    weights = np.concatenate(
        [np.ones(len(x_labeled), "float32"), np.zeros(len(x_unlabeled), "float32")]
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y, weights))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)
