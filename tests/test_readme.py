"""The docs run as written: README's Python, its report commands, every link.

* Every ```python block of README.md runs exactly as written, in order, in
  one namespace (as a reader following the page would), in a temporary
  directory: the README defines its own (small, embedded) data.
* The README's list of report commands parses with the real parser and, run
  in sequence, never writes two reports into one output directory.
* Every relative link of README.md, ARCHITECTURE.md, tutorials/README.md,
  benchmarks/README.md and the notebooks' markdown resolves to a file (and
  an in-page anchor to a heading), and every repository path written in
  backticks (`recipes/…py`, `benchmarks/…py`) exists.
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

import keras_invariance_cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, ROOT / "ARCHITECTURE.md", ROOT / "tutorials" / "README.md",
        ROOT / "benchmarks" / "README.md"]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb"))
#: Top-level folders whose files the docs name in backticks.
TREE = ("benchmarks", "recipes", "scripts", "tests", "tutorials", "keras_invariance")


def _blocks(text, language):
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


#: Runs the README's blocks in order in one namespace, naming a failing one.
_RUNNER = """
import json, sys
namespace = {"__name__": "readme"}
for i, block in enumerate(json.load(open(sys.argv[1]))):
    try:
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    except Exception as error:
        raise SystemExit(f"README python block {i + 1} fails: {error!r}") from error
"""


def test_every_python_block_of_the_readme_runs(tmp_path):
    """In a process of its own: the README creates a MirroredStrategy, and a
    second strategy in the suite's process reuses TensorFlow's collective
    instance keys ("Shape mismatch in the collective instance")."""
    blocks = _blocks(README.read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 2
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    result = subprocess.run([sys.executable, "-c", _RUNNER, "blocks.json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=1200, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "irl.keras").exists() and (tmp_path / "deploy.keras").exists()


def _report_commands():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The robustness report"):]
    section = section[:section.index("\n## ", 3)]
    commands = []
    for block in _blocks(section, "bash"):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("keras-invariance"):
                commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_report_commands_run_in_sequence():
    commands = _report_commands()
    assert len(commands) >= 4
    parser = keras_invariance_cli.build_parser()
    # The main job at the top of the README runs first.
    written = {"outputs/report"}
    for argv in commands:
        args = parser.parse_args(argv)
        if args.command not in ("report", "digits") or args.list_methods:
            continue
        out = args.output_dir or ("outputs/report-quick" if args.quick else "outputs/report")
        assert out not in written or args.overwrite, (
            f"`keras-invariance {' '.join(argv)}` would find a report in {out}")
        written.add(out)


def _headings(text):
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def _markdown_of(path):
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def _problems(path):
    text = _markdown_of(path)
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file) if file else path
        if not resolved.exists():
            problems.append(f"link {target!r}: no {resolved.relative_to(ROOT)}")
        elif anchor and resolved.suffix == ".md" and anchor not in _headings(
                resolved.read_text(encoding="utf-8")):
            problems.append(f"link {target!r}: no heading #{anchor}")
    for name in re.findall(r"`((?:%s)/[\w./-]+\.(?:py|md|ipynb))`" % "|".join(TREE), text):
        if not (ROOT / name).exists():
            problems.append(f"path `{name}` does not exist")
    return problems


@pytest.mark.parametrize("path", DOCS + NOTEBOOKS, ids=lambda p: p.name)
def test_every_relative_link_and_path_resolves(path):
    assert not _problems(path), f"{path.relative_to(ROOT)}: {_problems(path)}"
