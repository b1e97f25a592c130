"""The public namespace: a lean top level, `__all__` everywhere, moved names.

* `ki.*` holds exactly the model, `Tap`, the two base classes, the presets,
  the subpackages and `__version__`; `dir(ki)` lists only those.
* Every package declares `__all__`, and every name in it resolves.
* The 0.2 top-level names that moved (`ki.GaussianNoise`, `ki.callbacks`, …)
  still resolve to the very same object, with a DeprecationWarning naming
  the new path; the docs, tests, recipes and notebooks use the new paths.
* Public paths declared at the definition (`keras_invariance_export(path)`)
  resolve to the object they were declared on.
"""

import importlib
import json
import pathlib
import pkgutil
import re
import warnings

import keras
import pytest

import keras_invariance as ki
from keras_invariance.utils import api_export
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.deprecated_names import resolve
from keras_invariance.utils.deprecation import REMOVAL

ROOT = pathlib.Path(__file__).resolve().parent.parent

TOP_LEVEL = {
    "InvariantModel", "Tap", "Penalty", "Perturbation",
    "IRL", "VAT", "NoiseRegularized", "JacobianRegularized", "LossIBP", "PredictionIBP",
    "TangentBP", "FastTangentBP", "AdversarialTraining", "RegularizedAdversarialTraining",
    "SpatialInvariance", "IRL_PRESETS", "SPATIAL_MODES",
    "penalties", "perturbations", "distances", "spatial", "audio", "evaluation", "pairs",
    "datasets", "presets",
    "__version__",
}


def _packages():
    names = ["keras_invariance"]
    for info in pkgutil.walk_packages(ki.__path__, "keras_invariance."):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


def test_the_top_level_is_the_model_the_bases_and_the_presets():
    assert set(ki.__all__) == TOP_LEVEL
    assert len(ki.__all__) == len(TOP_LEVEL)
    assert dir(ki) == sorted(TOP_LEVEL)


@pytest.mark.parametrize("package", _packages())
def test_every_package_declares_all_and_every_name_resolves(package):
    module = importlib.import_module(package)
    assert isinstance(module.__all__, list), f"{package} has no __all__ list"
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def test_subpackages_hold_what_left_the_top():
    assert ki.perturbations.GaussianNoise.__module__ == "keras_invariance.perturbations.noise"
    assert "Jacobian" in ki.penalties.__all__
    assert "SquaredL2" in ki.distances.__all__
    assert "Penalty" in ki.penalties.__all__ and "Perturbation" in ki.perturbations.__all__


@pytest.mark.parametrize("old", sorted(ki.MOVED))
def test_a_moved_name_warns_and_returns_the_same_object(old):
    new = ki.MOVED[old]
    with pytest.warns(DeprecationWarning) as caught:
        value = getattr(ki, old)
    message = str(caught[0].message)
    assert f"keras_invariance.{old}" in message and new in message and REMOVAL in message
    assert value is resolve(new)
    assert caught[0].filename == __file__, "the warning points at the caller"


def test_from_import_of_a_moved_name_warns():
    with pytest.warns(DeprecationWarning, match="keras_invariance.perturbations.GaussianNoise"):
        from keras_invariance import GaussianNoise
    assert GaussianNoise is ki.perturbations.GaussianNoise


def test_moved_names_are_not_listed_and_unknown_names_raise():
    assert not set(ki.MOVED) & set(dir(ki))
    assert not set(ki.MOVED) & TOP_LEVEL
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        ki.NoSuchName  # noqa: B018
    assert not hasattr(ki, "NoSuchName")


def test_integrations_load_on_use_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callbacks = ki.integrations.callbacks
    assert callbacks.NoisyValidation.__module__ == "keras_invariance.integrations.callbacks"
    assert "tuning" in ki.integrations.__all__


