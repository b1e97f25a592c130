"""AdversarialLoss: the loss at the search's point."""


import numpy as np

import keras_invariance as ki
from keras_invariance.penalties import AdversarialLoss
from keras_invariance.perturbations.adversarial import FGSM
from tests.derivative_checks import LOSS
from tests.derivative_checks import compiled
from tests.derivative_checks import data
from tests.derivative_checks import objective
from tests.derivative_checks import per_example_input_gradient
from tests.derivative_checks import tiny_mlp


def test_adversarial_loss_penalty_equals_loss_at_fgsm_point():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, penalties=[AdversarialLoss(FGSM(0.1))])
    )
    _, terms = objective(model, x, y)
    g = per_example_input_gradient(base, x, y)
    x_adv = x + np.float32(0.1) * np.sign(g)
    expected = float(LOSS(y, base(x_adv)))
    np.testing.assert_allclose(float(terms["adversarial_loss"]), expected, rtol=1e-5)
