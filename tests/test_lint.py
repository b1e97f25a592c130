"""The tree passes `ruff check` with the project's configuration (ruff.toml)."""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff():
    # The `test` extra installs ruff next to this interpreter.
    local = pathlib.Path(sys.executable).with_name("ruff")
    found = str(local) if local.exists() else shutil.which("ruff")
    assert found, "ruff is missing: pip install -e '.[test]' installs it"
    return found


def test_ruff_check_passes():
    result = subprocess.run(
        [_ruff(), "check", "--output-format", "concise", "--no-cache", "."],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_catch_an_unused_import(tmp_path):
    # The configuration is live: an unused import in a package file fails.
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    result = subprocess.run(
        [_ruff(), "check", "--no-cache", "--config", str(ROOT / "ruff.toml"), str(bad)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0 and "F401" in result.stdout
