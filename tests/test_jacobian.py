"""Jacobian: exact and projected ‖∂a/∂x‖²_F against tf.GradientTape."""


import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.penalties import Jacobian
from tests.derivative_checks import compiled
from tests.derivative_checks import data
from tests.derivative_checks import explicit_jacobian
from tests.derivative_checks import objective
from tests.derivative_checks import tiny_mlp


@pytest.mark.parametrize("layer", ["logits", "hid"])
def test_exact_jacobian_equals_gradient_tape_jacobian(layer):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base,
            penalties=[Jacobian(layers=layer, num_projections=None, scale="paper")])
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x, layer)
    expected = np.mean(np.sum(jac**2, axis=(1, 2)))
    np.testing.assert_allclose(float(terms["jacobian"]), expected, rtol=1e-5)


def test_projection_estimator_is_unbiased():
    base = tiny_mlp()
    x, y = data(rows=4)
    exact = np.mean(np.sum(explicit_jacobian(base, x) ** 2, axis=(1, 2)))
    tiled = np.tile(x, (4000, 1))
    model = compiled(
        ki.InvariantModel(
            base, penalties=[Jacobian(num_projections=8, seed=3, scale="paper")]
        )
    )
    _, terms = objective(model, tiled, np.tile(y, 4000))
    # 32 000 draws of ‖vᵀJ‖²: relative standard error < 0.8 %.
    np.testing.assert_allclose(float(terms["jacobian"]), exact, rtol=0.02)


def test_exact_jacobian_refuses_huge_layers():
    base = tiny_mlp(hidden=300)
    model = compiled(
        ki.InvariantModel(base, penalties=[Jacobian(layers="hid", num_projections=None)])
    )
    x, y = data()
    with pytest.raises(ValueError, match="num_projections"):
        objective(model, x, y)


# ---------------------------------------------------------------- Loss IBP


def test_the_exact_norm_is_refused_on_a_batchnorm_model():
    """BatchNorm's centring cancels the column sums the exact form reads
    (0.48 against the projections' 2.14 on a small model): refused."""
    inputs = keras.Input((4,))
    h = keras.layers.BatchNormalization()(keras.layers.Dense(5)(inputs))
    base = keras.Model(inputs, keras.layers.Dense(3)(h))
    with pytest.raises(ValueError, match="num_projections=1"):
        ki.InvariantModel(base, penalties=[Jacobian(num_projections=None)])
    assert ki.JacobianRegularized(base).penalties[0].num_projections == 1
