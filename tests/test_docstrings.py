"""Every docstring `Example:` in the package runs, as a doctest."""

import doctest
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import keras_invariance

# The console entry point and the Keras Tuner helper run whole trainings in
# their examples; they are exercised by test_cli.py and test_tuning.py.
_SKIP = {"keras_invariance.integrations.cli"}


def _modules():
    return sorted(
        m.name
        for m in pkgutil.walk_packages(keras_invariance.__path__, "keras_invariance.")
        if m.name not in _SKIP
    )


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module,
        extraglobs={"np": np},
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    public = [
        obj
        for key, obj in vars(module).items()
        if not key.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == name
    ]
    if public:
        assert result.attempted > 0, f"{name} has public objects but no examples"


# Every public object (each namespace's `__all__`) is documented on its own:
# a module with one example no longer covers its other classes and functions.
_NAMESPACES = (
    "keras_invariance", "keras_invariance.penalties", "keras_invariance.perturbations",
    "keras_invariance.distances", "keras_invariance.spatial", "keras_invariance.audio",
    "keras_invariance.evaluation", "keras_invariance.pairs", "keras_invariance.datasets",
    "keras_invariance.presets",
)


def _public_objects():
    found = {}
    for namespace in _NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


_PUBLIC = _public_objects()


def test_the_public_objects_are_many():
    # Guards the parametrization below against an empty `__all__` walk.
    assert len(_PUBLIC) > 100


@pytest.mark.parametrize("name", sorted(_PUBLIC))
def test_each_public_object_is_documented(name):
    obj = _PUBLIC[name]
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{name}: add an `Example:` with a runnable `>>>` line"
    parameters = [
        p for p in inspect.signature(obj).parameters.values() if p.name not in ("self", "cls")
    ]
    if parameters:
        assert "Args:" in doc, f"{name}: document {[p.name for p in parameters]} under `Args:`"
    if inspect.isfunction(obj):
        assert "Returns:" in doc or "Yields:" in doc, f"{name}: add `Returns:`"
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    module = importlib.import_module(obj.__module__)
    for test in finder.find(obj, name, module=module, globs={**vars(module), "np": np}):
        runner.run(test)
    assert runner.failures == 0, f"{name}: {runner.failures} example(s) failed"
