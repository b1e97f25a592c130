"""The `keras-invariance` command: the main job's table and the tuner search."""

import re

import pytest

from keras_invariance import cli

METHOD_NAMES = ["plain", "data augmentation", "IRL batching", "IRL loss"]


def test_digits_quick_prints_the_four_methods(capsys):
    rows = cli.run(["digits", "--quick", "--noise-draws", "2"])
    out = capsys.readouterr().out
    assert [row["method"] for row in rows] == METHOD_NAMES
    table = out[out.index("method"):]
    for row, name in zip(rows, METHOD_NAMES):
        line = next(l for l in table.splitlines() if l.startswith(name + " "))
        numbers = [float(v) for v in re.findall(r"\d+\.\d+", line[len(name):])]
        assert len(numbers) == len(cli.COLUMNS)
        clean, noisy, clean_err, noisy_err = numbers
        assert 0.0 <= clean <= 1.0 and 0.0 <= noisy <= 1.0
        assert clean_err == pytest.approx(100 * (1 - clean), abs=0.01)
        assert noisy_err == pytest.approx(100 * (1 - noisy), abs=0.01)
        assert row["clean acc"] == pytest.approx(clean, abs=1e-4)
    # Training did something: far above chance (0.1) on clean digits.
    assert rows[0]["clean acc"] > 0.5
    # The progress display names every method and the IRL terms.
    for i, name in enumerate(METHOD_NAMES, start=1):
        assert f"[{i}/4] {name}" in out
    assert "irl_distance" in out and "epoch 3/3" in out and "wall time" in out


def test_console_script_returns_exit_status_zero(monkeypatch):
    monkeypatch.setattr(cli, "METHODS", cli.METHODS[:1])
    argv = ["digits", "--epochs", "1", "--train-size", "64", "--noise-draws", "1"]
    assert cli.main(argv) == 0


def test_report_is_extensible_by_rows_and_columns(monkeypatch):
    monkeypatch.setattr(cli, "METHODS", cli.METHODS[:1])
    monkeypatch.setattr(
        cli, "COLUMNS",
        cli.COLUMNS[:1]
        + [cli.Column("double", lambda m, x, y, a, row: 2 * row["clean acc"], "{:.3f}")],
    )
    args = cli.build_parser().parse_args(["digits", "--epochs", "1", "--train-size", "128"])
    rows = cli.run_digits(args, quiet=True)
    assert len(rows) == 1 and rows[0]["double"] == 2 * rows[0]["clean acc"]
    assert "double" in cli.format_table(rows, cli.COLUMNS).splitlines()[0]


@pytest.mark.parametrize(
    "argv",
    [["digits", "--noise", "-1"], ["digits", "--epochs", "0"],
     ["digits", "--hidden-units", "a,b"], ["digits", "--noise", "x"],
     ["tune", "--objective", "val_acc"], ["digits", "--layers", "hidden_9"],
     ["nope"], []],
)
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(argv)
    assert error.value.code == 2
    assert "usage: keras-invariance" in capsys.readouterr().err


def test_tune_writes_trials_into_directory(tmp_path, capsys):
    tuner = cli.run(["tune", "--max-trials", "1", "--epochs", "1", "--directory", str(tmp_path)])
    out = capsys.readouterr().out
    assert "best hyperparameters" in out and "gamma" in out
    assert (tmp_path / "irl_digits").is_dir()
    (trial,) = tuner.oracle.get_best_trials(1)
    assert 0.0 <= trial.score <= 1.0
