"""Synthetic data of Zhang & Arodz, "Learning Invariance in Deep Neural
Networks" (§3, §5).

Features are i.i.d. uniform on [-1, 1]. Two kinds of data are built from them:

- supervised targets `z* = DFT(x)` as `[modulus, phase]` or
  `[modulus, sin, cos]` (§3), for the case where the invariant code is known;
- triples `(x, x', d*)` (§5) where `x'` is either a transformed copy of `x`
  (`d* = 0`) or an unrelated sample (`d* > 0`), and `d*` is the Euclidean
  distance between the invariant DFT moduli of `x` and `x'`.

Everything is NumPy with an explicit `seed`, so a dataset is reproducible and
can be fed to `tf.data.Dataset.from_tensor_slices` as is.
"""

import numpy as np

TRANSFORMATIONS = ("shift", "two_part_shift", "permutation", "shift_scale")
REPRESENTATIONS = ("modulus", "modulus_phase", "modulus_sin_cos")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _check_features(x):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            "Expected features of shape (num_samples, dim), got shape "
            f"{x.shape}. Reshape single samples with x[None, :]."
        )
    return x


def uniform_features(num_samples, dim=10, seed=None):
    """Samples features i.i.d. uniform on [-1, 1] (§3).

    Example:

    >>> x = uniform_features(5, dim=10, seed=0)
    >>> x.shape, bool(np.all(np.abs(x) <= 1.0))
    ((5, 10), True)

    Args:
        num_samples: Number of samples.
        dim: Number of features `d` (the paper uses 10 and 20).
        seed: Seed or `np.random.Generator`.

    Returns:
        A float32 array of shape `(num_samples, dim)`.

    Raises:
        ValueError: If `num_samples` or `dim` is not a positive integer.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §3.
    """
    _check_positive_int("num_samples", num_samples)
    _check_positive_int("dim", dim)
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(num_samples, dim)).astype("float32")


def dft_modulus(x):
    """The shift-invariant DFT modulus `|DFT(x)|` along the last axis.

    Example:

    >>> x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> bool(np.allclose(dft_modulus(x), dft_modulus(np.roll(x, 2, axis=-1))))
    True

    Args:
        x: Array of shape `(..., dim)`.

    Returns:
        A float32 array of the same shape (unnormalised DFT, as `np.fft.fft`).

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §3.
    """
    return np.abs(np.fft.fft(np.asarray(x, dtype="float64"), axis=-1)).astype(
        "float32"
    )


def dft_targets(x, representation="modulus_sin_cos"):
    """Supervised invariant-code targets `z* = DFT(x)` (§3).

    Example:

    >>> x = uniform_features(3, dim=10, seed=0)
    >>> dft_targets(x, "modulus_phase").shape
    (3, 20)
    >>> dft_targets(x, "modulus_sin_cos").shape
    (3, 30)

    Args:
        x: Features of shape `(num_samples, dim)`.
        representation: `"modulus_phase"` gives `[modulus, phase]` (phase in
            (-pi, pi], Experiment I), `"modulus_sin_cos"` gives
            `[modulus, sin(phase), cos(phase)]` (Experiment II), `"modulus"`
            gives the invariant modulus only.

    Returns:
        A float32 array of shape `(num_samples, k * dim)` with `k` in 1, 2, 3;
        the modulus always comes first.

    Raises:
        ValueError: For an unknown `representation` or a non-2D `x`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §3.
    """
    x = _check_features(x)
    if representation not in REPRESENTATIONS:
        raise ValueError(
            f"Unknown representation {representation!r}; use one of "
            f"{REPRESENTATIONS}."
        )
    z = np.fft.fft(x.astype("float64"), axis=-1)
    modulus = np.abs(z)
    phase = np.angle(z)
    if representation == "modulus":
        parts = [modulus]
    elif representation == "modulus_phase":
        parts = [modulus, phase]
    else:
        parts = [modulus, np.sin(phase), np.cos(phase)]
    return np.concatenate(parts, axis=-1).astype("float32")


