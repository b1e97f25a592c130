"""Loss IBP and Prediction IBP against explicit input gradients and jvps."""


import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.penalties import LossIBPPenalty
from keras_invariance.penalties import PredictionIBPPenalty
from tests.derivative_checks import compiled
from tests.derivative_checks import data
from tests.derivative_checks import explicit_jacobian
from tests.derivative_checks import objective
from tests.derivative_checks import per_example_input_gradient
from tests.derivative_checks import tiny_mlp
from tests.derivative_checks import token_model


@pytest.mark.parametrize("order", [1, 2])
def test_loss_ibp_equals_input_gradient_norm(order):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, penalties=[LossIBPPenalty(order=order, normalize=False)])
    )
    _, terms = objective(model, x, y)
    g = per_example_input_gradient(base, x, y)
    norms = np.sum(np.abs(g), 1) if order == 1 else np.sum(g**2, 1)
    np.testing.assert_allclose(float(terms["loss_ibp"]), norms.mean(), rtol=1e-5)


def test_loss_ibp_sample_weights_drop_unlabeled_rows():
    base = tiny_mlp()
    x, y = data()
    weights = np.array([1, 0, 1, 0, 1, 1, 0, 1], "float32")
    model = compiled(ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2, normalize=False)]))
    _, terms = objective(model, x, y, tf.constant(weights))
    g = per_example_input_gradient(base, x, y)
    expected = np.mean(weights * np.sum(g**2, 1))
    np.testing.assert_allclose(float(terms["loss_ibp"]), expected, rtol=1e-5)


def test_loss_ibp_weight_gradient_matches_finite_differences():
    base = tiny_mlp()
    x, y = data()
    model = compiled(ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2, normalize=False)]))
    weights = model.trainable_weights
    with tf.GradientTape() as tape:
        _, terms = objective(model, x, y)
        value = terms["loss_ibp"]
    grads = tape.gradient(value, weights)
    rng = np.random.default_rng(1)
    direction = [rng.normal(size=w.shape).astype("float32") for w in weights]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction))
    original = [w.numpy() for w in weights]
    h = 1e-2

    def value_at(step):
        for w, w0, d in zip(weights, original, direction):
            w.assign(w0 + step * d)
        return float(objective(model, x, y)[1]["loss_ibp"])

    numeric = (value_at(h) - value_at(-h)) / (2 * h)
    value_at(0.0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-2)


# ---------------------------------------------------------- Prediction IBP


@pytest.mark.parametrize("jvp", ["forward", "double_vjp"])
@pytest.mark.parametrize("order", [1, 2])
def test_prediction_ibp_equals_explicit_jacobian_times_gradient(order, jvp):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[PredictionIBPPenalty(order=order, jvp=jvp, normalize=False)]
        )
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x)  # (rows, K, D)
    g = per_example_input_gradient(base, x, y)  # (rows, D)
    directional = np.einsum("rkd,rd->rk", jac, g)
    norms = (
        np.sum(np.abs(directional), 1) if order == 1 else np.sum(directional**2, 1)
    )
    np.testing.assert_allclose(
        float(terms["prediction_ibp"]), norms.mean(), rtol=1e-4
    )


def test_prediction_ibp_jvp_modes_give_the_same_weight_gradient():
    x, y = data()
    grads = {}
    for jvp in ("forward", "double_vjp"):
        base = tiny_mlp()
        model = compiled(
            ki.InvariantModel(
                base, penalties=[PredictionIBPPenalty(order=2, softmax=True, jvp=jvp)]
            )
        )
        with tf.GradientTape() as tape:
            total, _ = objective(model, x, y)
        grads[jvp] = tape.gradient(total, base.trainable_weights)
    for a, b in zip(grads["forward"], grads["double_vjp"]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_prediction_ibp_trains_weights_through_the_jvp():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, alpha=0.0, penalties=[PredictionIBPPenalty()])
    )
    with tf.GradientTape() as tape:
        _, terms = objective(model, x, y)
        value = terms["prediction_ibp"]
    weights = model.trainable_weights
    grads = dict(zip([w.path for w in weights], tape.gradient(value, weights)))
    # J_p·g does not depend on the output bias; every other weight trains.
    for path, g in grads.items():
        if path.endswith("out/bias"):
            assert g is None
        else:
            assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0, path


# ------------------------------------------------------ noise regularization


def test_loss_ibp_at_embedding_equals_embedding_gradient():
    base = token_model()
    model = compiled(
        ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2, embedding_layer="emb", normalize=False)])
    )
    x = np.random.default_rng(0).integers(0, 20, (8, 6)).astype("int32")
    y = np.random.default_rng(1).integers(0, 3, 8).astype("int32")
    _, terms = objective(model, x, y)
    emb = base.get_layer("emb")
    tail = keras.Model(emb.output, base.output)
    e = emb(x)
    with tf.GradientTape() as tape:
        tape.watch(e)
        total = tf.reduce_sum(
            keras.losses.sparse_categorical_crossentropy(y, tail(e), from_logits=True)
        )
    g = tape.gradient(total, e).numpy().reshape(8, -1)
    np.testing.assert_allclose(
        float(terms["loss_ibp"]), np.mean(np.sum(g**2, 1)), rtol=1e-5
    )
