"""Loss IBP and Prediction IBP against explicit input gradients and jvps."""


import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.ops import second_order
from keras_invariance.penalties import LossIBP
from keras_invariance.penalties import PredictionIBP
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
        ki.InvariantModel(base, penalties=[LossIBP(order=order, scale="paper")])
    )
    _, terms = objective(model, x, y)
    g = per_example_input_gradient(base, x, y)
    norms = np.sum(np.abs(g), 1) if order == 1 else np.sum(g**2, 1)
    np.testing.assert_allclose(float(terms["loss_ibp"]), norms.mean(), rtol=1e-5)


def test_loss_ibp_sample_weights_drop_unlabeled_rows():
    base = tiny_mlp()
    x, y = data()
    weights = np.array([1, 0, 1, 0, 1, 1, 0, 1], "float32")
    model = compiled(ki.InvariantModel(base, penalties=[LossIBP(order=2, scale="paper")]))
    _, terms = objective(model, x, y, tf.constant(weights))
    g = per_example_input_gradient(base, x, y)
    expected = np.mean(weights * np.sum(g**2, 1))
    np.testing.assert_allclose(float(terms["loss_ibp"]), expected, rtol=1e-5)


def test_loss_ibp_weight_gradient_matches_finite_differences():
    base = tiny_mlp()
    x, y = data()
    model = compiled(ki.InvariantModel(base, penalties=[LossIBP(order=2, scale="paper")]))
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


@pytest.mark.parametrize("jvp", ["forward", "double_vjp", "auto"])
@pytest.mark.parametrize("order", [1, 2])
def test_prediction_ibp_equals_explicit_jacobian_times_gradient(order, jvp):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[PredictionIBP(order=order, jvp=jvp, scale="paper")]
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
                base, penalties=[PredictionIBP(order=2, softmax=True, jvp=jvp)]
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
        ki.InvariantModel(base, alpha=0.0, penalties=[PredictionIBP()])
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


# ------------------------------------- graphs of BatchNorm / mean networks


def batch_norm_cnn(seed=0):
    """conv → BatchNorm → ReLU → global average pooling → dense: every mean
    that makes TensorFlow tile (keras_invariance.ops.second_order)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn")(h))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


def traced_objective(penalty, x, y, static_batch=False, monkeypatch=None):
    """(penalty value, weight gradients, clean-pass batch dimension), traced."""
    if static_batch:
        monkeypatch.setattr(second_order, "inputs_for", lambda model, s: s)
    base = batch_norm_cnn()
    model = compiled(ki.InvariantModel(base, penalties=[penalty]))
    seen = []
    forward = model._forward
    model._forward = lambda inputs, **kw: seen.append(inputs.shape[0]) or forward(inputs, **kw)

    @tf.function
    def run(x, y):
        with tf.GradientTape() as tape:
            total, terms = model.compute_objective(x, y)
        return terms[penalty.name], tape.gradient(total, base.trainable_weights)

    value, grads = run(tf.constant(x), tf.constant(y))
    if static_batch:
        monkeypatch.undo()
    return float(value), [None if g is None else g.numpy() for g in grads], seen


def image_data(rows=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, 6, 6, 2)).astype("float32"),
            rng.integers(0, 3, rows).astype("int32"))


@pytest.mark.parametrize("penalty", [
    lambda: PredictionIBP(order=1),
    lambda: PredictionIBP(order=2, softmax=True, scale="paper"),
    lambda: LossIBP(order=1),
])
def test_hidden_batch_graph_gives_the_static_graphs_value_and_gradient(penalty, monkeypatch):
    """The fast graph (batch dimension hidden, BroadcastTo instead of rank-8
    Tile) computes what the former static-shape double vjp computed."""
    x, y = image_data()
    new_value, new_grads, new_seen = traced_objective(penalty(), x, y)
    old_value, old_grads, old_seen = traced_objective(
        penalty(), x, y, static_batch=True, monkeypatch=monkeypatch
    )
    assert new_seen[0] is None and old_seen[0] == len(x)  # both paths ran
    np.testing.assert_allclose(new_value, old_value, rtol=1e-5)
    assert len(new_grads) == 6
    for new, old in zip(new_grads, old_grads):
        assert (new is None) == (old is None)
        if new is not None:
            np.testing.assert_allclose(new, old, rtol=1e-4, atol=1e-6)


def test_prediction_ibp_on_batch_norm_equals_forward_mode_of_the_batch():
    """With BatchNorm the rows interact: J_p·g is the jvp of the whole
    training-mode batch along g (every row moves, the statistics follow)."""
    x, y = image_data()
    value, grads, _ = traced_objective(PredictionIBP(order=2, scale="paper"), x, y)
    base = batch_norm_cnn()
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(xt)
            rows = keras.losses.sparse_categorical_crossentropy(
                y, base(xt, training=True), from_logits=True)
            summed = tf.reduce_sum(rows)
        g = tf.stop_gradient(inner.gradient(summed, xt))
        with tf.autodiff.ForwardAccumulator(xt, g) as accumulator:
            out = base(xt, training=True)
        reference = tf.reduce_mean(tf.reduce_sum(tf.square(accumulator.jvp(out)), -1))
        total = tf.reduce_mean(rows) + reference
    np.testing.assert_allclose(value, float(reference), rtol=1e-4)
    weights = base.trainable_weights
    for w, a, b in zip(weights, grads, tape.gradient(total, weights)):
        a = np.zeros(w.shape) if a is None else a
        b = np.zeros(w.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


# ------------------------------------------------------ noise regularization


def test_loss_ibp_at_embedding_equals_embedding_gradient():
    base = token_model()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[LossIBP(order=2, embedding_layer="emb", scale="paper")])
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