def random_cycle(dim, seed=None):
    """A fixed random cycle over the `dim` feature indices (§5.2).

    Example:

    >>> sorted(random_cycle(6, seed=0).tolist())
    [0, 1, 2, 3, 4, 5]

    Args:
        dim: Number of features.
        seed: Seed or `np.random.Generator`.

    Returns:
        An int array `c`: the cycle visits `c[0] -> c[1] -> ... -> c[0]`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §5.2.
    """
    _check_positive_int("dim", dim)
    return np.random.default_rng(seed).permutation(dim)


def invariant_features(x, transformation, cycle=None):
    """The invariant vector whose Euclidean distance is the paper's `d*`.

    - `"shift"`: `|DFT(x)|`.
    - `"two_part_shift"`: `[|DFT(x_left)|, |DFT(x_right)|]`, each half
      shifted independently, so `d* = 0` only if both halves match.
    - `"permutation"`: `|DFT(x[cycle])|`: stepping along the cycle is a
      circular shift of the features read in cycle order.
    - `"shift_scale"`: `|DFT(x)| / || |DFT(x)| ||`. The paper does not spell
      out `d*` for scaling; dividing by the norm is our choice, the simplest
      modulus-based quantity invariant to both a shift and a positive scale.

    Example:

    >>> x = uniform_features(2, dim=10, seed=0)
    >>> invariant_features(x, "two_part_shift").shape
    (2, 10)

    Args:
        x: Features of shape `(num_samples, dim)`.
        transformation: One of `"shift"`, `"two_part_shift"`,
            `"permutation"`, `"shift_scale"`.
        cycle: The feature cycle (required for `"permutation"`).

    Returns:
        A float32 array of shape `(num_samples, dim)`.

    Raises:
        ValueError: For an unknown transformation, an odd `dim` with
            `"two_part_shift"`, or a missing `cycle`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §5.
    """
    x = _check_features(x)
    _check_transformation(transformation, x.shape[-1])
    if transformation == "shift":
        return dft_modulus(x)
    if transformation == "two_part_shift":
        half = x.shape[-1] // 2
        return np.concatenate(
            [dft_modulus(x[:, :half]), dft_modulus(x[:, half:])], axis=-1
        )
    if transformation == "permutation":
        if cycle is None:
            raise ValueError(
                "`cycle` is required for transformation='permutation'; "
                "create one with random_cycle(dim, seed)."
            )
        return dft_modulus(x[:, np.asarray(cycle)])
    m = dft_modulus(x).astype("float64")
    norm = np.linalg.norm(m, axis=-1, keepdims=True)
    # An all-zero sample has no direction; mapping it to 0 keeps d* finite.
    return (m / np.maximum(norm, 1e-12)).astype("float32")


def _check_transformation(transformation, dim):
    if transformation not in TRANSFORMATIONS:
        raise ValueError(
            f"Unknown transformation {transformation!r}; use one of "
            f"{TRANSFORMATIONS}."
        )
    if transformation == "two_part_shift" and dim % 2:
        raise ValueError(
            "transformation='two_part_shift' splits the features into two "
            f"equal halves; `dim` must be even, got {dim}."
        )


