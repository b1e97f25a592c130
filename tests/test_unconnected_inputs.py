"""Inputs without a gradient path, and models without trainable weights.

A float input that reaches the outputs only through a comparison (a mask),
or not at all, has no gradient: FGSM (both modes), PGD and VAT must leave
it exactly where it is and move the other inputs by their closed-form step
(as Neural Structured Learning does), unless the user asks for an error
naming it. A model with no trainable weights trains (plain Keras warns).
"""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def masked_model():
    """logits = (W a + b) ⊙ [m > 0.5]: `mask` reaches the outputs, without a gradient."""
    keras.utils.set_random_seed(0)
    a = keras.Input((4,), name="features")
    m = keras.Input((3,), name="mask")
    logits = keras.layers.Dense(3, name="logits")(a)
    gate = keras.layers.Lambda(lambda t: keras.ops.cast(t > 0.5, "float32"))(m)
    return keras.Model([a, m], keras.layers.Multiply()([logits, gate]))


def data(n=6):
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(n, 4)).astype("float32"),
         rng.uniform(0.6, 1.0, size=(n, 3)).astype("float32")]
    return x, rng.integers(0, 3, n).astype("int32")


def loss_gradient(base, x, y):
    a = tf.constant(x[0])
    with tf.GradientTape() as tape:
        tape.watch(a)
        loss = SCCE(y, base([a, tf.constant(x[1])]))
    return tape.gradient(loss, a).numpy()


@pytest.mark.parametrize("reuse", [False, True])
def test_fgsm_moves_the_connected_input_by_its_sign_and_keeps_the_mask(reuse):
    base = masked_model()
    model = ki.InvariantModel(base, beta=1.0, perturbation=ki.perturbations.FGSM(
        0.1, reuse_clean_pass=reuse))
    model.compile("sgd", SCCE)
    x, y = data()
    x_adv = model.perturb_on_batch(x, y)
    np.testing.assert_array_equal(x_adv[1], x[1])
    np.testing.assert_allclose(
        x_adv[0], x[0] + np.float32(0.1) * np.sign(loss_gradient(base, x, y)), atol=1e-6)
    assert np.isfinite(model.fit(x, y, verbose=0).history["perturbed_loss"][0])


@pytest.mark.parametrize("norm", ["inf", 2, 1])
def test_pgd_from_a_random_start_never_moves_the_mask(norm):
    model = ki.InvariantModel(masked_model(), beta=1.0, perturbation=ki.perturbations.PGD(
        0.2, norm=norm, steps=3, seed=1))
    model.compile("sgd", SCCE)
    x, y = data()
    x_adv = model.perturb_on_batch(x, y)
    np.testing.assert_array_equal(x_adv[1], x[1])
    assert np.all(np.abs(x_adv[0] - x[0]).max(-1) > 0)
    model.fit(x, y, verbose=0)


def test_vat_moves_the_connected_input_by_epsilon_and_keeps_the_mask():
    model = ki.VAT(masked_model(), epsilon=0.5)
    model.compile("sgd", SCCE)
    x, y = data()
    x_adv = model.perturb_on_batch(x, y)
    np.testing.assert_array_equal(x_adv[1], x[1])
    np.testing.assert_allclose(np.linalg.norm(x_adv[0] - x[0], axis=-1), 0.5, rtol=1e-4)
    assert np.isfinite(model.fit(x, y, verbose=0).history["vat"][0])


def test_the_error_names_the_input_when_asked_for():
    model = ki.AdversarialTraining(masked_model(), unconnected_inputs="raise")
    model.compile("sgd", SCCE)
    x, y = data()
    with pytest.raises(ValueError, match=r"\['mask'\] have no gradient path"):
        model.fit(x, y, verbose=0)
    assert model.get_config()["unconnected_inputs"] == "raise"
    with pytest.raises(ValueError, match="unconnected_inputs"):
        ki.InvariantModel(masked_model(), unconnected_inputs="ignore")


def test_a_model_that_ignores_its_input_is_left_alone():
    inputs = keras.Input((4,))
    constant = keras.layers.Lambda(lambda t: keras.ops.zeros_like(t[:, :3]))(inputs)
    model = ki.AdversarialTraining(keras.Model(inputs, keras.layers.Dense(3)(constant)))
    model.compile("sgd", SCCE)
    x, y = data()
    np.testing.assert_array_equal(model.perturb_on_batch(x[0], y), x[0])
    logs = model.fit(x[0], y, verbose=0).history
    np.testing.assert_allclose(logs["perturbed_loss"], logs["clean_loss"], rtol=1e-6)


def test_a_model_without_trainable_weights_fits_and_warns_like_keras():
    inputs = keras.Input((3,))
    base = keras.Model(inputs, keras.layers.Activation("linear")(inputs))
    model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1))
    model.compile("sgd", SCCE)
    x, y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logs = model.fit(x[1], y, verbose=0).history
    assert any("trainable weights" in str(w.message) for w in caught)
    assert np.isfinite(logs["loss"][0]) and logs["irl_distance"][0] > 0


def test_prediction_ibp_treats_an_input_without_gradient_as_constant():
    """Its double vjp used to fail on the mask ("None ... to a Tensor"); the
    mask's gradient is 0, so on the paper's raw scale the term equals the
    same network's on the features alone."""
    base = masked_model()
    model = ki.PredictionIBP(base, scale="paper")
    model.compile("sgd", SCCE)
    x, y = data()
    value = float(model.compute_objective(x, y)[1]["prediction_ibp"])
    a = keras.Input((4,))
    features_only = keras.Model(a, keras.layers.Dense(3)(a))
    features_only.set_weights(base.get_layer("logits").get_weights())
    reference = ki.PredictionIBP(features_only, scale="paper")
    reference.compile("sgd", SCCE)
    expected = float(reference.compute_objective(x[0], y)[1]["prediction_ibp"])
    assert value > 0
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert np.isfinite(model.fit(x, y, verbose=0).history["prediction_ibp"][0])
