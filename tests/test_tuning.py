"""Keras Tuner integration: an end-to-end search reaches the model's variables."""

import math

import keras
import keras_tuner
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance import evaluation
from keras_invariance.datasets import digits
from keras_invariance.integrations import callbacks
from keras_invariance.integrations import tuning
from keras_invariance.utils.hyperparameters import value_of


@pytest.fixture(scope="module")
def data():
    (x, y), (x_val, y_val) = digits.load_digits()
    return (x[:256], y[:256]), (x_val[:128], y_val[:128])


def small_base(hp):
    return digits.digits_classifier(hidden_units=(32, 32))


def _hp_reach_variables(model, values):
    assert value_of(model.alpha) == pytest.approx(values["alpha"], abs=1e-6)
    assert value_of(model.beta) == pytest.approx(values["beta"], abs=1e-6)
    (penalty,) = model.penalties
    assert penalty.name == "irl_distance"
    assert value_of(penalty.weight) == pytest.approx(values["weight"], rel=1e-6)
    assert value_of(penalty.distance.cosine_weight) == pytest.approx(
        values["cosine_weight"], abs=1e-6
    )


# Keras Tuner reloads the best model without its optimizer's slot variables.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_random_search_end_to_end(data, tmp_path):
    (x, y), (x_val, y_val) = data
    hypermodel = tuning.IRLHyperModel(build_base=small_base, noise_stddev=0.5)
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=tuning.objective("val_noisy_accuracy"),
        max_trials=2,
        directory=str(tmp_path),
        project_name="irl",
        seed=3,
    )
    tuner.search(
        x, y, epochs=1, batch_size=64, verbose=0,
        validation_data=(x_val, y_val),
        callbacks=[callbacks.NoisyValidation(x_val, y_val, stddev=0.5)],
    )
    trials = tuner.oracle.get_best_trials(num_trials=2)
    assert len(trials) == 2
    assert trials[0].hyperparameters.values != trials[1].hyperparameters.values
    for trial in trials:
        assert math.isfinite(trial.score) and 0.0 <= trial.score <= 1.0
        for name in ("val_accuracy", "val_loss", "irl_distance", "clean_loss",
                     "perturbed_loss", "loss"):
            value = trial.metrics.get_best_value(name)
            assert value is not None and math.isfinite(value), name

    best = tuner.get_best_hyperparameters()[0]
    assert set(best.values) == {"alpha", "beta", "weight", "cosine_weight"}
    model = hypermodel.build(best)
    _hp_reach_variables(model, best.values)
    # The best model reloads with the sampled values in its variables too.
    _hp_reach_variables(tuner.get_best_models(1)[0], best.values)


def test_build_defaults_are_the_irl_loss_preset():
    hp = keras_tuner.HyperParameters()
    model = tuning.IRLHyperModel(build_base=small_base).build(hp)
    default = ki.presets.irl.DEFAULT_WEIGHT
    assert hp.values == pytest.approx(
        {"alpha": 0.5, "beta": 0.5, "weight": default, "cosine_weight": 1.0}
    )
    _hp_reach_variables(model, hp.values)
    assert isinstance(model, ki.InvariantModel)
    assert model.compiled


def test_objective_is_a_noisy_copy_fixed_across_epochs():
    x = np.random.default_rng(0).uniform(size=(32, 64)).astype("float32")
    y = np.arange(32) % 10
    callback = callbacks.NoisyValidation(x, y, stddev=0.5, seed=1)
    np.testing.assert_array_equal(callback.x_noisy, evaluation.add_gaussian_noise(x, 0.5, 1))
    model = digits.digits_classifier(hidden_units=(8,))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    expected = evaluation.clean_accuracy(model, callback.x_noisy, y)
    assert history.history["val_noisy_accuracy"][-1] == expected
    assert 0.0 <= evaluation.noisy_accuracy(model, x, y, 0.5, draws=2) <= 1.0


def test_missing_tensorboard_says_what_to_install(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a),
    )
    with pytest.raises(ImportError, match="pip install tensorboard"):
        tuning.IRLHyperModel()


def test_objective_names():
    assert tuning.objective("val_accuracy").direction == "max"
    assert tuning.objective("irl_distance").direction == "min"
    with pytest.raises(ValueError, match="keras_tuner.Objective"):
        tuning.objective("val_acc")


# ------------------------------------------------- any configuration's weights