def transform(x, transformation, rng, cycle=None, scale_range=(0.5, 2.0)):
    """Applies a random member of a transformation family to each row.

    Example:

    >>> x = np.arange(5, dtype="float32")[None]
    >>> y = transform(x, "shift", np.random.default_rng(0))
    >>> sorted(y[0].tolist()) == sorted(x[0].tolist())
    True

    Args:
        x: Features of shape `(num_samples, dim)`.
        transformation: One of `"shift"`, `"two_part_shift"`,
            `"permutation"`, `"shift_scale"`.
        rng: A `np.random.Generator` (draws the shifts and scales).
        cycle: The feature cycle for `"permutation"`.
        scale_range: `(low, high)` of the uniform positive scale for
            `"shift_scale"`.

    Returns:
        A float32 array like `x`.

    Raises:
        ValueError: As `invariant_features`, or for a non-positive
            `scale_range`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §5.1-5.2.
    """
    x = _check_features(x)
    n, dim = x.shape
    _check_transformation(transformation, dim)
    rows = np.arange(n)[:, None]

    def circular(block, shifts):
        width = block.shape[-1]
        idx = (np.arange(width)[None, :] - shifts[:, None]) % width
        return block[rows, idx]

    if transformation == "shift":
        return circular(x, rng.integers(0, dim, size=n)).astype("float32")
    if transformation == "two_part_shift":
        half = dim // 2
        left = circular(x[:, :half], rng.integers(0, half, size=n))
        right = circular(x[:, half:], rng.integers(0, half, size=n))
        return np.concatenate([left, right], axis=-1).astype("float32")
    if transformation == "permutation":
        if cycle is None:
            raise ValueError(
                "`cycle` is required for transformation='permutation'; "
                "create one with random_cycle(dim, seed)."
            )
        cycle = np.asarray(cycle)
        # In cycle order the permutation is a circular shift; map back after.
        shifted = circular(x[:, cycle], rng.integers(0, dim, size=n))
        out = np.empty_like(x)
        out[:, cycle] = shifted
        return out.astype("float32")
    low, high = scale_range
    if not 0 < low <= high:
        raise ValueError(
            f"`scale_range` must satisfy 0 < low <= high, got {scale_range}."
        )
    scales = rng.uniform(low, high, size=(n, 1))
    return (scales * circular(x, rng.integers(0, dim, size=n))).astype(
        "float32"
    )


def make_pairs(
    num_pairs,
    transformation="shift",
    dim=10,
    positive_fraction=0.5,
    partial_fraction=None,
    cycle=None,
    scale_range=(0.5, 2.0),
    seed=None,
):
    """Triples `(x, x', d*)` for learning an invariance from pairs (§5).

    A `positive_fraction` of pairs are same-entity pairs, `x' = v_theta(x)`
    with a random `theta`, so `d* = 0`. For `"two_part_shift"`, a further
    `partial_fraction` of pairs share only one half (the other half is a new
    random draw), so `d* > 0` and a model that is invariant in one half only
    is penalised, as in §5.1. The remaining pairs are unrelated: `x'` is the
    transform of an independent sample. `d*` is always the Euclidean
    distance between `invariant_features` of `x` and `x'`, so it is exactly
    0 for same-entity pairs.

    Example:

    >>> (x1, x2), d = make_pairs(8, "shift", dim=10, seed=0)
    >>> x1.shape, x2.shape, d.shape
    ((8, 10), (8, 10), (8,))

    Args:
        num_pairs: Number of triples.
        transformation: `"shift"` (circular shift), `"two_part_shift"`
            (independent circular shifts of both halves), `"permutation"`
            (steps along a fixed random cycle of the features), or
            `"shift_scale"` (circular shift times a positive scalar).
        dim: Number of features (10 or 20 in the paper).
        positive_fraction: Fraction of same-entity pairs (`d* = 0`).
        partial_fraction: Fraction of half-shared pairs for
            `"two_part_shift"`; defaults to 0.25 there and must be 0 or `None`
            for the other families.
        cycle: Feature cycle for `"permutation"`; drawn from `seed` when
            `None`. Pass the same cycle to train and test sets.
        scale_range: Scale range for `"shift_scale"`.
        seed: Seed or `np.random.Generator`.

    Returns:
        `((x, x_prime), d)`: two float32 arrays of shape `(num_pairs, dim)`
        and a float32 array of shape `(num_pairs,)`.

    Raises:
        ValueError: For invalid sizes, fractions or transformation names.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §5,
        eq. (2) and §5.1-5.2.
    """
    _check_positive_int("num_pairs", num_pairs)
    _check_positive_int("dim", dim)
    _check_transformation(transformation, dim)
    if partial_fraction is None:
        partial_fraction = 0.25 if transformation == "two_part_shift" else 0.0
    elif partial_fraction and transformation != "two_part_shift":
        raise ValueError(
            "`partial_fraction` only applies to transformation="
            f"'two_part_shift', got {partial_fraction} for {transformation!r}."
        )
    if not (
        0 <= positive_fraction <= 1
        and 0 <= partial_fraction <= 1
        and positive_fraction + partial_fraction <= 1
    ):
        raise ValueError(
            "Need 0 <= positive_fraction, partial_fraction and "
            "positive_fraction + partial_fraction <= 1, got "
            f"{positive_fraction} and {partial_fraction}."
        )
    rng = np.random.default_rng(seed)
    if transformation == "permutation" and cycle is None:
        cycle = random_cycle(dim, rng)
    x = uniform_features(num_pairs, dim, rng)
    source = uniform_features(num_pairs, dim, rng)
    kind = rng.uniform(size=num_pairs)
    same = kind < positive_fraction
    partial = (~same) & (kind < positive_fraction + partial_fraction)
    source[same] = x[same]
    if partial.any():
        half = dim // 2
        keep_left = rng.uniform(size=num_pairs) < 0.5
        left = partial & keep_left
        right = partial & ~keep_left
        source[left, :half] = x[left, :half]
        source[right, half:] = x[right, half:]
    x_prime = transform(source, transformation, rng, cycle, scale_range)
    u = invariant_features(x, transformation, cycle).astype("float64")
    v = invariant_features(x_prime, transformation, cycle).astype("float64")
    d = np.linalg.norm(u - v, axis=-1)
    # Same-entity pairs get an exact 0 (the float recomputation is ~1e-7).
    d[same] = 0.0
    return (x, x_prime), d.astype("float32")


