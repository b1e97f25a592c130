"""Fast AT's clean pass runs off the weight tape, and the step is unchanged.

`keras_invariance.engine.clean_pass`: with α = 0, a perturbation that reads the
clean pass (FGSM reusing ∇x L) and no penalty, the clean pass is not
recorded for the weight gradient. The update must still be exactly the
gradient of β·L(x*), and raising α later must bring the clean term back.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.models import sequential_mlp_5_7_3 as mlp

EPS = 0.2


def batch(rows=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 5)).astype("float32"), rng.integers(0, 3, rows).astype("int32")


def manual_step(base, x, y, alpha, beta, lr, call_losses=False):
    """One SGD step on α·L(x) + β·L(x + ε/2·sign ∇x L(x)), by hand, plus the
    clean pass's call-time losses when `call_losses`."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        clean = SCCE(y, base(x, training=True))
    x_star = x + (EPS / 2) * tf.sign(tape.gradient(clean, x))
    with tf.GradientTape() as tape:
        clean = SCCE(y, base(x, training=True))
        # Read before the x* pass, which replaces the layers' call-time losses.
        extra = tf.add_n(base.losses) if call_losses else 0.0
        total = alpha * clean + beta * SCCE(y, base(x_star, training=True)) + extra
    grads = tape.gradient(total, base.trainable_weights)
    return [w.numpy() - lr * g.numpy() for w, g in zip(base.trainable_weights, grads)]


def fast_at(base):
    model = ki.AdversarialTraining(base, attack="fast", epsilon=EPS, check_finite=False)
    model.compile(keras.optimizers.SGD(0.1), SCCE)
    return model


def test_fast_at_step_is_the_gradient_of_the_adversarial_loss():
    x, y = batch()
    model = fast_at(mlp())
    expected = manual_step(mlp(), x, y, alpha=0.0, beta=1.0, lr=0.1)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert model._untracked.alpha_zero
    for got, want in zip(model.base_model.trainable_weights, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)


def test_raising_alpha_after_training_brings_the_clean_term_back():
    x, y = batch()
    model = fast_at(mlp())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    twin = mlp()
    twin.set_weights(model.base_model.get_weights())
    model.alpha.assign(0.5)
    expected = manual_step(twin, x, y, alpha=0.5, beta=1.0, lr=0.1)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert not model._untracked.alpha_zero
    for got, want in zip(model.base_model.trainable_weights, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)


def test_a_penalty_keeps_the_clean_pass_on_the_tape():
    model = ki.AdversarialTraining(mlp(), attack="fast", epsilon=EPS,
                                   penalties=[ki.penalties.OutputDivergence("kl")])
    model.compile(keras.optimizers.SGD(0.1), SCCE)
    x, y = batch()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not model._untracked.alpha_zero


class _AddsLoss(keras.layers.Layer):
    """`add_loss` in `call()`: a call-time loss no attribute announces."""

    def call(self, x):
        self.add_loss(0.3 * keras.ops.mean(keras.ops.square(x)))
        return x


def _regularized_mlp(kind):
    keras.utils.set_random_seed(1)
    hidden = keras.layers.Dense(
        7, activation="tanh",
        activity_regularizer=keras.regularizers.L2(0.5) if kind == "activity" else None)
    layers = [keras.Input((5,)), hidden] + ([_AddsLoss()] if kind == "add_loss" else [])
    return keras.Sequential(layers + [keras.layers.Dense(3)])


@pytest.mark.parametrize("run_eagerly", [False, True])
@pytest.mark.parametrize("kind", ["activity", "add_loss"])
def test_call_time_losses_keep_their_gradient_in_fast_at(kind, run_eagerly):
    # Paused, the clean pass's activity / add_loss terms entered the logged
    # objective without a gradient: the update ignored them.
    x, y = batch()
    model = ki.AdversarialTraining(_regularized_mlp(kind), attack="fast", epsilon=EPS,
                                   check_finite=False)
    model.compile(keras.optimizers.SGD(0.1), SCCE, run_eagerly=run_eagerly)
    expected = manual_step(_regularized_mlp(kind), x, y, alpha=0.0, beta=1.0, lr=0.1,
                           call_losses=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for got, want in zip(model.base_model.trainable_weights, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    if kind == "activity":
        assert not model._untracked.alpha_zero  # known before tracing
    elif not run_eagerly:
        assert model._untracked.call_losses  # found while tracing, then re-traced
