"""NoiseRegularization: ≈ ε²‖J‖²_F, and the adversarial variant's λ_max."""


import numpy as np

import keras_invariance as ki
from keras_invariance.penalties import NoiseRegularization
from tests.derivative_checks import compiled
from tests.derivative_checks import data
from tests.derivative_checks import explicit_jacobian
from tests.derivative_checks import objective
from tests.derivative_checks import tiny_mlp


def test_noise_regularization_approximates_scaled_jacobian_norm():
    """seed §3.2: E‖f(x) − f(x + Δx)‖² ≈ ε²‖J‖²_F for small ε."""
    base = tiny_mlp()
    x, y = data(rows=4)
    eps = 1e-2
    exact = np.mean(np.sum(explicit_jacobian(base, x) ** 2, axis=(1, 2)))
    model = compiled(
        ki.InvariantModel(
            base, penalties=[NoiseRegularization(stddev=eps, seed=5, scale="paper")]
        )
    )
    _, terms = objective(model, np.tile(x, (5000, 1)), np.tile(y, 5000))
    np.testing.assert_allclose(
        float(terms["noise_regularization"]), eps**2 * exact, rtol=0.05
    )


def test_adversarial_noise_regularization_reaches_top_eigenvalue():
    """seed §3.4: the adversarial variant penalizes ε²·λ_max(JᵀJ)."""
    base = tiny_mlp()
    x, y = data(rows=4)
    eps = 1e-3
    model = compiled(
        ki.InvariantModel(
            base,
            penalties=[
                NoiseRegularization(
                    scale="paper",
                    stddev=eps, adversarial=True, power_iterations=20, xi=1e-2
                )
            ],
        )
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x)
    top = np.mean([np.linalg.eigvalsh(j.T @ j)[-1] for j in jac])
    np.testing.assert_allclose(
        float(terms["noise_regularization"]), eps**2 * top, rtol=0.05
    )


def test_noise_regularization_on_tapped_layer():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[NoiseRegularization(stddev=0.0, layers=["hid"])]
        )
    )
    _, terms = objective(model, x, y)
    assert float(terms["noise_regularization"]) == 0.0
    assert model.penalties[0].tap_names == ["hid"]
