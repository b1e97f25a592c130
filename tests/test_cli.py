"""The `keras-invariance` command: report options, the digits alias, tuning.

The report itself is checked end to end in `test_report.py`.
"""

import dataclasses
import doctest
import json
import subprocess
import sys

import keras
import pytest

from keras_invariance.integrations import cli
from keras_invariance.integrations import tuning
from keras_invariance.integrations.report import config as config_lib
from keras_invariance.integrations.report import data as data_lib
from keras_invariance.integrations.report import methods as methods_lib
import keras_invariance_cli


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
    assert config.seeds == 3
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
    tuner = cli.run(["tune", "--max-trials", "1", "--epochs", "1", "--train-size", "200",
                     "--directory", str(tmp_path)])
    out = capsys.readouterr().out
    assert "best hyperparameters" in out and "weight" in out
    assert (tmp_path / "irl").is_dir()
    (trial,) = tuner.oracle.get_best_trials(1)
    assert 0.0 <= trial.score <= 1.0


def test_tune_any_method_searches_its_weights(tmp_path, capsys):
    tuner = cli.run(["tune", "--method", "vat", "--max-trials", "1", "--epochs", "1",
                     "--train-size", "200", "--directory", str(tmp_path)])
    assert set(tuner.get_best_hyperparameters()[0].values) == {"vat.weight", "vat.epsilon"}
    assert (tmp_path / "vat").is_dir()


def test_tune_takes_every_report_key_and_a_user_model(tmp_path, capsys):
    # Image-only methods (Tangent BP, the spatial ones) run on the report's images.
    tuner = cli.run(["tune", "--method", "spatial_da_kl", "--max-trials", "1", "--epochs",
                     "1", "--train-size", "160", "--directory", str(tmp_path / "t")])
    assert "output_divergence.weight" in tuner.get_best_hyperparameters()[0].values
    # --model: the user's network is what the trials train.
    keras.utils.set_random_seed(0)
    mine = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10, name="mine_logits")])
    mine.save(tmp_path / "mine.keras")
    tuner = cli.run(["tune", "--method", "loss_ibp", "--model", str(tmp_path / "mine.keras"),
                     "--max-trials", "1", "--epochs", "1", "--directory", str(tmp_path / "u")])
    best = tuner.hypermodel.build(tuner.get_best_hyperparameters()[0])
    assert best.base_model.layers[-1].name == "mine_logits"
    assert best.base_model.input_shape == (None, 64)


@pytest.mark.parametrize("argv, fragments", [
    (["tune", "--method", "plain"], ["no weights to search", "--method irl_loss"]),
    (["tune", "--method", "irl_los"], ["did you mean 'irl_loss'?"]),
    (["report", "--methods", "plain,vatt"], ["did you mean 'vat'?"]),
])
def test_bad_method_keys_say_what_to_do(argv, fragments, tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(argv + (["--output-dir", str(tmp_path)] if argv[0] == "report" else []))
    assert error.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_and_version_do_not_import_tensorflow():
    code = (
        "import sys, keras_invariance_cli\n"
        "for argv in (['--help'], ['report', '--help'], ['tune', '--help'], ['--version'],\n"
        "             ['report', '--epochs', '0']):\n"
        "    try:\n"
        "        keras_invariance_cli.main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('IMPORTED', sorted(m for m in ('tensorflow', 'keras', 'keras_invariance')\n"
        "                         if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "IMPORTED []" in done.stdout
    assert f"keras-invariance {keras_invariance_cli.version()}" in done.stdout
    assert "usage: keras-invariance report" in done.stderr  # --epochs 0


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        keras_invariance_cli.main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fragment in ("default: 3; --quick: 1", "default: 12 on digits, 5 on TFDS data",
                     "default: 0.1,0.2,0.3,0.5", "default: 0.02,0.05,0.1",
                     "default: outputs/report (outputs/report-quick with --quick)",
                     "default: 5 5 31 = 775 transforms", "(default: 0.3)"):
        assert fragment in text, fragment
    with pytest.raises(SystemExit):
        keras_invariance_cli.main(["tune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("--max-trials MAX_TRIALS trials of the random search (default: 4)" in text
            and "(default: val_noisy_accuracy)" in text)


def test_the_parser_defaults_are_the_package_defaults():
    d = keras_invariance_cli.REPORT_DEFAULTS
    fields = {f.name: f.default for f in dataclasses.fields(config_lib.ReportConfig)}
    for name in ("batch_size", "learning_rate", "noise", "noise_levels", "epsilons",
                 "pgd_steps", "grid", "tune_objective", "max_clean_drop"):
        assert fields[name] == d[name], name
    assert (config_lib.OUTPUT_DIR, config_lib.QUICK_OUTPUT_DIR) == (d["output_dir"],
                                                                    d["quick_output_dir"])
    assert (config_lib.DEFAULT_SEEDS, config_lib.QUICK["seeds"]) == (d["seeds"],
                                                                     d["quick_seeds"])
    assert config_lib.QUICK["pgd_steps"] == d["quick_pgd_steps"]
    assert config_lib.QUICK["grid"] == d["quick_grid"]
    assert config_lib.TUNE_OBJECTIVES == d["tune_objectives"]
    for kind in ("digits", "tfds"):
        for name in ("epochs", "translation", "rotation"):
            assert config_lib.DATASET_DEFAULTS[kind][name] == d[name][kind], (kind, name)
    assert config_lib.DATASET_DEFAULTS["tfds"]["train_size"] == d["train_size"]["tfds"]
    assert config_lib.DATASET_DEFAULTS["tfds"]["test_size"] == d["test_size"]["tfds"]
    assert config_lib.QUICK["epochs"] == d["epochs"]["quick"]
    assert tuple(sorted(tuning.OBJECTIVES)) == keras_invariance_cli.TUNE_OBJECTIVES


def test_quick_runs_write_apart_from_full_reports():
    assert config_lib.ReportConfig().resolved().output_dir == "outputs/report"
    assert config_lib.ReportConfig(quick=True).resolved().output_dir == "outputs/report-quick"
    assert config_lib.ReportConfig(quick=True, output_dir="x").resolved().output_dir == "x"


def test_the_entry_module_examples_run():
    result = doctest.testmod(keras_invariance_cli)
    assert result.attempted > 0 and result.failed == 0


def test_unknown_key_message_lists_every_key():
    message = methods_lib.unknown_key_message("spatial")
    hint = message[message.index("did you mean"):message.index("?")]
    assert "'spatial_da'" in hint and "'spatial_at'" in hint
    assert all(key in message.split("choose from")[1] for key in methods_lib.METHODS)
    assert data_lib.DIGITS_SIDE == 20
