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
    labeled_weight=1.0,
):
    """Mixes labeled and unlabeled examples into one `tf.data.Dataset`.

    Unlabeled rows get `placeholder_label` and sample weight 0, so they add
    nothing to the supervised terms α·L(x) and β·L_noise and train only
    through label-free penalties (IRL's activation distance, VAT, …): the
    semi-supervised IRL of the paper, (α, β, γ) = (0, 0, γ) on unlabeled data.
    Labeled rows get sample weight `labeled_weight`. The data keeps Keras'
    standard shape, so `evaluate`/`predict` and other tools are unaffected.

    Keras averages a weighted loss over every row of the batch
    (`"sum_over_batch_size"`), so with a labeled fraction p the supervised
    terms come out scaled by p while the label-free penalties, which
    average over every row, are not: γ is in effect γ/p.
    `labeled_weight="balanced"` gives labeled rows the weight 1/p, which
    keeps the supervised terms on their fully labeled scale.

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
        labeled_weight: Sample weight of labeled rows: a number > 0 (default
            1) or `"balanced"` for (n + m)/n (see above).

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
    if labeled_weight == "balanced":
        labeled_weight = (len(x_labeled) + len(x_unlabeled)) / max(len(x_labeled), 1)
    elif isinstance(labeled_weight, str) or not labeled_weight > 0:
        raise ValueError(
            "`labeled_weight` must be a number > 0 or 'balanced'; received "
            f"{labeled_weight!r}."
        )
    weights = np.concatenate(
        [
            np.full(len(x_labeled), labeled_weight, "float32"),
            np.zeros(len(x_unlabeled), "float32"),
        ]
    )
    ds = tf.data.Dataset.from_tensor_slices((x, y, weights))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)
