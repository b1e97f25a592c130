"""Intervals and tests over seeds: Student-t intervals, paired and Welch t-tests.

The report trains every method with several seeds and shows each number as
mean ± the half-width of a 95 % Student-t confidence interval over those
seeds. Seed s gives every method the same initial weights and batch order,
so two methods' runs pair up by seed, and most of the spread between seeds
is shared (a lucky initialization helps every method). Whether one method
is better than another is therefore the paired t-test on the per-seed
differences (two-sided, α = 0.05), which removes that shared part; runs
that do not pair up fall back to Welch's unequal-variance t-test. Both need
the Student-t distribution; it is computed here in closed form (the
regularized incomplete beta function, by its continued fraction) so that
the package does not depend on SciPy. `tests/test_report_statistics.py`
checks it against SciPy.
"""

import math

#: Confidence of the intervals, and the two-sided level of the tests.
CONFIDENCE = 0.95
ALPHA = 0.05


def _beta_fraction(a, b, x):
    """The continued fraction of the incomplete beta function (Lentz)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
                          -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b).

    Example:

    >>> round(incomplete_beta(2.0, 3.0, 0.4), 6)   # 1 - 0.6⁴ - 4·0.4·0.6³
    0.5248

    Args:
        a: First shape parameter, > 0.
        b: Second shape parameter, > 0.
        x: A number in [0, 1].

    Returns:
        A float in [0, 1].
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    # The fraction converges fast on one side of the mean; use the symmetry
    # I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    """P(|T| ≥ |t|) for Student's t with `df` degrees of freedom.

    Example:

    >>> round(t_two_sided_p(4.302653, 2), 4)
    0.05

    Args:
        t: The statistic.
        df: Degrees of freedom, > 0 (need not be an integer).

    Returns:
        The two-sided p-value.
    """
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(probability, df):
    """The quantile of Student's t: q with P(T ≤ q) = `probability`.

    Example:

    >>> round(t_quantile(0.975, 2), 4), round(t_quantile(0.975, 30), 4)
    (4.3027, 2.0423)

    Args:
        probability: In (0, 1).
        df: Degrees of freedom, > 0.

    Returns:
        A float.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"`probability` must be in (0, 1); received {probability}.")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    target = 2.0 * (1.0 - probability)  # two-sided p of the quantile
    low, high = 0.0, 1.0
    while t_two_sided_p(high, df) > target:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_two_sided_p(mid, df) > target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def _mean_var(values):
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else float("nan")
    return n, mean, var


def mean_interval(values, confidence=CONFIDENCE):
    """Mean and half-width of the Student-t confidence interval of the mean.

    Example:

    >>> mean, half = mean_interval([0.90, 0.92, 0.94])
    >>> round(mean, 4), round(half, 4)          # 0.02 · t(0.975, 2) / √3
    (0.92, 0.0497)

    Args:
        values: Per-seed values (at least one).
        confidence: The interval's confidence.

    Returns:
        `(mean, half_width)`; the half-width is `None` for a single value.
    """
    n, mean, var = _mean_var(values)
    if n < 2:
        return mean, None
    quantile = t_quantile(0.5 + confidence / 2.0, n - 1)
    return mean, quantile * math.sqrt(var / n)


def welch_test(a, b):
    """Welch's unequal-variance t-test of mean(a) ≠ mean(b), two-sided.

    Example:

    >>> t, df, p = welch_test([0.80, 0.82, 0.81], [0.70, 0.72, 0.71])
    >>> round(t, 2), round(df, 1), p < 0.001
    (12.25, 4.0, True)

    Args:
        a: Per-seed values of one method (at least two).
        b: Per-seed values of another (at least two).

    Returns:
        `(t, df, p)`. With no spread in either sample, p is 0 if the means
        differ and 1 if they are equal. With fewer than two values on a
        side there is no test: `(nan, nan, nan)`.
    """
    na, ma, va = _mean_var(a)
    nb, mb, vb = _mean_var(b)
    if na < 2 or nb < 2:
        nan = float("nan")
        return nan, nan, nan
    se2 = va / na + vb / nb
    if se2 == 0.0:
        return (math.copysign(math.inf, ma - mb) if ma != mb else 0.0,
                float(na + nb - 2), 0.0 if ma != mb else 1.0)
    t = (ma - mb) / math.sqrt(se2)
    df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return t, df, t_two_sided_p(t, df)


def paired_test(a, b):
    """The paired t-test of mean(a − b) ≠ 0, two-sided (runs paired by seed).

    Example:

    >>> t, df, p = paired_test([0.95, 0.96, 0.97], [0.94, 0.955, 0.96])
    >>> round(t, 2), df, round(p, 3)
    (5.0, 2, 0.038)

    Args:
        a: Per-seed values of one method.
        b: The other method's values for the same seeds, in the same order.

    Returns:
        `(t, df, p)`. With identical differences, p is 0 if they are not
        zero and 1 if they are. Fewer than two pairs: `(nan, nan, nan)`.

    Raises:
        ValueError: For samples of different lengths.
    """
    if len(a) != len(b):
        raise ValueError(f"paired_test needs as many values on each side; got {len(a)} "
                         f"and {len(b)}.")
    differences = [float(x) - float(y) for x, y in zip(a, b)]
    n, mean, var = _mean_var(differences)
    if n < 2:
        nan = float("nan")
        return nan, nan, nan
    if var <= 1e-30 * max(1.0, mean * mean):
        return (math.copysign(math.inf, mean) if mean else 0.0, n - 1,
                0.0 if mean else 1.0)
    t = mean / math.sqrt(var / n)
    return t, n - 1, t_two_sided_p(t, n - 1)


def compare(a, b, paired=True):
    """The report's test: paired by seed when it can be, else Welch's.

    Example:

    >>> compare([0.95, 0.96, 0.97], [0.94, 0.955, 0.96])["test"]
    'paired t-test'
    >>> compare([0.95, 0.96], [0.94, 0.955, 0.96])["test"]
    "Welch's t-test"

    Args:
        a: Per-seed values of one method.
        b: Per-seed values of another.
        paired: Whether equal-length samples come from the same seeds.

    Returns:
        `{"test", "t", "df", "p"}` (p is nan when there is no test).
    """
    if paired and len(a) == len(b):
        t, df, p = paired_test(a, b)
        name = "paired t-test"
    else:
        t, df, p = welch_test(a, b)
        name = "Welch's t-test"
    return {"test": name, "t": t, "df": df, "p": p}


def significantly_different(a, b, alpha=ALPHA, paired=True):
    """Whether the report's test (`compare`) rejects equal means at `alpha`.

    Example:

    >>> significantly_different([0.80, 0.82, 0.81], [0.70, 0.72, 0.71])
    True
    >>> significantly_different([0.80, 0.90], [0.85, 0.84])
    False

    Args:
        a: Per-seed values.
        b: Per-seed values (the same seeds, in order, for a paired test).
        alpha: The test's level.
        paired: See `compare`.

    Returns:
        A bool (`False` when a side has fewer than two values).
    """
    p = compare(a, b, paired)["p"]
    return not math.isnan(p) and p < alpha
