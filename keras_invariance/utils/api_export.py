"""One decorator that exports a public object and registers it for saving.

Keras only round-trips objects whose class is registered under a package name,
so every public layer, model, perturbation and penalty goes through
`keras_invariance_export`. Keeping the package name in one place means saved
files always resolve to `keras_invariance>ClassName`.

Like Keras' own `keras_export`, the decorator also declares where an object
is public: `@keras_invariance_export("keras_invariance.penalties.Penalty")`
records the path in `PUBLIC_PATHS`, and `tests/test_namespace.py` checks
that every declared path resolves to the object it was declared on.
"""

import importlib

import keras

PACKAGE = "keras_invariance"

#: Every declared public path (`"keras_invariance.x.Name"`) → its object.
PUBLIC_PATHS = {}


def _origin(obj):
    return getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)


def _check_path(path):
    if not isinstance(path, str) or not path.startswith(PACKAGE + "."):
        raise ValueError(
            f"keras_invariance_export: a public path is a dotted string "
            f"starting with `{PACKAGE}.`, e.g. "
            f"'{PACKAGE}.penalties.Penalty'; received {path!r}."
        )


def _register(obj, paths):
    for path in paths:
        previous = PUBLIC_PATHS.get(path, obj)
        # A reloaded module declares a new object under the same name.
        if previous is not obj and _origin(previous) != _origin(obj):
            raise ValueError(
                f"keras_invariance_export: {path!r} is already declared by "
                f"{PUBLIC_PATHS[path]!r}; give {obj!r} another path."
            )
        PUBLIC_PATHS[path] = obj
    if isinstance(obj, type):
        return keras.saving.register_keras_serializable(package=PACKAGE)(obj)
    # Functions are declared public, not registered for saving.
    return obj


def keras_invariance_export(*paths):
    """Registers a class as `keras_invariance>Name`, declaring its public paths.

    Used bare (`@keras_invariance_export`) it only registers the class for
    Keras serialization; with paths (`@keras_invariance_export("a.b.Name",
    ...)` or a list of paths, as Keras' `keras_export` takes) it also
    records them in `PUBLIC_PATHS`. Functions may declare paths too; they
    are not registered for saving.

    Example:

    >>> import keras
    >>> @keras_invariance_export
    ... class Scale(keras.layers.Layer):
    ...     pass
    >>> keras.saving.get_registered_name(Scale)
    'keras_invariance>Scale'
    >>> @keras_invariance_export("keras_invariance.layers_example.Shift")
    ... class Shift(keras.layers.Layer):
    ...     pass
    >>> PUBLIC_PATHS.pop("keras_invariance.layers_example.Shift") is Shift
    True

    Args:
        *paths: Either the decorated class itself (the bare form), or
            public paths (strings, or lists of strings) where the object is
            reachable, each starting with `keras_invariance.`.

    Returns:
        The bare form: the class, registered. With paths: a decorator that
        registers (classes) and records the paths, returning the object.

    Raises:
        ValueError: For a path that does not start with `keras_invariance.`
            or that another object already declared.
    """
    if len(paths) == 1 and not isinstance(paths[0], (str, list, tuple)):
        return _register(paths[0], ())
    flat = []
    for path in paths:
        flat.extend(path if isinstance(path, (list, tuple)) else [path])
    if not flat:
        raise ValueError(
            "keras_invariance_export() needs at least one public path, e.g. "
            "@keras_invariance_export('keras_invariance.penalties.Penalty'), "
            "or use it bare: @keras_invariance_export."
        )
    for path in flat:
        _check_path(path)

    def decorator(obj):
        return _register(obj, flat)

    return decorator


def register_old_names(renamed):
    """Lets files saved under a class's former name load as the renamed class.

    Example:

    >>> import keras
    >>> register_old_names({"OldSquaredL2": "keras_invariance.distances.SquaredL2"})
    >>> keras.saving.get_custom_objects()["keras_invariance>OldSquaredL2"].__name__
    'SquaredL2'

    Args:
        renamed: `{old class name: dotted path of the class now}`; the path
            must be importable when this is called.
    """
    objects = keras.saving.get_custom_objects()
    for old, path in renamed.items():
        module, name = path.rsplit(".", 1)
        objects[f"{PACKAGE}>{old}"] = getattr(importlib.import_module(module), name)
