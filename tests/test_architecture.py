"""The package's layout rules: no import cycles, small modules, real citations.

Read from the source with `ast`, so an import hidden inside a function counts
as much as one at the top of a module.
"""

import ast
import functools
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_invariance"
MAX_LINES = 600


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path, modules):
    """Package modules that `path` imports, anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from a.b import c` imports a.b.c when c is a module.
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in modules else node.module for n in names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def _cycle(graph):
    """One import cycle as a list of modules, or `None`."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles_even_inside_functions():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = _imports(path, modules) - {name}
        # A package's __init__ importing its own submodules is the
        # re-export pattern, not a cycle; a submodule importing its
        # package's __init__ back would be.
        graph[name] = edges
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_cycle_detector_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_stay_small(name):
    lines = len(_modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it"


def test_docstrings_cite_papers_not_files_that_do_not_ship():
    offenders = [
        name for name, path in _modules().items() if ".txt" in path.read_text()
    ]
    assert not offenders, f"cite papers by title and authors in {offenders}"


# What each layer of the package may import (besides itself). Lower layers
# know nothing of the higher ones: the engine runs any penalty or
# perturbation but never a preset, an evaluation or an integration, and a
# penalty or perturbation never reaches back into the engine that runs it.
ALLOWED_IMPORTS = {
    "utils": set(),
    "ops": {"utils"},
    "graph": {"ops", "utils"},
    "distances": {"graph", "ops", "utils"},
    "spatial": {"ops", "utils"},
    "audio": {"ops", "utils"},
    "datasets": {"ops", "utils"},
    "perturbations": {"audio", "spatial", "distances", "graph", "ops", "utils"},
    "penalties": {"perturbations", "spatial", "distances", "graph", "ops", "utils"},
    "engine": {"penalties", "perturbations", "spatial", "distances", "graph", "ops", "utils"},
    "pairs": {"engine", "graph", "ops", "utils"},
    "presets": {"engine", "penalties", "perturbations", "spatial", "distances", "graph", "ops",
                "utils"},
    "evaluation": {"engine", "penalties", "perturbations", "spatial", "distances", "graph", "ops",
                   "utils"},
}
# The top-level modules beside the packages (issue 20: at most 8).
MAX_TOP_LEVEL_MODULES = 8


TOP = "<top level>"


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else TOP


@functools.lru_cache(maxsize=None)
def _layer_edges():
    modules = _modules()
    edges = {}
    for name, path in modules.items():
        for target in _imports(path, modules):
            if _layer(target) != _layer(name):
                edges.setdefault((_layer(name), _layer(target)), []).append(f"{name} -> {target}")
    return edges


def test_every_package_has_a_layer_rule():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    # The integrations sit on top and may import anything.
    assert packages - {"integrations"} == set(ALLOWED_IMPORTS)


@pytest.mark.parametrize("layer", sorted(ALLOWED_IMPORTS))
def test_layers_import_only_what_is_below_them(layer):
    bad = [
        line
        for (source, target), lines in sorted(_layer_edges().items())
        if source == layer and target not in ALLOWED_IMPORTS[layer]
        for line in lines
    ]
    assert not bad, f"{layer} may import only {sorted(ALLOWED_IMPORTS[layer])}: {bad}"


def test_only_the_top_level_imports_the_top_level():
    # `keras_invariance/__init__.py` re-exports; a module importing it back
    # would import the whole package (and every optional integration).
    bad = [
        line
        for (source, target), lines in sorted(_layer_edges().items())
        if target == TOP
        for line in lines
    ]
    assert not bad, bad


def test_top_level_holds_few_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{top}: move modules into their packages"


def test_layer_rules_catch_a_violation():
    # The detector itself must see a penalty importing the engine.
    assert "engine" not in ALLOWED_IMPORTS["penalties"]
    assert _layer("keras_invariance.engine.model") == "engine"
    assert _layer("keras_invariance") == TOP
