"""The `keras-invariance` command: report options, the digits alias, tuning.

The report itself is checked end to end in `test_report.py`.
"""

import json

import pytest

from keras_invariance import cli


def test_digits_is_an_alias_of_report(tmp_path, capsys):
    status = cli.main(["digits", "--quick", "--methods", "plain", "--output-dir", str(tmp_path),
                       "--train-size", "64", "--test-size", "32", "--epochs", "1"])
    assert status == 0
    out = capsys.readouterr().out
    assert "[1/1] plain" in out and "weights: alpha=1  beta=0" in out and "wall time" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert [m["key"] for m in results["methods"]] == ["plain"]


def test_report_options_reach_the_config(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli.runner, "run_report",
                        lambda config, stream: seen.setdefault("config", config))
    cli.run(["report", "--methods", "plain,vat", "--epochs", "3", "--noise", "0.2",
             "--noise-levels", "0.1, 0.4", "--epsilons", "0.01", "--grid", "3", "3", "7",
             "--translation", "2", "--rotation", "10", "--seed", "5", "--quiet"])
    config = seen["config"].resolved()
    assert config.methods == ("plain", "vat") and config.methods_explicit
    assert (config.epochs, config.noise, config.seed) == (3, 0.2, 5)
    assert config.noise_levels == (0.1, 0.4) and config.epsilons == (0.01,)
    assert (config.grid, config.translation, config.rotation) == ((3, 3, 7), 2.0, 10.0)
    assert config.output_dir == "outputs/report" and config.dataset == "digits"


def test_recipes_keep_their_table_helpers():
    assert [m.name for m in cli.METHODS] == ["plain", "data augmentation",
                                             "IRL batching", "IRL loss"]
    rows = [{"method": "plain", "acc": 0.5}]
    table = cli.format_table(rows, [cli.Column("acc", None, "{:.3f}")])
    assert table.splitlines()[2].split() == ["plain", "0.500"]
    assert cli.positive_int("3") == 3 and cli.non_negative_float("0") == 0.0


@pytest.mark.parametrize(
    "argv",
    [["report", "--epochs", "0"], ["report", "--grid", "5", "5"], ["report", "--bogus"],
     ["digits", "--batch-size", "x"], ["tune", "--objective", "val_acc"],
     ["tune", "--noise", "-1"], ["nope"], []],
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


def test_tune_any_method_searches_its_weights(tmp_path, capsys):
    tuner = cli.run(["tune", "--method", "vat", "--max-trials", "1", "--epochs", "1",
                     "--directory", str(tmp_path)])
    assert set(tuner.get_best_hyperparameters()[0].values) == {"vat.weight", "vat.epsilon"}
    assert (tmp_path / "vat_digits").is_dir()
    with pytest.raises(SystemExit) as error:
        cli.main(["tune", "--method", "tangent_bp", "--directory", str(tmp_path)])
    assert error.value.code == 2
    assert "choose one of" in capsys.readouterr().err
