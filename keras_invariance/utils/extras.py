"""Optional dependencies: imported on use, with an error naming the extra.

`import keras_invariance` needs only TensorFlow, Keras and NumPy. Keras
Tuner and TensorBoard (the `tuner` extra), scikit-learn (`digits`) and
matplotlib (`plots`) serve single features; each is imported where it is
used, through `require`, so a missing one says which extra installs it.
"""

import importlib

#: Each extra of setup.py and the PyPI distributions it installs.
EXTRAS = {
    "tuner": ("keras-tuner", "tensorboard"),
    "digits": ("scikit-learn",),
    "plots": ("matplotlib",),
}
#: `report` is everything `keras-invariance report` (and `tune`) can use.
EXTRAS["report"] = EXTRAS["tuner"] + EXTRAS["digits"] + EXTRAS["plots"]


def install_hint(extra):
    """The command that installs an extra, as the error messages print it.

    Example:

    >>> install_hint("tuner")
    "pip install 'keras-invariance[tuner]'"

    Args:
        extra: A key of `EXTRAS`.

    Returns:
        A shell command.
    """
    if extra not in EXTRAS:
        raise ValueError(f"Unknown extra {extra!r}; use one of {sorted(EXTRAS)}.")
    return f"pip install 'keras-invariance[{extra}]'"


def require(module, extra, feature):
    """Imports `module`, or raises an ImportError naming the extra to install.

    Example:

    >>> require("math", "digits", "an example").pi > 3
    True
    >>> require("no_such_module_xyz", "tuner", "Tuning")
    Traceback (most recent call last):
    ...
    ImportError: Tuning needs `no_such_module_xyz`, ... 'keras-invariance[tuner]'...

    Args:
        module: The dotted module name (`"keras_tuner"`, `"sklearn.datasets"`).
        extra: The extra of keras-invariance that installs it (`EXTRAS`).
        feature: What needs it, for the message (`"keras_invariance.integrations.tuning"`).

    Returns:
        The imported module.

    Raises:
        ImportError: If `module` cannot be imported; the message names the
            extra (the original error is chained).
    """
    hint = install_hint(extra)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{feature} needs `{module.split('.')[0]}`, which is not installed: "
            f"run `{hint}` (installs {', '.join(EXTRAS[extra])})."
        ) from error
