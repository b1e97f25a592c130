"""Every derivative / adversarial term passes the engine's shared checks:
fit logs, save/load, XLA, bfloat16, MirroredStrategy, subclassed models."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import presets as dm
from keras_invariance.penalties import VAT
from keras_invariance.penalties import AdversarialLoss
from keras_invariance.penalties import Jacobian
from keras_invariance.penalties import LossIBP
from keras_invariance.perturbations.adversarial import PGD
from tests.derivative_checks import LOSS
from tests.derivative_checks import compiled
from tests.derivative_checks import data
from tests.derivative_checks import explicit_jacobian
from tests.derivative_checks import objective
from tests.derivative_checks import per_example_input_gradient
from tests.derivative_checks import tiny_mlp
from tests.engine_checks import mirrored_strategy


def test_bad_arguments():
    with pytest.raises(ValueError, match="1 or 2"):
        LossIBP(order=3)
    with pytest.raises(ValueError, match="int"):
        Jacobian(num_projections=0)
    with pytest.raises(ValueError, match="embedding_layer"):
        ki.InvariantModel(tiny_mlp(), penalties=[LossIBP(embedding_layer="nope")])


# ------------------------------------------------------- shared engine checks

#: Every derivative / adversarial term, as an `InvariantModel` factory over
#: a base model, with its randomness on.
TERMS = {
    "noise_regularization": lambda b: dm.NoiseRegularized(b, stddev=0.1, weight=0.5),
    "noise_regularization_adversarial": lambda b: dm.NoiseRegularized(
        b, stddev=0.1, adversarial=True, layers=["hid", "logits"]
    ),
    "jacobian": lambda b: dm.JacobianRegularized(b, weight=0.1),
    "jacobian_projections": lambda b: dm.JacobianRegularized(
        b, weight=0.1, num_projections=2, layers=["hid"]
    ),
    "vat": lambda b: dm.VAT(b),
    "loss_ibp": lambda b: dm.LossIBP(b, weight=0.1),
    "prediction_ibp": lambda b: dm.PredictionIBP(b, weight=0.1),
    "fgsm": lambda b: dm.AdversarialTraining(b, attack="fgsm", epsilon=0.1),
    "pgd_linf": lambda b: dm.AdversarialTraining(
        b, attack="pgd", epsilon=0.1, steps=2
    ),
    "pgd_l2_kl": lambda b: dm.AdversarialTraining(
        b, attack="pgd", epsilon=0.3, norm=2, steps=2, objective="kl"
    ),
    "at_kl": lambda b: dm.RegularizedAdversarialTraining(
        b, distance="kl", epsilon=0.1, steps=2
    ),
    "adversarial_loss": lambda b: ki.InvariantModel(
        b,
        penalties=[AdversarialLoss(PGD(0.1, steps=2))],
    ),
    "combined": lambda b: ki.IRL(
        b,
        perturbation=ki.perturbations.GaussianNoise(0.3),
        penalties=[VAT(), Jacobian(weight=0.1), LossIBP()],
    ),
}

METRICS = {
    "noise_regularization": ["noise_regularization"],
    "noise_regularization_adversarial": ["noise_regularization"],
    "jacobian": ["jacobian"],
    "jacobian_projections": ["jacobian"],
    "vat": ["vat"],
    "loss_ibp": ["loss_ibp"],
    "prediction_ibp": ["prediction_ibp"],
    "fgsm": ["clean_loss", "perturbed_loss"],
    "pgd_linf": ["perturbed_loss"],
    "pgd_l2_kl": ["perturbed_loss"],
    "at_kl": ["output_divergence", "perturbed_loss"],
    "adversarial_loss": ["adversarial_loss"],
    "combined": ["irl_distance", "vat", "jacobian", "loss_ibp"],
}


def train_data(rows=32, inputs=4, seed=0):
    x, y = data(rows=rows, inputs=inputs, seed=seed)
    return x, y


@pytest.mark.parametrize("name", sorted(TERMS))
def test_fit_logs_metric_and_save_load_round_trip(name, tmp_path):
    x, y = train_data()
    model = compiled(TERMS[name](tiny_mlp()))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for metric in METRICS[name]:
        assert metric in history.history, (metric, history.history.keys())
        assert np.isfinite(history.history[metric][-1])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    normalize = lambda c: json.loads(json.dumps(c, default=str))  # noqa: E731
    assert normalize(loaded.get_config()) == normalize(model.get_config())
    history = loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize("name", sorted(TERMS))
def test_jit_compile_and_mixed_bfloat16(name):
    x, y = train_data()
    model = TERMS[name](tiny_mlp())
    model.compile(optimizer="sgd", loss=LOSS, jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = compiled(TERMS[name](tiny_mlp()))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for metric in ["loss"] + METRICS[name]:
        assert np.isfinite(history.history[metric][-1]), metric


@pytest.mark.parametrize("name", sorted(TERMS))
def test_mirrored_strategy_equivalence(name):
    """Two replicas train to the same weights as one device (to ~1e-5),
    with every random draw on: Gaussian Δx, projection vectors, VAT's and
    the searches' random starts are keyed to (seed, step, example), so the
    replicas draw what the single device draws.
    """
    x, y = train_data()
    reference = tiny_mlp(seed=2)
    initial = reference.get_weights()

    def train(strategy):
        with strategy.scope():
            base = tiny_mlp(seed=2)
            base.set_weights(initial)
            keras.utils.set_random_seed(7)  # the same seeds in both builds
            model = TERMS[name](base)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return [w.numpy() for w in base.weights]

    single = train(tf.distribute.OneDeviceStrategy("CPU:0"))
    # One MirroredStrategy per process (see `engine_checks.mirrored_strategy`).
    mirrored = train(mirrored_strategy())
    moved = max(np.max(np.abs(s - w0)) for s, w0 in zip(single, initial))
    assert moved > 1e-4  # the terms really trained
    for s, m in zip(single, mirrored):
        np.testing.assert_allclose(s, m, atol=1e-5)


def test_jacobian_and_loss_ibp_on_a_subclassed_model_with_tap():
    class Net(ki.InvariantModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(5, activation="tanh")
            self.tap = ki.Tap("hidden_tap")
            self.out = keras.layers.Dense(3)

        def call(self, x):
            return self.out(self.tap(self.hidden(x)))

    keras.utils.set_random_seed(0)
    model = Net(
        penalties=[
            # The raw (paper-scale) terms have closed forms to check.
            Jacobian(layers=["hidden_tap"], num_projections=None, scale="paper"),
            LossIBP(order=2, scale="paper"),
        ]
    )
    x, y = data()
    model(x)
    model.compile(optimizer="sgd", loss=LOSS)
    _, terms = objective(model, x, y)
    plain = keras.Sequential([model.hidden])
    jac = explicit_jacobian(plain, x)
    np.testing.assert_allclose(
        float(terms["jacobian"]), np.mean(np.sum(jac**2, axis=(1, 2))), rtol=1e-5
    )
    g = per_example_input_gradient(model, x, y)
    np.testing.assert_allclose(
        float(terms["loss_ibp"]), np.mean(np.sum(g**2, 1)), rtol=1e-5
    )
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["jacobian"][-1])
