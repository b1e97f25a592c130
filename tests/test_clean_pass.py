"""Fast AT's clean pass runs off the weight tape, and the step is unchanged.

`keras_invariance.engine.clean_pass`: with α = 0, a perturbation that reads the
clean pass (FGSM reusing ∇x L) and no penalty, the clean pass is not
recorded for the weight gradient. The update must still be exactly the
gradient of β·L(x*), and raising α later must bring the clean term back.
"""

import keras
import numpy as np
import tensorflow as tf

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.models import sequential_mlp_5_7_3 as mlp

EPS = 0.2


def batch(rows=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 5)).astype("float32"), rng.integers(0, 3, rows).astype("int32")


def manual_step(base, x, y, alpha, beta, lr):
    """One SGD step on α·L(x) + β·L(x + ε/2·sign ∇x L(x)), by hand."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        clean = SCCE(y, base(x, training=True))
    x_star = x + (EPS / 2) * tf.sign(tape.gradient(clean, x))
    with tf.GradientTape() as tape:
        total = (alpha * SCCE(y, base(x, training=True))
                 + beta * SCCE(y, base(x_star, training=True)))
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
