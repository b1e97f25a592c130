"""`perturb_on_batch`: the perturbed batch a model trains on, for every preset.

It must return what the training step draws at the same step (same keyed
draws), work for the presets that perturb inputs (noise, searches, spatial
searches, VAT, noise regularization), say why for the ones that only take
derivatives, accept a perturbation given for the call, change nothing in
the model, and leave sparse inputs as they are.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


def image_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))


def image_data(n=4):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(n, 8, 8, 1)).astype("float32"), rng.integers(0, 3, n).astype("int32")


PERTURBING = {
    "irl": lambda b: ki.IRL(
        b, perturbation=ki.perturbations.GaussianNoise(0.1, seed=1), num_samples=2
    ),
    "fgsm": lambda b: ki.AdversarialTraining(b),
    "fast": lambda b: ki.AdversarialTraining(b, attack="fast"),
    "pgd": lambda b: ki.AdversarialTraining(b, attack="pgd", steps=2),
    "trades": lambda b: ki.RegularizedAdversarialTraining(b, steps=2),
    "vat": lambda b: ki.VAT(b),
    "noise_regularized": lambda b: ki.NoiseRegularized(b, stddev=0.2),
}


@pytest.mark.parametrize("name", sorted(PERTURBING))
def test_every_perturbing_preset_returns_its_batch(name):
    x, y = tiny_data(8)
    model = PERTURBING[name](tiny_mlp())
    model.compile("sgd", SCCE)
    weights = [w.numpy().copy() for w in model.weights]
    x_tilde = model.perturb_on_batch(x, y)
    rows = 16 if name == "irl" else 8
    assert isinstance(x_tilde, np.ndarray) and x_tilde.shape == (rows, 6)
    assert 0 < np.abs(x_tilde - np.concatenate([x] * (rows // 8))).max() < 5
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_the_spatial_preset_returns_its_search():
    x, y = image_data()
    model = ki.SpatialInvariance(image_model(), preset="at_kl", k=2, seed=0)
    model.compile("sgd", SCCE)
    assert model.perturb_on_batch(x, y).shape == x.shape


def test_it_is_what_the_training_step_draws():
    x, y = tiny_data(8)
    model = ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.2, seed=4))
    model.compile("sgd", SCCE)
    x_tilde = model.perturb_on_batch(x, y)
    _, drawn = model.compute_objective(x, y)
    _, given = model.compute_objective(x, y, x_perturbed=x_tilde)
    for key in drawn:
        np.testing.assert_allclose(drawn[key], given[key], rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("build", [
    lambda b: ki.JacobianRegularized(b, num_projections=1),
    lambda b: ki.LossIBP(b),
])
def test_derivative_presets_say_why_and_take_a_perturbation(build):
    x, y = tiny_data(8)
    model = build(tiny_mlp())
    model.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="draws no perturbed inputs"):
        model.perturb_on_batch(x, y)
    x_adv = model.perturb_on_batch(x, y, perturbation=ki.perturbations.FGSM(0.05))
    np.testing.assert_allclose(np.abs(x_adv - x), 0.05, rtol=1e-5)


def test_terms_are_chosen_by_name():
    x, y = tiny_data(8)
    model = ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1),
                   penalties=[ki.penalties.VAT(epsilon=0.5)])
    model.compile("sgd", SCCE)
    x_vat = model.perturb_on_batch(x, y, term="vat")
    np.testing.assert_allclose(np.linalg.norm(x_vat - x, axis=-1), 0.5, rtol=1e-4)
    with pytest.raises(ValueError, match="choose one of"):
        model.perturb_on_batch(x, y, term="jacobian")
    pgd = ki.AdversarialTraining(tiny_mlp(), attack="pgd")
    with pytest.raises(ValueError, match="compile"):
        pgd.perturb_on_batch(x, y)
    pgd.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="pass the batch's labels"):
        pgd.perturb_on_batch(x)


def sparse_model():
    keras.utils.set_random_seed(0)
    dense = keras.Input((4,), name="features")
    bag = keras.Input((6,), name="bag", sparse=True)
    h = keras.layers.Concatenate()([keras.layers.Dense(3)(dense), keras.layers.Dense(3)(bag)])
    return keras.Model([dense, bag], keras.layers.Dense(3)(h))


def sparse_data(n=8):
    rng = np.random.default_rng(0)
    bag = (rng.random((n, 6)) < 0.3).astype("float32")
    x = (rng.normal(size=(n, 4)).astype("float32"), tf.sparse.from_dense(bag))
    return x, rng.integers(0, 3, n).astype("int32")


@pytest.mark.parametrize("build", [
    lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.1), num_samples=2),
    lambda b: ki.AdversarialTraining(b),
    lambda b: ki.AdversarialTraining(b, attack="pgd", steps=2),
    lambda b: ki.VAT(b),
])
def test_sparse_inputs_train_and_stay_as_they_are(build):
    x, y = sparse_data()
    model = build(sparse_model())
    model.compile("sgd", SCCE)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    logs = model.fit(dataset, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    features, bag = model.perturb_on_batch(x, y)
    copies = len(features) // 8
    assert isinstance(bag, tf.SparseTensor)
    np.testing.assert_array_equal(
        tf.sparse.to_dense(bag), np.concatenate([tf.sparse.to_dense(x[1])] * copies))
    assert np.abs(features - np.concatenate([x[0]] * copies)).max() > 0


def test_a_model_whose_only_input_is_sparse_is_told_at_construction():
    bag = keras.Input((6,), sparse=True)
    base = keras.Model(bag, keras.layers.Dense(3)(bag))
    with pytest.raises(ValueError, match="Sparse inputs are left as they are"):
        ki.AdversarialTraining(base)
