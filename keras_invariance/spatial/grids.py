"""Transform grids and random draws in a box of (dx, dy, angle[, scale]).

Reference:
    Engstrom et al., "Exploring the Landscape of Spatial Robustness" (ICML
    2019), Section 5 (the 5 × 5 × 31 grid); Yang et al. (NeurIPS 2019),
    "grid search over 775 values".
"""

import itertools

import numpy as np
import tensorflow as tf


def spatial_grid(translation=3.0, rotation=30.0, granularity=(5, 5, 31)):
    """The worst-case evaluation grid of Engstrom et al. (default 775 points).

    Each axis is `linspace(-limit, limit, n)`, endpoints included, and the
    grid is their Cartesian product in the order `(dx, dy, angle)`.

    Example:

    >>> spatial_grid().shape
    TensorShape([775, 3])
    >>> spatial_grid(2, 0, (3, 3, 1)).numpy()[:, :2].tolist()[:3]
    [[-2.0, -2.0], [-2.0, 0.0], [-2.0, 2.0]]

    Args:
        translation: limit in pixels for `dx` and `dy`; a number or a pair
            `(x_limit, y_limit)`.
        rotation: limit in degrees for the angle.
        granularity: number of points `(n_dx, n_dy, n_angle)`. An axis with one
            point sits at 0.

    Returns:
        float32 tensor `(n_dx * n_dy * n_angle, 3)` of `(dx, dy, angle)`
        rows, usable with `apply_spatial_params`.

    Raises:
        ValueError: if `granularity` is not three positive integers.

    Reference:
        Engstrom et al. (2019), Section 5 ("grid search", limits 3 px, 3 px,
        30 degrees, granularity 5, 5, 31); Yang et al. (2019), "grid search
        over 775 values".
    """
    if np.ndim(translation) == 0:
        translation = (translation, translation)
    granularity = tuple(granularity)
    if len(granularity) != 3 or any(int(n) < 1 for n in granularity):
        raise ValueError(
            "`granularity` must be three positive integers (n_dx, n_dy, "
            f"n_angle); received {granularity}."
        )
    limits = (translation[0], translation[1], rotation)
    axes = [
        np.linspace(-lim, lim, int(n)) if int(n) > 1 else np.zeros(1)
        for lim, n in zip(limits, granularity)
    ]
    grid = np.array(list(itertools.product(*axes)), dtype=np.float32)
    return tf.constant(grid)


def sample_spatial_params(
    batch_size, translation=3.0, rotation=30.0, scale=None, seed=None
):
    """Draws per-example transforms uniformly in the box (random attack).

    Example:

    >>> sample_spatial_params(4, seed=0).shape
    TensorShape([4, 3])
    >>> sample_spatial_params(4, scale=(0.9, 1.1), seed=0).shape
    TensorShape([4, 4])

    Args:
        batch_size: number of rows.
        translation: limit in pixels for `|dx|` and `|dy|` (number or pair).
        rotation: limit in degrees for `|angle|`.
        scale: optional `(low, high)` range for the scale; adds a 4th column.
        seed: int or a stateless seed pair, for reproducible draws. `None`
            uses TensorFlow's global generator.

    Returns:
        float32 tensor `(batch_size, 3)` or `(batch_size, 4)`.
    """
    if np.ndim(translation) == 0:
        translation = (translation, translation)
    low = [-translation[0], -translation[1], -rotation]
    high = [translation[0], translation[1], rotation]
    if scale is not None:
        low.append(scale[0])
        high.append(scale[1])
    shape = (batch_size, len(low))
    if seed is None:
        u = tf.random.uniform(shape)
    else:
        if np.ndim(seed) == 0:
            seed = (int(seed), 0)
        u = tf.random.stateless_uniform(shape, seed=seed)
    low = tf.constant(low, tf.float32)
    high = tf.constant(high, tf.float32)
    return low + (high - low) * u
