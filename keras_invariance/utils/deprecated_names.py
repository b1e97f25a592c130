"""Names that moved keep working at their old path for one release.

A package's module-level `__getattr__` (PEP 562) answers only for names the
module does not hold, so a name that moved resolves through
`moved_names(...)`: it warns once per use with a `DeprecationWarning`
naming the new path, and returns the very object found there. The new path
is imported on use, which also makes integrations (Keras Tuner, …) lazy.
"""

import importlib
import warnings

from keras_invariance.utils.deprecation import REMOVAL


def resolve(path):
    """The object at a dotted path: a module, or an attribute of one.

    Example:

    >>> resolve("keras_invariance.utils.deprecation.REMOVAL") == REMOVAL
    True

    Args:
        path: `"package.module"` or `"package.module.attribute"`.

    Returns:
        The module or attribute.

    Raises:
        ImportError: If the module cannot be imported (e.g. an optional
            dependency is missing: the message names the extra).
        AttributeError: If the module has no such attribute.
    """
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        if error.name != path:
            raise
    module, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def moved_names(module_name, moved, aliases=None):
    """A module `__getattr__` for names that moved (with a warning) or load lazily.

    Example:

    >>> import warnings
    >>> __getattr__ = moved_names(
    ...     "pkg", {"REMOVAL": "keras_invariance.utils.deprecation.REMOVAL"})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = __getattr__("REMOVAL")
    >>> value == REMOVAL
    True
    >>> str(caught[0].message).split(";")[0]
    '`pkg.REMOVAL` is deprecated'

    Args:
        module_name: The module's `__name__`, for messages.
        moved: `{old name: new dotted path}`: deprecated, they warn.
        aliases: `{name: dotted path}` loaded on first use without a
            warning (e.g. a subpackage with optional dependencies).

    Returns:
        A function `__getattr__(name)` to assign at module level.
    """
    aliases = dict(aliases or {})

    def __getattr__(name):
        if name in moved:
            warnings.warn(
                f"`{module_name}.{name}` is deprecated; use `{moved[name]}` "
                f"instead (the old path stops working in keras-invariance "
                f"{REMOVAL}).",
                DeprecationWarning,
                stacklevel=2,
            )
            return resolve(moved[name])
        if name in aliases:
            return resolve(aliases[name])
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
