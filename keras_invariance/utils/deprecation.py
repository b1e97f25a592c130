"""Renamed keyword arguments keep working for one release, with a warning.

The 0.2 reorganisation gave every concept one name across the presets:
`weight=` for a term's weight (λ; the paper's own symbol is in each
docstring), `beta` only for the perturbed-loss weight, `objective=` for what
a search maximises, `attack=` for the kind of search and `distance=` for
what a penalty measures. The old names still work until 0.3.
"""

import warnings

#: The release in which the old keyword names stop working.
REMOVAL = "0.3"


def renamed(kwargs, old, new, value, who):
    """Pops `old` from `kwargs` and returns its value for `new`, with a warning.

    Example:

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed({"lam": 0.5}, "lam", "weight", None, "SpatialInvariance")
    0.5
    >>> str(caught[0].message).split(";")[0]
    'SpatialInvariance(lam=...) is deprecated'

    Args:
        kwargs: The caller's `**kwargs` (modified in place).
        old: The deprecated keyword.
        new: Its replacement.
        value: The value the caller received for `new` (`None` if unset).
        who: The callable's name, for the message.

    Returns:
        The value to use for `new`.

    Raises:
        TypeError: If both `old` and `new` were given.
    """
    if old not in kwargs:
        return value
    old_value = kwargs.pop(old)
    if value is not None:
        raise TypeError(
            f"{who} got both `{old}=` and its replacement `{new}=`; pass only "
            f"`{new}=`."
        )
    warnings.warn(
        f"{who}({old}=...) is deprecated; use `{new}=` instead (the old name "
        f"stops working in keras-invariance {REMOVAL}).",
        DeprecationWarning,
        stacklevel=3,
    )
    return old_value
