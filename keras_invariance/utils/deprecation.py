"""Renamed keyword arguments keep working for one release, with a warning.

Every concept has one name across the package
(`keras_invariance.utils.vocabulary` lists them): `weight=` for a term's
weight (λ; the paper's own symbol is in each docstring), `beta` only for the
perturbed-loss weight, `scale=` for the normalized or the paper's scale,
`preset=` for a row of a paper's table, `objective=` for what a search
maximises, `attack=` for the kind of search and `distance=` for what a
penalty measures.

Every old spelling is one row of `SHIMS` (callable, old name, new name,
removal version) and goes through `renamed`, which refuses a row that is not
there; `tests/test_deprecation.py` fails once `keras_invariance.__version__`
reaches a row's removal version, so the shims get deleted on time.
"""

import collections
import os
import sys
import warnings

#: The release in which the old keyword names stop working.
REMOVAL = "0.3"

#: One deprecated spelling: `owner(old=...)` is now `owner(new=...)`;
#: `convert` maps an old value to the new argument's (identity if `None`).
Shim = collections.namedtuple(
    "Shim", ["owner", "old", "new", "removal", "convert"], defaults=[REMOVAL, None]
)


def _scale_from_normalize(normalize):
    return "normalized" if normalize else "paper"


def _scale_from_paper_scale(paper_scale):
    return "paper" if paper_scale else "normalized"


#: Every deprecated keyword, by (owner, old name). `owner` is the callable
#: that defines the argument (a subclass passes the old name through).
SHIMS = {
    (shim.owner, shim.old): shim
    for shim in [
        Shim("SpatialInvariance", "lam", "weight"),
        Shim("SpatialInvariance", "rank_by", "objective"),
        Shim("SpatialInvariance", "mode", "preset"),
        Shim("WorstOfKSpatial", "rank_by", "objective"),
        Shim("RegularizedAdversarialTraining", "divergence", "distance"),
        Shim("RegularizedAdversarialTraining", "kind", "attack"),
        Shim("RegularizedAdversarialTraining", "search", "objective"),
        Shim("IRL", "gamma", "weight"),
        Shim("LossIBP", "beta", "weight"),
        Shim("PredictionIBP", "beta", "weight"),
        Shim("AdversarialTraining", "kind", "attack"),
        Shim("VAT", "divergence", "distance"),
        # `normalize=` / `paper_scale=` → `scale=` (0.2.1).
        Shim("ActivationDistance", "normalize", "scale",
             convert=_scale_from_normalize),
        Shim("InputGradientPenalty", "normalize", "scale",
             convert=_scale_from_normalize),
        Shim("TangentProp", "normalize", "scale", convert=_scale_from_normalize),
        Shim("IRL", "paper_scale", "scale", convert=_scale_from_paper_scale),
        Shim("LossIBP", "paper_scale", "scale", convert=_scale_from_paper_scale),
        Shim("PredictionIBP", "paper_scale", "scale",
             convert=_scale_from_paper_scale),
        Shim("TangentBP", "paper_scale", "scale", convert=_scale_from_paper_scale),
        Shim("FastTangentBP", "paper_scale", "scale",
             convert=_scale_from_paper_scale),
        Shim("NoiseRegularized", "paper_scale", "scale",
             convert=_scale_from_paper_scale),
        Shim("JacobianRegularized", "paper_scale", "scale",
             convert=_scale_from_paper_scale),
    ]
}


def renamed(kwargs, old, new, value, owner, who=None, default=None):
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
        value: The value the caller received for `new`.
        owner: The callable that defines the argument, as in `SHIMS`.
        who: The name the user called, for the message (default `owner`;
            a subclass passing the old keyword through names itself).
        default: The value of `new` when the caller did not set it.

    Returns:
        The value to use for `new` (the old value, converted by the shim's
        `convert`, when the old keyword was given).

    Raises:
        TypeError: If both `old` and `new` were given.
        KeyError: If `(owner, old)` is not a row of `SHIMS` (every shim is
            recorded there, with its removal version).
    """
    shim = SHIMS[(owner, old)]
    if shim.new != new:
        raise KeyError(f"SHIMS renames {owner}({old}=) to {shim.new!r}, not {new!r}.")
    if old not in kwargs:
        return value
    who = who or owner
    old_value = kwargs.pop(old)
    unset = value is default or (isinstance(default, str) and value == default)
    if not unset:
        raise TypeError(
            f"{who} got both `{old}=` and its replacement `{new}=`; pass only "
            f"`{new}=`."
        )
    new_value = old_value if shim.convert is None else shim.convert(old_value)
    hint = f"`{new}=`" if shim.convert is None else f"`{new}={new_value!r}`"
    warnings.warn(
        f"{who}({old}=...) is deprecated; use {hint} instead (the old name "
        f"stops working in keras-invariance {shim.removal}).",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )
    return new_value


def _caller_stacklevel():
    """`warnings.warn`'s stacklevel of the first frame outside this package.

    So the warning names the user's line, however deep the subclass chain
    that passed the old keyword through (`NoiseRegularization` →
    `ActivationDistance`), and Python's default filter shows it there.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(2), 2  # 1 is `renamed`, the caller of warn.
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def upgrade_config(config, owner):
    """A saved config with its old keys renamed (silently), for `from_config`.

    Configs saved by 0.2.0 hold e.g. `"normalize": False`; loading them is
    not the user's call to change, so no warning.

    Example:

    >>> upgrade_config({"weight": 1.0, "normalize": False}, "ActivationDistance")
    {'weight': 1.0, 'scale': 'paper'}

    Args:
        config: A `get_config()` dict (not modified).
        owner: The class that defines the renamed arguments, as in `SHIMS`.

    Returns:
        A new dict with every old key of `owner` replaced by its new one.
    """
    config = dict(config)
    for (shim_owner, old), shim in SHIMS.items():
        if shim_owner == owner and old in config:
            value = config.pop(old)
            config.setdefault(
                shim.new, value if shim.convert is None else shim.convert(value)
            )
    return config
