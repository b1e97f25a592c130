"""`validation_terms=True`: every term on validation data, as `val_<term>`.

Off by default, so `evaluate()` is exactly the plain model's. On, the
passes run in inference mode: validation never moves BatchNorm's moving
statistics, and the logged value is the objective's term on the held-out
batch.
"""

import keras
import numpy as np

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


def bn_mlp():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, name="hidden")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Activation("tanh")(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(h))


def irl(base, **kwargs):
    return ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.3, seed=1),
                  layers="above:hidden", **kwargs)


def test_by_default_evaluate_is_the_plain_models():
    x, y = tiny_data()
    model = irl(tiny_mlp())
    model.compile("sgd", SCCE, metrics=["accuracy"])
    plain = keras.models.clone_model(model.base_model)
    plain.set_weights(model.base_model.get_weights())
    plain.compile("sgd", SCCE, metrics=["accuracy"])
    ours = model.evaluate(x, y, verbose=0, return_dict=True)
    theirs = plain.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(ours) == sorted(theirs) == ["accuracy", "loss"]
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-6)


def test_fit_logs_val_terms_and_they_are_the_objectives_terms():
    x, y = tiny_data(n=48)
    model = irl(tiny_mlp(), validation_terms=True)
    model.compile("sgd", SCCE)
    history = model.fit(x[:32], y[:32], validation_data=(x[32:], y[32:]),
                        batch_size=16, epochs=2, verbose=0)
    for name in ("val_loss", "val_clean_loss", "val_perturbed_loss", "val_irl_distance"):
        assert name in history.history, sorted(history.history)
    # No regularizers: the clean loss is the plain validation loss.
    np.testing.assert_allclose(history.history["val_clean_loss"], history.history["val_loss"],
                               rtol=1e-6)
    logs = model.evaluate(x[32:], y[32:], batch_size=16, verbose=0, return_dict=True)
    # A model without BatchNorm or dropout: inference passes are the
    # training passes, so the terms equal the objective's on the same rows
    # and draws (keyed to the same step).
    _, terms = model.compute_objective(x[32:], y[32:])
    np.testing.assert_allclose(logs["irl_distance"], float(terms["irl_distance"]), rtol=1e-5)
    np.testing.assert_allclose(logs["perturbed_loss"], float(terms["perturbed_loss"]), rtol=1e-5)
    np.testing.assert_allclose(history.history["val_irl_distance"][-1], logs["irl_distance"],
                               rtol=1e-5)


def test_validation_runs_in_inference_mode():
    x, y = tiny_data(n=48)
    model = irl(bn_mlp(), validation_terms=True)
    model.compile("sgd", SCCE)
    model.fit(x[:32], y[:32], batch_size=16, epochs=1, verbose=0)
    before = [w.copy() for w in model.base_model.get_weights()]
    model.evaluate(x[32:], y[32:], verbose=0)
    for a, b in zip(before, model.base_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_on_a_val_term_needs_no_mode():
    x, y = tiny_data(n=48)
    model = irl(tiny_mlp(), validation_terms=True)
    model.compile("sgd", SCCE)
    stop = keras.callbacks.EarlyStopping(monitor="val_irl_distance", patience=1)
    model.fit(x[:32], y[:32], validation_data=(x[32:], y[32:]), epochs=2,
              verbose=0, callbacks=[stop])
    assert bool(stop.monitor_op(0.0, 1.0))  # lower is better


def test_config_round_trip():
    model = irl(tiny_mlp(), validation_terms=True)
    restored = ki.InvariantModel.from_config(model.get_config())
    assert restored.validation_terms is True