def make_supervised_dataset(
    num_train=60000,
    num_test=10000,
    dim=10,
    representation="modulus_sin_cos",
    seed=0,
):
    """Train/test `(x, z*)` arrays for supervised invariant codes (§3).

    Example:

    >>> (xt, zt), (xv, zv) = make_supervised_dataset(32, 8, dim=10)
    >>> xt.shape, zt.shape, xv.shape
    ((32, 10), (32, 30), (8, 10))

    Args:
        num_train: Training size (60,000 in the paper).
        num_test: Test size (10,000 in the paper).
        dim: Number of features.
        representation: See `dft_targets`.
        seed: Seed; train and test use independent streams.

    Returns:
        `((x_train, z_train), (x_test, z_test))` float32 arrays.

    Raises:
        ValueError: As `uniform_features` and `dft_targets`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §3.
    """
    train_rng, test_rng = np.random.default_rng(seed).spawn(2)
    x_train = uniform_features(num_train, dim, train_rng)
    x_test = uniform_features(num_test, dim, test_rng)
    return (
        (x_train, dft_targets(x_train, representation)),
        (x_test, dft_targets(x_test, representation)),
    )


def make_pair_dataset(
    transformation="shift",
    num_train=60000,
    num_test=10000,
    dim=10,
    positive_fraction=0.5,
    partial_fraction=None,
    scale_range=(0.5, 2.0),
    seed=0,
):
    """Train/test triples `((x, x'), d*)` for one transformation family (§5).

    Train and test share the transformation (and, for `"permutation"`, the
    same fixed cycle) but are drawn independently.

    Example:

    >>> train, test = make_pair_dataset("permutation", 16, 4, dim=10)
    >>> (x1, x2), d = train
    >>> x1.shape, d.shape
    ((16, 10), (16,))

    Args:
        transformation: See `make_pairs`.
        num_train: Training size (60,000 by default, as in the paper).
        num_test: Test size (10,000 by default).
        dim: Number of features.
        positive_fraction: See `make_pairs`.
        partial_fraction: See `make_pairs`.
        scale_range: See `make_pairs`.
        seed: Seed.

    Returns:
        `(train, test)`, each `((x, x_prime), d)` as in `make_pairs`.

    Raises:
        ValueError: As `make_pairs`.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §5.
    """
    cycle_rng, train_rng, test_rng = np.random.default_rng(seed).spawn(3)
    cycle = None
    if transformation == "permutation":
        cycle = random_cycle(dim, cycle_rng)
    kwargs = dict(
        transformation=transformation,
        dim=dim,
        positive_fraction=positive_fraction,
        partial_fraction=partial_fraction,
        cycle=cycle,
        scale_range=scale_range,
    )
    return (
        make_pairs(num_train, seed=train_rng, **kwargs),
        make_pairs(num_test, seed=test_rng, **kwargs),
    )
