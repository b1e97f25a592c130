"""VAT: the power iteration finds the Fisher / JᵀJ top eigenvector (seed §3.4),
runs on unlabeled rows, keeps the search out of BatchNorm and the update."""

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import presets as dm
from keras_invariance.ops import numerics
from keras_invariance.penalties.vat import VAT

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
D, K = 6, 4


def linear_softmax(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((D,)), keras.layers.Dense(K, name="out")])


def batch(rows=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(rows, D)).astype("float32"),
        rng.integers(0, K, rows).astype("int32"),
    )


def context_for(model, x, y=None):
    ctx = model.step_context(tf.constant(x), y)
    ctx.clean = ctx.forward(ctx.x, training=True)
    return ctx


def top_eigenvectors(matrices):
    return np.stack([np.linalg.eigh(m)[1][:, -1] for m in matrices])


def abs_cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.abs(np.sum(a * b, axis=1))


def fisher_matrices(base, x):
    J = base.get_layer("out").kernel.numpy().T  # (K, D)
    p = keras.ops.softmax(base(x)).numpy()
    return [J.T @ (np.diag(pi) - np.outer(pi, pi)) @ J for pi in p]


@pytest.mark.parametrize("xi", [1e-6, 1e-3])
def test_direction_is_top_fisher_eigenvector(xi):
    base = linear_softmax()
    x, _ = batch()
    penalty = VAT(epsilon=1.0, xi=xi, power_iterations=30, seed=1)
    model = ki.InvariantModel(base, penalties=[penalty])
    direction = penalty.adversarial_direction(context_for(model, x)).numpy()
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1), 1.0, rtol=1e-5)
    expected = top_eigenvectors(fisher_matrices(base, x))
    assert np.all(abs_cosines(direction, expected) > 0.99)


def test_squared_l2_direction_is_top_jtj_eigenvector():
    base = linear_softmax()
    x, _ = batch()
    penalty = VAT(
        distance="squared_l2", xi=1e-3, power_iterations=30, seed=1
    )
    model = ki.InvariantModel(base, penalties=[penalty])
    direction = penalty.adversarial_direction(context_for(model, x)).numpy()
    J = base.get_layer("out").kernel.numpy().T
    expected = top_eigenvectors([J.T @ J] * len(x))
    assert np.all(abs_cosines(direction, expected) > 0.99)


def test_vat_value_is_half_eps_squared_lambda_max():
    """seed eq. 4: R_VAT ≈ ε²/2·λ_max(I(x)) for small ε."""
    base = linear_softmax()
    x, y = batch()
    eps = 1e-2
    penalty = VAT(epsilon=eps, xi=1e-3, power_iterations=30, seed=1)
    model = ki.InvariantModel(base, penalties=[penalty])
    model.compile(optimizer="sgd", loss=LOSS)
    ctx = model.step_context(tf.constant(x), tf.constant(y))
    _, terms = model._objective(ctx)
    top = np.mean([np.linalg.eigvalsh(m)[-1] for m in fisher_matrices(base, x)])
    np.testing.assert_allclose(float(terms["vat"]), eps**2 / 2 * top, rtol=0.05)


def test_direction_has_no_gradient_path_into_the_weights():
    base = linear_softmax()
    x, _ = batch()
    penalty = VAT(power_iterations=2)
    model = ki.InvariantModel(base, penalties=[penalty])
    with tf.GradientTape(persistent=True) as tape:
        ctx = context_for(model, x)
        direction = penalty.adversarial_direction(ctx)
        probe = ops.sum(direction)
    assert all(g is None for g in tape.gradient(probe, base.trainable_weights))


def test_unlabeled_rows_train_only_through_vat():
    base = linear_softmax()
    x, y = batch(rows=16)
    weights = np.zeros(16, "float32")  # every row unlabeled
    initial = base.get_weights()

    def moved(vat_weight):
        base.set_weights(initial)
        model = dm.VAT(base, epsilon=1.0, weight=vat_weight)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=LOSS)
        model.fit(x, y, sample_weight=weights, batch_size=16, epochs=1, verbose=0)
        return max(np.max(np.abs(a - b)) for a, b in zip(base.get_weights(), initial))

    assert moved(0.0) == 0.0
    assert moved(1.0) > 1e-4


def test_label_free_fit_without_labels():
    base = linear_softmax()
    x, _ = batch(rows=16)
    model = dm.VAT(base, alpha=0.0)
    model.compile(optimizer="sgd")
    history = model.fit(x, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["vat"][-1])


def bn_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((D,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(K),
        ]
    )


@pytest.mark.parametrize("search_training", [False, True])
def test_search_passes_and_batchnorm_statistics(search_training):
    """Documented: the power iteration runs in inference mode by default and
    leaves BatchNorm's moving statistics alone; `search_training=True`
    updates them."""
    base = bn_model()
    x, _ = batch(rows=8)
    penalty = VAT(search_training=search_training)
    model = ki.InvariantModel(base, penalties=[penalty])
    ctx = model.step_context(tf.constant(x))
    ctx.clean = ctx.forward(ctx.x, training=False)
    bn = base.get_layer("bn")
    before = bn.moving_mean.numpy().copy()
    penalty.adversarial_direction(ctx)
    changed = not np.allclose(bn.moving_mean.numpy(), before)
    assert changed == search_training


def test_mixed_precision_raises_xi_and_keeps_a_useful_direction():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    base = linear_softmax()
    x, _ = batch()
    penalty = VAT(power_iterations=30, seed=1)
    model = ki.InvariantModel(base, penalties=[penalty])
    xi = numerics.effective_xi(1e-6, tf.constant(x), "bfloat16")
    assert float(ops.min(xi)) > 1e-2
    direction = penalty.adversarial_direction(context_for(model, x)).numpy()
    assert np.all(np.isfinite(direction))
    kernel = base.get_layer("out").kernel.numpy().astype("float32")
    J = kernel.T
    p = keras.ops.softmax(ops.cast(base(x), "float32")).numpy()
    fisher = [J.T @ (np.diag(pi) - np.outer(pi, pi)) @ J for pi in p]
    assert np.mean(abs_cosines(direction, top_eigenvectors(fisher))) > 0.9


def test_config_round_trip():
    penalty = VAT(epsilon=2.0, xi=1e-5, power_iterations=2, distance="squared_l2")
    restored = VAT.from_config(penalty.get_config())
    assert restored.get_config() == penalty.get_config()
    assert type(restored.distance).__name__ == "SquaredL2"
