"""`keras-invariance report`: the end-to-end quick run and every bad input."""

import json
import math
import os
import re

import keras
import numpy as np
import pytest

from keras_invariance import cli
from keras_invariance import tuning
from keras_invariance.report import METHODS
from keras_invariance.report import ReportConfig
from keras_invariance.report import data as data_lib
from keras_invariance.report import methods as methods_lib
from keras_invariance.report import writer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One `report --quick` run shared by the end-to-end checks."""
    out = tmp_path_factory.mktemp("report")
    (out / "notes.txt").write_text("mine")
    import contextlib
    import io

    stream = io.StringIO()
    with contextlib.redirect_stdout(stream):
        status = cli.main(["report", "--quick", "--output-dir", str(out)])
    with open(out / "results.json", encoding="utf-8") as f:
        results = json.load(f)
    return status, out, results, stream.getvalue()


def _numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_quick_report_has_every_method_with_finite_metrics(quick_run):
    status, _, results, _ = quick_run
    assert status == 0
    assert [m["key"] for m in results["methods"]] == list(methods_lib.DEFAULT_METHODS)
    families = {m["family"] for m in results["methods"]}
    assert len(families) == 4
    for method in results["methods"]:
        for part in ("metrics", "curves", "diagnostics"):
            values = list(_numbers(method[part]))
            assert values and all(math.isfinite(v) for v in values), (method["key"], part)
        metrics = method["metrics"]
        for key, value in metrics.items():
            if key.endswith("accuracy") or "_accuracy_" in key:
                assert 0.0 <= value <= 1.0, (method["key"], key)
        assert metrics["step_time_ratio"] > 0
        # The curves start at the clean accuracy (σ = 0, ε = 0).
        for curve in method["curves"].values():
            assert curve["accuracy"][0] == pytest.approx(metrics["clean_accuracy"])
    plain = results["methods"][0]
    assert plain["key"] == "plain" and plain["metrics"]["step_time_ratio"] == 1.0


def test_plain_training_curves_fall_as_the_attack_grows(quick_run):
    _, _, results, _ = quick_run
    plain = results["methods"][0]
    n = results["data"]["test_examples"]
    for name, curve in plain["curves"].items():
        acc = curve["accuracy"]
        # Non-increasing, up to one test example of sampling noise ...
        assert all(b <= a + 1.0 / n for a, b in zip(acc, acc[1:])), (name, acc)
        # ... and the strongest level costs clearly more than the weakest.
        assert acc[-1] < acc[1] - 0.05, (name, acc)
    # Robust accuracy under PGD is at most FGSM's at every ε (same ε grid).
    fgsm, pgd = plain["curves"]["fgsm_linf"]["accuracy"], plain["curves"]["pgd_linf"]["accuracy"]
    assert pgd[-1] <= fgsm[-1] + 1.0 / n


def test_weights_are_the_presets_defaults_and_are_printed(quick_run):
    _, _, results, out = quick_run
    config = ReportConfig(**{k: v for k, v in results["config"].items()
                             if k in ReportConfig.__dataclass_fields__})
    for method in results["methods"]:
        base = data_lib.default_model(tuple(results["data"]["input_shape"]), 10)
        expected = tuning.term_values(METHODS[method["key"]].build(base, config))
        assert method["configuration"]["weights_built"] == pytest.approx(expected)
        assert method["configuration"]["weights"] == pytest.approx(expected)
        line = "weights: " + "  ".join(f"{k}={v:.4g}" for k, v in expected.items())
        assert line in out, method["key"]
    assert "epoch 2/2" in out and "wall time" in out


def test_figures_and_page(quick_run):
    _, out, results, _ = quick_run
    assert results["figures"] == list(writer.FIGURES)
    page = (out / "report.html").read_text(encoding="utf-8")
    for name in writer.FIGURES:
        assert (out / name).read_bytes()[:8] == PNG
        assert f'<img src="{name}"' in page
    for method in results["methods"]:
        assert f"<tr><td>{method['method']}</td>" in page
    # One page with no network access: nothing fetched from elsewhere.
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page
    assert (out / "notes.txt").read_text() == "mine"


def test_existing_report_is_not_overwritten_without_overwrite(quick_run, capsys):
    _, out, _, _ = quick_run
    before = {name: (out / name).read_bytes() for name in writer.OUTPUTS}
    with pytest.raises(SystemExit) as error:
        cli.main(["report", "--quick", "--output-dir", str(out), "--methods", "plain"])
    assert error.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    assert before == {name: (out / name).read_bytes() for name in writer.OUTPUTS}


def test_overwrite_with_a_subset_of_methods_and_a_user_model(tmp_path, capsys):
    (tmp_path / "report.html").write_text("old")
    keras.utils.set_random_seed(0)
    model = data_lib.default_model((12, 12, 1), 10)
    model.save(tmp_path / "mine.keras")
    results = cli.run([
        "report", "--quick", "--overwrite", "--output-dir", str(tmp_path),
        "--methods", "vat,plain", "--model", str(tmp_path / "mine.keras"),
        "--train-size", "128", "--test-size", "64", "--epochs", "1",
        "--noise-levels", "0.2", "--epsilons", "0.05",
    ])
    assert [m["key"] for m in results["methods"]] == ["vat", "plain"]
    assert results["data"]["input_shape"] == [12, 12, 1]  # digits fit the model
    assert results["data"]["train_examples"] == 128
    assert results["methods"][0]["curves"]["noise"]["sigma"] == [0.0, 0.2]
    assert (tmp_path / "report.html").read_text() != "old"
    assert "--model" in results["data"]["model"]


def test_reference_timing_when_plain_is_not_requested(tmp_path):
    results = cli.run(["report", "--quick", "--quiet", "--output-dir", str(tmp_path),
                       "--methods", "loss_ibp", "--train-size", "128", "--test-size", "32",
                       "--epochs", "2"])
    assert [m["key"] for m in results["methods"]] == ["loss_ibp"]
    assert results["reference_step_ms"] > 0
    ratio = results["methods"][0]["metrics"]["step_time_ratio"]
    assert ratio == pytest.approx(results["methods"][0]["metrics"]["step_time_ms"]
                                  / results["reference_step_ms"])


def _bad(argv, capsys, *fragments):
    with pytest.raises(SystemExit) as error:
        cli.main(argv)
    assert error.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("keras-invariance report: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def test_unknown_methods(tmp_path, capsys):
    line = _bad(["report", "--output-dir", str(tmp_path), "--methods", "plain,irl,vatt"],
                capsys, "'irl'", "'vatt'", "irl_loss")
    assert "plain" in line.split("choose from")[1]
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("option, value, fragment", [
    ("--epsilons", "", "--epsilons"), ("--epsilons", "0.1,-0.2", "--epsilons"),
    ("--noise-levels", "", "--noise-levels"), ("--noise-levels", "0.1,x", "--noise-levels"),
    ("--noise", "-1", "--noise"),
])
def test_empty_or_negative_levels(tmp_path, capsys, option, value, fragment):
    _bad(["report", "--output-dir", str(tmp_path / "out"), option, value], capsys,
         fragment, "non-empty list of numbers ≥ 0")
    assert not (tmp_path / "out" / "results.json").exists()


def test_model_files_that_are_not_keras_models(tmp_path, capsys):
    _bad(["report", "--output-dir", str(tmp_path / "o"), "--model", str(tmp_path / "no.keras")],
         capsys, "no such file")
    bogus = tmp_path / "bogus.keras"
    bogus.write_text("not a model")
    _bad(["report", "--output-dir", str(tmp_path / "o"), "--model", str(bogus)],
         capsys, "is not a Keras model file")


@pytest.mark.parametrize("shape, fragment", [
    ((10, 10, 3), "digits cannot fill"), ((5,), "flat digits have shape (64,)"),
])
def test_model_whose_input_does_not_fit_the_data(tmp_path, capsys, shape, fragment):
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "m.keras")
    _bad(["report", "--output-dir", str(tmp_path / "o"), "--model", str(tmp_path / "m.keras")],
         capsys, fragment)


def test_model_checks_on_fitting_data():
    x = np.zeros((4, 16, 16, 1), "float32")
    softmax = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(data_lib.ReportError, match="ends with a softmax"):
        data_lib.check_model_fits(softmax, x, 10, "--model m.keras")
    few = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(3)])
    with pytest.raises(data_lib.ReportError, match=r"class scores \(batch, 10\)"):
        data_lib.check_model_fits(few, x, 10, "--model m.keras")
    with pytest.raises(data_lib.ReportError, match="takes inputs of shape"):
        data_lib.check_model_fits(few, np.zeros((4, 8, 8, 1), "float32"), 10, "m")


def test_unwritable_output_dir(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    _bad(["report", "--output-dir", str(tmp_path / "file" / "sub")], capsys, "cannot be written")
    _bad(["report", "--output-dir", str(tmp_path / "file")], capsys, "not a directory")


def test_image_only_methods_need_image_data(tmp_path, capsys):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.save(tmp_path / "flat.keras")
    _bad(["report", "--output-dir", str(tmp_path / "o"), "--model", str(tmp_path / "flat.keras"),
          "--methods", "plain,tangent_bp"], capsys, "tangent_bp need image inputs")


def test_tfds_data_that_is_not_prepared(tmp_path, capsys):
    pytest.importorskip("tensorflow_datasets")
    _bad(["report", "--output-dir", str(tmp_path / "o"), "--dataset", "mnist",
          "--data-dir", str(tmp_path / "tfds")], capsys, "not prepared", "tfds build mnist")


def test_quick_config_shrinks_but_keeps_what_was_given():
    config = ReportConfig(quick=True, epochs=4, train_size=100).resolved()
    assert (config.epochs, config.train_size, config.test_size) == (4, 100, 128)
    tfds = ReportConfig(dataset="mnist").resolved()
    assert (tfds.translation, tfds.rotation, tfds.train_size) == (3.0, 30.0, 10000)


def test_list_methods(capsys):
    cli.main(["report", "--list-methods"])
    out = capsys.readouterr().out
    for key, method in METHODS.items():
        assert key in out and method.call in out


def test_tfds_arrays_become_report_images():
    (x, y), (xt, yt) = data_lib.as_report_images(
        "toy", (np.full((3, 5, 5), 51, "uint8"), np.array([1, 2, 3], "int64")),
        (np.zeros((2, 5, 5), "uint8"), np.array([0, 1])))
    assert x.shape == (3, 5, 5, 1) and xt.shape == (2, 5, 5, 1)
    assert x.dtype == np.float32 and float(x.max()) == pytest.approx(0.2)
    assert y.dtype == np.int32
    with pytest.raises(data_lib.ReportError, match="needs images"):
        data_lib.as_report_images("text", (np.zeros((3, 7)), [0, 1, 2]), (np.zeros((1, 7)), [0]))