def test_term_hyperparameters_are_the_model_variables():
    model = ki.IRL(
        small_base(None), perturbation=ki.perturbations.GaussianNoise(0.3), layers="above:hidden_2"
    )
    found = tuning.term_hyperparameters(model)
    assert list(found)[:3] == ["alpha", "beta", "perturbation.stddev"]
    assert found["irl_distance.weight"] is model.penalties[0].weight
    assert found["irl_distance.cosine_weight"] is model.penalties[0].distance.cosine_weight
    assert "irl_distance.layer_weight_hidden_2" in found
    assert tuning.term_values(model)["perturbation.stddev"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="InvariantModel"):
        tuning.term_hyperparameters(small_base(None))


@pytest.mark.parametrize("configure, expected", [
    (lambda b: ki.VAT(b), {"vat.weight", "vat.epsilon"}),
    (lambda b: ki.LossIBP(b), {"loss_ibp.weight"}),
    (lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.3)),
     {"alpha", "beta", "perturbation.stddev", "irl_distance.weight"}),
    (lambda b: ki.AdversarialTraining(b, attack="pgd"),
     {"alpha", "beta", "perturbation.epsilon"}),
    (lambda b: ki.NoiseRegularized(b), {"noise_regularization.weight",
                                        "noise_regularization.stddev"}),
])
def test_search_space_follows_the_configuration(configure, expected):
    hypermodel = tuning.InvariantHyperModel(configure, build_base=small_base)
    model = configure(small_base(None))
    space = hypermodel.search_space(model)
    assert set(space) == expected
    values = tuning.term_values(model)
    for name, (low, high, sampling) in space.items():
        v = values[name]
        if name in ("alpha", "beta"):
            assert (low, high, sampling) == (0.0, 1.0, "linear")
        elif name.endswith(".weight"):
            assert (low, high, sampling) == (pytest.approx(v / 10), pytest.approx(v * 10), "log")
        else:
            assert (low, high, sampling) == (pytest.approx(v / 4), pytest.approx(v * 4), "log")
    # Its defaults are the built values: an untouched hp builds the preset.
    hp = keras_tuner.HyperParameters()
    built = hypermodel.build(hp)
    for name in expected:
        assert value_of(tuning.term_hyperparameters(built)[name]) == pytest.approx(
            values[name], rel=1e-6)


def test_sampled_values_reach_the_variables_and_pgd_keeps_its_step_ratio():
    configure = lambda b: ki.AdversarialTraining(b, attack="pgd", epsilon=0.1, steps=4)  # noqa: E731
    hypermodel = tuning.InvariantHyperModel(configure, build_base=small_base,
                                            ranges={"perturbation.epsilon": (0.2, 0.2)})
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert value_of(model.perturbation.epsilon) == pytest.approx(0.2)
    # 2.5·ε/steps at the built ε = 0.1, rescaled with ε.
    assert value_of(model.perturbation.step_size) == pytest.approx(2.5 * 0.2 / 4)


def test_ranges_and_fixed_are_checked_against_the_configuration():
    # ξ is a hyperparameter only in the finite-difference form (xi > 0).
    configure = lambda b: ki.VAT(b, xi=1e-6)  # noqa: E731
    model = configure(small_base(None))
    fixed = tuning.InvariantHyperModel(configure, fixed=["vat.epsilon"],
                                       ranges={"vat.xi": (1e-7, 1e-5, "log")})
    assert set(fixed.search_space(model)) == {"vat.weight", "vat.xi"}
    with pytest.raises(ValueError, match=r"\['vat.eps'\] are not terms.*'vat.epsilon'"):
        tuning.InvariantHyperModel(configure, fixed=["vat.eps"]).search_space(model)
    with pytest.raises(ValueError, match="low ≤ high"):
        tuning.InvariantHyperModel(configure, ranges={"vat.weight": (2, 1)}).search_space(model)
    with pytest.raises(ValueError, match="log scale needs low > 0"):
        tuning.InvariantHyperModel(
            configure, ranges={"vat.weight": (0, 1, "log")}).search_space(model)
    with pytest.raises(ValueError, match="`configure`"):
        tuning.InvariantHyperModel("vat")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_invariant_search_end_to_end(data, tmp_path):
    (x, y), (x_val, y_val) = data
    hypermodel = tuning.InvariantHyperModel(
        lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.5)), build_base=small_base
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=tuning.objective("irl_distance"), max_trials=2,
        directory=str(tmp_path), project_name="any", seed=5)
    tuner.search(x, y, epochs=1, batch_size=64, verbose=0, validation_data=(x_val, y_val))
    best = tuner.get_best_hyperparameters()[0].values
    assert set(best) == {"alpha", "beta", "perturbation.stddev", "irl_distance.weight"}
    reloaded = tuner.get_best_models(1)[0]
    for name, value in best.items():
        assert value_of(tuning.term_hyperparameters(reloaded)[name]) == pytest.approx(
            value, rel=1e-6)
