"""Executes the tutorial notebooks in place and stamps them.

Usage:

    python tutorials/build.py                  # every tutorials/NN_*.ipynb
    python tutorials/build.py 02_irl 05_spatial
    KI_TUTORIAL_QUICK=1 python tutorials/build.py 01_getting_started --output-dir /tmp/nb

Each notebook runs top to bottom in a fresh `python3` kernel (nbclient), with
the repository root on `PYTHONPATH` (so the package imports from this
checkout) and the working directory `tutorials/`. After a successful run the
notebook's metadata gets `keras_invariance.source_hash`, the sha256 of its
code cells (see `source_hash`), and long text outputs are trimmed to their
first and last lines. `tests/test_tutorials.py` checks the stored hash
against the code, so a notebook edited without being re-executed fails the
tests.

`KI_TUTORIAL_QUICK=1` in the environment makes every notebook run in quick
mode (fewer rows and epochs); the committed notebooks come from full runs.
"""

import argparse
import hashlib
import os
import pathlib
import re
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
#: Notebook names: two digits, an underscore, a name.
PATTERN = "[0-9][0-9]_*.ipynb"
#: Text outputs longer than this are trimmed to their head and tail.
MAX_LINES = 40
KEEP_HEAD = 25
KEEP_TAIL = 10
#: Seconds one cell may run before the build fails.
CELL_TIMEOUT = 900
#: stderr lines that are TensorFlow / absl start-up noise, not results.
NOISE = re.compile(
    r"(^WARNING: All log messages before absl|oneDNN custom operations|"
    r"cpu_feature_guard|TF_ENABLE_ONEDNN_OPTS|This TensorFlow binary is "
    r"optimized|rebuild TensorFlow with|Unable to register cu|"
    r"Could not find cuda drivers|computation placer already registered|external/local_xla|"
    r"E0000 00:00|W0000 00:00|I0000 00:00|absl::InitializeLog)"
)


def notebooks(names=()):
    """Paths of the named notebooks (`02_irl` or `02_irl.ipynb`), or all."""
    if not names:
        return sorted(HERE.glob(PATTERN))
    paths = []
    for name in names:
        stem = pathlib.Path(name).name
        if not stem.endswith(".ipynb"):
            stem += ".ipynb"
        path = HERE / stem
        if not path.exists():
            raise SystemExit(f"No notebook {path}; have {[p.name for p in notebooks()]}.")
        paths.append(path)
    return paths


def code_sources(nb):
    """The sources of a notebook's code cells, in order."""
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def source_hash(nb):
    """sha256 hex digest of the code cells' sources, each ended by a newline.

    Markdown cells and outputs do not enter it: editing prose needs no
    re-execution, editing code does.
    """
    text = "".join(source + "\n" for source in code_sources(nb))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _trim_text(text):
    lines = text.splitlines(keepends=True)
    if len(lines) <= MAX_LINES:
        return text
    cut = len(lines) - KEEP_HEAD - KEEP_TAIL
    return "".join(
        lines[:KEEP_HEAD] + [f"... ({cut} lines trimmed) ...\n"] + lines[-KEEP_TAIL:]
    )


def trim_outputs(nb):
    """Drops start-up noise from stderr and trims long text outputs."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                if output.name == "stderr":
                    lines = [
                        line for line in output.text.splitlines(keepends=True)
                        if not NOISE.search(line)
                    ]
                    output.text = "".join(lines)
                    if not output.text.strip():
                        continue
                output.text = _trim_text(output.text)
            elif output.output_type in ("execute_result", "display_data"):
                data = output.get("data", {})
                if "text/plain" in data:
                    data["text/plain"] = _trim_text(data["text/plain"])
            kept.append(output)
        cell.outputs = kept
        cell.metadata.pop("execution", None)
    return nb


def kernel_env(quick=False):
    """The kernel's environment: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env.setdefault("PYTHONHASHSEED", "0")
    if quick:
        env["KI_TUTORIAL_QUICK"] = "1"
    return env


def execute(path, output_path=None, quick=None, timeout=CELL_TIMEOUT):
    """Runs one notebook; writes it (stamped, trimmed) to `output_path`.

    Args:
        path: The notebook.
        output_path: Where to write the executed notebook (default: in place).
        quick: Force quick mode (`True`), or leave the environment's
            `KI_TUTORIAL_QUICK` as it is (`None`).
        timeout: Seconds per cell.

    Returns:
        Seconds the execution took.

    Raises:
        nbclient.exceptions.CellExecutionError: When a cell fails.
    """
    import nbclient
    import nbformat

    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    env = kernel_env(quick=bool(quick))
    start = time.perf_counter()
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # `env` goes to the kernel manager's start_kernel: the kernel's environment.
    client.execute(env=env)
    seconds = time.perf_counter() - start
    trim_outputs(nb)
    meta = nb.metadata.setdefault("keras_invariance", {})
    meta["source_hash"] = source_hash(nb)
    meta["quick"] = env.get("KI_TUTORIAL_QUICK") == "1"
    nb.metadata.get("kernelspec", {}).update(
        {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    nbformat.write(nb, pathlib.Path(output_path or path))
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="Notebooks (default: all).")
    parser.add_argument("--output-dir", help="Write executed copies here instead.")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                        help="Seconds per cell.")
    args = parser.parse_args(argv)
    total = 0.0
    for path in notebooks(args.names):
        out = None
        if args.output_dir:
            os.makedirs(args.output_dir, exist_ok=True)
            out = pathlib.Path(args.output_dir) / path.name
        seconds = execute(path, out, timeout=args.timeout)
        total += seconds
        print(f"{path.name}: {seconds:.1f} s", flush=True)
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
