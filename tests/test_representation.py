"""Per-layer activation distances and Jacobian norms against closed forms."""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance import evaluation
from keras_invariance.evaluation import representation
from tests.models import dropout_mlp_5_7_3 as mlp


def weights(model):
    (w1, b1), (w2, b2) = (model.get_layer(n).get_weights() for n in ("hidden", "out"))
    return w1, b1, w2, b2


def inputs(n=40, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 5)).astype("float32")


def test_default_layers_are_the_weighted_layers_then_logits():
    assert evaluation.default_layers(mlp()) == ["hidden", "logits"]
    wrapped = ki.IRL(mlp(), perturbation=ki.perturbations.GaussianNoise(0.1))
    assert evaluation.default_layers(wrapped) == ["hidden", "logits"]


def test_activation_distances_are_the_closed_form():
    model = mlp()
    w1, b1, w2, b2 = weights(model)
    x = inputs()
    x_noisy = x + np.random.default_rng(2).normal(0, 0.3, size=x.shape).astype("float32")
    got = evaluation.activation_distances(model, x, x_noisy, batch_size=16)
    for name, fn in (("hidden", lambda v: np.tanh(v @ w1 + b1)),
                     ("logits", lambda v: np.tanh(v @ w1 + b1) @ w2 + b2)):
        a, b = fn(x), fn(x_noisy)
        l2 = np.linalg.norm(a - b, axis=1).mean()
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert got[name]["l2"] == pytest.approx(l2, rel=1e-5)
        assert got[name]["cosine"] == pytest.approx(np.mean(1 - cos), rel=1e-4, abs=1e-7)
    # Dropout is off (inference mode): identical inputs are at distance 0.
    same = evaluation.activation_distances(model, x, x)
    assert all(v == {"l2": 0.0, "cosine": 0.0} for v in same.values())


def test_activation_distances_grow_with_the_noise():
    model = mlp()
    x = inputs()
    z = np.random.default_rng(3).normal(size=x.shape).astype("float32")
    small = evaluation.activation_distances(model, x, x + 0.05 * z, layers="logits")
    large = evaluation.activation_distances(model, x, x + 0.5 * z, layers="logits")
    assert list(small) == ["logits"]
    assert large["logits"]["l2"] > 5 * small["logits"]["l2"]


def test_exact_jacobian_norms_are_the_closed_form():
    model = mlp()
    w1, b1, w2, _ = weights(model)
    x = inputs()
    got = evaluation.jacobian_norms(model, x, batch_size=16)
    # ∂ tanh(xW1 + b1)/∂x = diag(1 − tanh²) W1ᵀ; the logits add W2ᵀ.
    slope = 1 - np.tanh(x @ w1 + b1) ** 2
    hidden = [np.linalg.norm(w1 * s) for s in slope]
    logits = [np.linalg.norm((w1 * s) @ w2) for s in slope]
    assert got["hidden"] == pytest.approx(np.mean(hidden), rel=1e-5)
    assert got["logits"] == pytest.approx(np.mean(logits), rel=1e-5)


def test_projected_jacobian_norms_estimate_the_exact_ones():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="out"),
    ])
    x = np.random.default_rng(0).random((24, 6, 6, 1)).astype("float32")
    exact = evaluation.jacobian_norms(model, x, max_exact_size=10_000)
    projected = evaluation.jacobian_norms(model, x, max_exact_size=0, num_projections=64)
    for name in exact:
        assert projected[name] == pytest.approx(exact[name], rel=0.05)
    # Different seeds give different (but close) estimates: they are draws.
    other = evaluation.jacobian_norms(model, x, max_exact_size=0, num_projections=64, seed=1)
    assert other["conv"] != projected["conv"]


def test_subclassed_models_are_read_through_taps():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4, activation="tanh")
            self.tap = ki.Tap("features")
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.tap(self.hidden(x)))

    net = Net()
    x = inputs()
    net(x)
    assert evaluation.default_layers(net) == ["features", "logits"]
    d = evaluation.activation_distances(net, x, x + 0.1)
    j = evaluation.jacobian_norms(net, x)
    assert set(d) == set(j) == {"features", "logits"}
    assert d["features"]["l2"] > 0 and j["logits"] > 0


def test_bad_arguments_are_clear():
    model = mlp()
    x = inputs()
    with pytest.raises(ValueError, match="No layer named 'nope'.*Available"):
        evaluation.activation_distances(model, x, x, layers="nope")
    with pytest.raises(ValueError, match="shape of `x`"):
        evaluation.activation_distances(model, x, x[:3])
    with pytest.raises(ValueError, match="float inputs"):
        evaluation.jacobian_norms(model, x.astype("int32"))
    with pytest.raises(ValueError, match="`num_projections`"):
        evaluation.jacobian_norms(model, x, num_projections=0)


def test_probes_are_compiled_once_per_model():
    model = mlp()
    x = inputs()
    evaluation.jacobian_norms(model, x)
    evaluation.activation_distances(model, x, x)
    probes = representation._PROBES[model]
    counts = {k: fn.experimental_get_tracing_count() for k, (_, fn) in probes.items()}
    evaluation.jacobian_norms(model, x + 1.0)
    evaluation.activation_distances(model, x, x + 1.0)
    assert {k: fn.experimental_get_tracing_count() for k, (_, fn) in probes.items()} == counts
