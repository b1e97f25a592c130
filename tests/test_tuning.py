"""Keras Tuner integration: an end-to-end search reaches the model's variables."""

import math

import keras
import keras_tuner
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance import callbacks
from keras_invariance import evaluation
from keras_invariance import tuning
from keras_invariance.datasets import digits
from keras_invariance.hyperparameters import value_of


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
    assert value_of(penalty.weight) == pytest.approx(values["gamma"], rel=1e-6)
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
    assert set(best.values) == {"alpha", "beta", "gamma", "cosine_weight"}
    model = hypermodel.build(best)
    _hp_reach_variables(model, best.values)
    # The best model reloads with the sampled values in its variables too.
    _hp_reach_variables(tuner.get_best_models(1)[0], best.values)


def test_build_defaults_are_the_irl_loss_preset():
    hp = keras_tuner.HyperParameters()
    model = tuning.IRLHyperModel(build_base=small_base).build(hp)
    assert hp.values == {"alpha": 0.5, "beta": 0.5, "gamma": 1.0, "cosine_weight": 1.0}
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