def test_declared_public_paths_resolve_to_their_object():
    importlib.import_module("keras_invariance.integrations.callbacks")
    assert api_export.PUBLIC_PATHS, "no public path declared"
    for path, obj in api_export.PUBLIC_PATHS.items():
        module, _, name = path.rpartition(".")
        namespace = importlib.import_module(module)
        assert getattr(namespace, name) is obj, f"{path} is not {obj!r}"
        if hasattr(namespace, "__all__") and namespace.__name__.count(".") <= 1:
            assert name in namespace.__all__, f"{path} is not in {module}.__all__"


def test_every_exported_class_declares_a_public_path():
    declared = set(map(id, api_export.PUBLIC_PATHS.values()))
    missing = []
    for package in _packages():
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if (isinstance(obj, type) and (keras.saving.get_registered_name(obj) or "")
                    .startswith("keras_invariance>") and id(obj) not in declared):
                missing.append(f"{package}.{name}")
    assert not missing, f"add the path to @keras_invariance_export(...): {missing}"


def test_export_declares_paths_and_keeps_the_bare_form():
    @keras_invariance_export
    class NamespaceBare(keras.layers.Layer):
        pass

    @keras_invariance_export("keras_invariance.example.NamespaceShift",
                             ["keras_invariance.example.Shift2"])
    class NamespaceShift(keras.layers.Layer):
        pass

    @keras_invariance_export("keras_invariance.example.namespace_fn")
    def namespace_fn():
        return 1

    try:
        assert keras.saving.get_registered_name(NamespaceBare) == "keras_invariance>NamespaceBare"
        assert keras.saving.get_registered_name(NamespaceShift) == "keras_invariance>NamespaceShift"
        assert api_export.PUBLIC_PATHS["keras_invariance.example.NamespaceShift"] is NamespaceShift
        assert api_export.PUBLIC_PATHS["keras_invariance.example.Shift2"] is NamespaceShift
        assert namespace_fn() == 1
        assert api_export.PUBLIC_PATHS["keras_invariance.example.namespace_fn"] is namespace_fn
        with pytest.raises(ValueError, match="starting with `keras_invariance.`"):
            keras_invariance_export("penalties.Shift")
        with pytest.raises(ValueError, match="already declared"):
            keras_invariance_export("keras_invariance.example.Shift2")(NamespaceBare)
        with pytest.raises(ValueError, match="at least one public path"):
            keras_invariance_export()
    finally:
        for path in ("NamespaceShift", "Shift2", "namespace_fn"):
            api_export.PUBLIC_PATHS.pop(f"keras_invariance.example.{path}", None)


#: Files that use the old names on purpose.
_OLD_ON_PURPOSE = {"keras_invariance/__init__.py", "tests/test_namespace.py",
                   "tests/test_optional_deps.py"}


def _sources():
    for pattern in ("tests/*.py", "recipes/*.py", "benchmarks/*.py", "README.md",
                    "tutorials/*.md", "tutorials/*.ipynb", "keras_invariance/**/*.py"):
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            if relative in _OLD_ON_PURPOSE:
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".ipynb":
                text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
            yield relative, text


def test_the_docs_tests_and_recipes_use_the_new_paths():
    names = "|".join(sorted(ki.MOVED, key=len, reverse=True))
    old = re.compile(r"(?<![\w.])(ki|keras_invariance)\.(" + names + r")\b")
    offenders = [f"{path}: {m.group(0)}" for path, text in _sources()
                 for m in old.finditer(text)]
    assert not offenders, "use the new paths (keras_invariance.MOVED):\n" + "\n".join(offenders)


@pytest.mark.parametrize("old", sorted(ki.penalties.RENAMED))
def test_a_renamed_penalty_warns_and_its_old_files_load(old):
    new_path = ki.penalties.RENAMED[old]
    new = getattr(ki.penalties, new_path.rsplit(".", 1)[1])
    with pytest.warns(DeprecationWarning, match=new_path):
        assert getattr(ki.penalties, old) is new
    # A config written by 0.2 names the class by its old registered name.
    config = {
        "module": None,
        "class_name": old,
        "config": new().get_config(),
        "registered_name": f"keras_invariance>{old}",
    }
    assert type(keras.saving.deserialize_keras_object(config)) is new
