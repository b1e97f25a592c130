"""Same seed, same run: every preset with its defaults trains to the same
weights eagerly, as a `tf.function`, under XLA and with several steps per
execution (the device-count half of the promise is tests/test_distribution.py
and tests/test_derivative_conformance.py, also with the defaults).

VAT's reference finite difference (ξ = 1e-6) broke this: jit against eager
differed by 9e-2 and steps_per_execution 4 against 1 by 2.6e-2 after 8 steps.
"""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp

PRESETS = {
    "irl": lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.3)),
    "vat": lambda b: ki.VAT(b),
    "noise_regularization": lambda b: ki.NoiseRegularized(b),
    "noise_regularization_adversarial": lambda b: ki.NoiseRegularized(b, adversarial=True),
    "jacobian": lambda b: ki.JacobianRegularized(b),
    "loss_ibp": lambda b: ki.LossIBP(b),
    "prediction_ibp": lambda b: ki.PredictionIBP(b),
    "fgsm": lambda b: ki.AdversarialTraining(b),
}

MODES = {
    "eager": {"run_eagerly": True},
    "graph": {},
    "jit": {"jit_compile": True},
    "steps_per_execution_4": {"steps_per_execution": 4},
}

#: float32 reassociation between the modes; the finite-difference VAT was
#: 1e3–1e4 times further apart.
ATOL = 2e-5


def train(build, mode, x, y, initial):
    keras.utils.set_random_seed(0)
    base = tiny_mlp()
    base.set_weights(initial)
    model = build(base)
    model.compile(keras.optimizers.SGD(0.1), SCCE, **MODES[mode])
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return [w.numpy() for w in base.weights]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_defaults_give_the_same_run_in_every_execution_mode(name):
    x, y = tiny_data(n=64)
    keras.utils.set_random_seed(3)
    initial = tiny_mlp().get_weights()
    runs = {mode: train(PRESETS[name], mode, x, y, initial) for mode in MODES}
    moved = max(np.max(np.abs(a - b)) for a, b in zip(runs["graph"], initial))
    assert moved > 1e-3, "training did not move the weights; the check is void"
    for mode, weights in runs.items():
        for a, b in zip(runs["graph"], weights):
            np.testing.assert_allclose(b, a, atol=ATOL, rtol=0, err_msg=mode)
