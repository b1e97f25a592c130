"""`InvariantModel.export` gives the plain serving signature, for every kind."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from tests.engine_checks import SCCE


class Net(ki.InvariantModel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(5, activation="tanh")
        self.tap = ki.Tap("hidden")
        self.out = keras.layers.Dense(3)

    def call(self, x):
        return self.out(self.tap(self.hidden(x)))


def build(kind):
    noise = ki.perturbations.GaussianNoise(0.1)
    if kind == "wrapped":
        base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        return ki.IRL(base, perturbation=noise)
    if kind == "functional":
        inputs = keras.Input((4,))
        return ki.InvariantModel(inputs, keras.layers.Dense(3)(inputs), alpha=0.5,
                                 beta=0.5, perturbation=noise)
    return Net(perturbation=noise, alpha=0.5, beta=0.5,
               penalties=[ki.penalties.ActivationDistance(layers=["hidden"])])


@pytest.mark.parametrize("kind", ["wrapped", "functional", "subclassed"])
def test_export_after_fit_serves_the_plain_predictions(kind, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model = build(kind)
    model.compile("sgd", SCCE)
    model.fit(x, np.zeros(8, "int32"), verbose=0)
    path = str(tmp_path / "served")
    model.export(path)
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(
        served.serve(tf.constant(x)).numpy(), model.predict(x, verbose=0), atol=1e-5
    )
