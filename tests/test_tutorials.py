"""The tutorial notebooks: committed executed, and still running.

* Staleness (no execution): every notebook's stored
  `keras_invariance.source_hash` is the hash of its current code cells, and
  every code cell has been executed without an error output. Editing a
  notebook's code without `python tutorials/build.py NAME` fails here.
* Execution (`science`): every notebook runs top to bottom in quick mode
  (`KI_TUTORIAL_QUICK=1`) into a temporary copy; the committed file is never
  overwritten.
"""

import importlib.util
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"


def _build_module():
    spec = importlib.util.spec_from_file_location("tutorials_build", TUTORIALS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _build_module()
NOTEBOOKS = build.notebooks()


def test_there_are_seven_tutorials():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, 8)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_executed_and_current(path):
    nb = nbformat.read(path, as_version=4)
    stored = nb.metadata.get("keras_invariance", {}).get("source_hash")
    assert stored == build.source_hash(nb), (
        f"{path.name}: code changed since it was executed; run "
        f"`python tutorials/build.py {path.stem}` and commit the result."
    )
    assert nb.metadata["keras_invariance"].get("quick") is False, (
        f"{path.name} was committed from a quick run; rebuild it in full mode."
    )
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), (
        f"{path.name}: the first cell must be the title."
    )
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "KI_TUTORIAL_QUICK" in code[0].source, (
        f"{path.name}: the first code cell must read KI_TUTORIAL_QUICK."
    )
    for i, cell in enumerate(code):
        assert cell.execution_count is not None, f"{path.name}: code cell {i} not executed."
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: code cell {i} has an error output."


@pytest.mark.science
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, tmp_path):
    before = path.read_bytes()
    out = tmp_path / path.name
    build.execute(path, out, quick=True)
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata["keras_invariance"]["quick"] is True
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"]
    assert path.read_bytes() == before, "the committed notebook was modified"
