"""`keras-invariance report`: the end-to-end quick run and every bad input."""

import json
import math
import os
import re

import keras
import numpy as np
import pytest

from keras_invariance.integrations import cli
from keras_invariance.integrations import tuning
from keras_invariance.integrations.report import METHODS
from keras_invariance.integrations.report import ReportConfig
from keras_invariance.integrations.report import data as data_lib
from keras_invariance.integrations.report import methods as methods_lib
from keras_invariance.integrations.report import writer

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


def test_quick_run_says_it_is_a_smoke_run(quick_run):
    _, out, results, stdout = quick_run
    assert results["smoke_run"] is True and results["notice"] == writer.SMOKE_BANNER
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method "))
    # The table opens with the banner (then the group row and the header) ...
    assert writer.SMOKE_BANNER in lines[header - 2]
    # ... and so do the run's first line and the summary.
    assert writer.SMOKE_BANNER in lines[0]
    summary = next(i for i, line in enumerate(lines) if line.startswith("SUMMARY"))
    assert writer.SMOKE_BANNER in lines[summary - 1]
    assert "one seed: no intervals" in stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f'<div class="banner">{writer.SMOKE_BANNER}</div>' in page
    assert results["statistics"]["seeds"] == [0]
    # One seed: no interval, nothing bold, no "best within uncertainty".
    assert all(v is None for m in results["methods"] for v in m["intervals"].values())
    assert not any(b["significant"] for b in results["best"].values())
    assert 'class="best"' not in page.split("<h2>All results</h2>")[1]


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
    assert "zero-padded to 12×12" in results["data"]["description"]
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


def test_seeds_give_per_seed_values_and_the_same_seed_the_same_run(tmp_path):
    small = ["--quick", "--quiet", "--methods", "plain", "--train-size", "128",
             "--test-size", "48", "--epochs", "1"]
    two = cli.run(["report", *small, "--seeds", "2", "--output-dir", str(tmp_path / "two")])
    one = cli.run(["report", *small, "--seeds", "1", "--output-dir", str(tmp_path / "one")])
    assert two["statistics"]["seeds"] == [0, 1]
    for method in two["methods"]:
        assert [run["seed"] for run in method["runs"]] == [0, 1]
        for key, values in method["per_seed"].items():
            assert len(values) == 2
            assert method["metrics"][key] == pytest.approx(sum(values) / 2)
        # Two seeds train two different networks ...
        assert method["runs"][0]["history"]["loss"] != method["runs"][1]["history"]["loss"]
        # ... and seed 0 of a two-seed report is the one-seed report's run.
        single = next(m for m in one["methods"] if m["key"] == method["key"])
        assert method["runs"][0]["history"] == single["runs"][0]["history"]
        assert method["runs"][0]["metrics"]["clean_accuracy"] == (
            single["runs"][0]["metrics"]["clean_accuracy"])
    plain = two["methods"][0]
    values = plain["per_seed"]["clean_accuracy"]
    spread = abs(values[0] - values[1]) / 2  # the sample standard deviation / √2
    assert plain["intervals"]["clean_accuracy"] == pytest.approx(12.7062047 * spread)
    saved = json.loads((tmp_path / "two" / "results.json").read_text())
    assert saved["methods"][0]["per_seed"] == two["methods"][0]["per_seed"]


def test_fair_mode_tunes_every_method_with_the_same_budget(tmp_path, capsys):
    results = cli.run(["report", "--quick", "--tune", "2", "--methods", "plain,fgsm_at",
                       "--train-size", "160", "--test-size", "48", "--epochs", "1",
                       "--tune-objective", "linf", "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "fair mode: 2 trials per method" in out
    plain, fgsm = results["methods"]
    assert plain["tuning"]["trials"] == 0 and "nothing to search" in plain["tuning"]["note"]
    tuning_info = fgsm["tuning"]
    assert tuning_info["trials"] == 2
    assert set(tuning_info["weights"]) == {"alpha", "beta", "perturbation.epsilon"}
    # The chosen weights are the ones the reported models trained with.
    for name, value in tuning_info["weights"].items():
        assert fgsm["configuration"]["weights"][name] == pytest.approx(value, rel=1e-6)
    assert tuning_info["note"] in out
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Fair mode" in page and tuning_info["note"] in page


def test_a_trial_below_the_clean_constraint_scores_below_every_other():
    from keras_invariance.integrations.report import tune

    class Scorer:
        def __init__(self, clean, robust):
            self.parts = {"clean": clean, "robust": robust}

        def score(self, trained):
            return self.parts

    class Model:
        base_model = None

        def fit(self, *args, **kwargs):
            pass

    config = ReportConfig(quick=True).resolved()
    scores = {}
    for name, clean, robust in (("keeps", 0.90, 0.30), ("breaks", 0.80, 0.95)):
        hypermodel = tune._MethodHyperModel(METHODS["vat"], lambda: None, config,
                                            Scorer(clean, robust), floor=0.85)
        scores[name] = hypermodel.fit(None, Model(), None, None)["score"]
    assert scores["keeps"] == pytest.approx(0.30)
    assert scores["breaks"] == pytest.approx(0.95 - tune.INFEASIBLE)
    assert scores["breaks"] < scores["keeps"]


def test_upscaled_digits_commute_with_integer_shifts():
    rng = np.random.default_rng(0)
    glyph = np.zeros((1, 8, 8, 1), "float32")
    glyph[0, 2:6, 2:6, 0] = rng.random((4, 4))
    shifted = np.roll(glyph, (1, -1), axis=(1, 2))
    big = data_lib.upscale(glyph, 2, 20)
    # Bilinear upscaling is shift-equivariant: one pixel before is two after.
    np.testing.assert_allclose(data_lib.upscale(shifted, 2, 20),
                               np.roll(big, (2, -2), axis=(1, 2)), atol=1e-6)
    # Constant regions stay constant; the frame is zero.
    flat = data_lib.upscale(np.full((1, 8, 8, 1), 0.5, "float32"), 2, 20)
    np.testing.assert_allclose(flat[0, 2:18, 2:18], 0.5, atol=1e-6)
    assert float(flat[0, :2].max()) == 0.0 and float(flat[0, 18:].max()) == 0.0
    (x, _), _ = data_lib.load_data("digits", train_size=10, test_size=5)
    assert x.shape[1:] == (20, 20, 1) and float(x[:, :2].max()) == 0.0


@pytest.mark.science
def test_the_grid_column_separates_plain_from_spatial_augmentation():
    from keras_invariance import spatial
    from keras_invariance.evaluation import spatial as spatial_eval
    from keras_invariance.integrations.report import training

    config = ReportConfig(epochs=10, seeds=1).resolved()
    (x, y), (xt, yt) = data_lib.load_data("digits")
    bases = training.BaseModels(config, x, 10)
    grid = spatial.spatial_grid(config.translation, config.rotation, config.grid)
    accuracy = {}
    for key in ("plain", "spatial_da"):
        model = training.compile_model(
            training.build_method(METHODS[key], bases, config, 0), config)
        model.fit(x, y, batch_size=config.batch_size, epochs=config.epochs, verbose=0)
        accuracy[key] = spatial_eval.grid_accuracy(model.base_model, xt[:config.grid_size],
                                                   yt[:config.grid_size], grid)
    # On the 8×8 digits both were 0.0; upscaled, the column reads.
    assert accuracy["plain"] > 0.02, accuracy
    assert accuracy["spatial_da"] > accuracy["plain"] + 0.1, accuracy
