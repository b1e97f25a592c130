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
