"""The non-finite guard: names the first bad quantity, at its step."""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.engine.finite_guard import NonFiniteError
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


def model(**kwargs):
    m = ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1), **kwargs)
    m.compile(keras.optimizers.SGD(0.1), SCCE)
    return m


def test_nan_inputs_stop_fit_at_their_step_and_keep_the_weights_finite():
    x, y = tiny_data(n=64)
    x[40] = np.nan  # batch 2 (rows 32..47) with batch size 16
    m = model()
    with pytest.raises(NonFiniteError, match="inputs contain NaN or infinity at training step 3"):
        m.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_a_non_finite_penalty_is_named():
    class Exploding(ki.Penalty):
        def compute(self, context):
            return keras.ops.log(keras.ops.zeros(()))  # -inf

    x, y = tiny_data()
    m = ki.InvariantModel(tiny_mlp(), penalties=[Exploding(name="exploding")])
    m.compile("sgd", SCCE)
    with pytest.raises(NonFiniteError,
                       match="penalty 'exploding' became non-finite at training step 1"):
        m.fit(x, y, batch_size=16, verbose=0)


def test_the_guard_works_under_jit_compile():
    x, y = tiny_data(n=32)
    x[3] = np.inf
    m = model()
    m.compile(keras.optimizers.SGD(0.1), SCCE, jit_compile=True)
    with pytest.raises(NonFiniteError, match="inputs"):
        m.fit(x, y, batch_size=16, verbose=0)


def test_opting_out_trains_on_as_plain_keras_does():
    x, y = tiny_data(n=32)
    x[3] = np.nan
    m = model(check_finite=False)
    history = m.fit(x, y, batch_size=16, verbose=0)
    assert not np.isfinite(history.history["loss"][0])


def test_logs_do_not_carry_the_flags():
    x, y = tiny_data(n=32)
    history = model().fit(x, y, batch_size=16, verbose=0)
    assert all(not k.startswith("_") for k in history.history)


def test_a_nan_on_one_replica_stops_both():
    from tests.engine_checks import mirrored_strategy

    x, y = tiny_data(n=32)
    x[20] = np.nan  # second half of the second batch: the second replica
    with mirrored_strategy().scope():
        m = model()
    with pytest.raises(NonFiniteError, match="inputs contain NaN or infinity at training step 2"):
        m.fit(x, y, batch_size=16, shuffle=False, verbose=0)


def test_a_perturbation_producing_inf_is_named():
    x, y = tiny_data(n=32)
    m = ki.IRL(tiny_mlp(), perturbation=lambda t: t / 0.0)
    m.compile("sgd", SCCE)
    with pytest.raises(NonFiniteError,
                       match="perturbation produced NaN or infinity at training step 1"):
        m.fit(x, y, batch_size=16, verbose=0)


def test_every_step_of_an_execution_is_checked():
    """Keras returns only the last step's logs of a steps_per_execution call:
    a NaN in its first step used to train on silently."""
    x, y = tiny_data(n=64)
    x[3] = np.nan  # step 1 of the one 4-step call
    m = model()
    m.compile(keras.optimizers.SGD(0.1), SCCE, steps_per_execution=4)
    initial = [w.copy() for w in m.get_weights()]
    with pytest.raises(NonFiniteError, match="inputs contain NaN.*4 training steps up to step 4"):
        m.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    # From the bad step on nothing is applied: the weights are the initial ones.
    for before, after in zip(initial, m.get_weights()):
        np.testing.assert_array_equal(before, after)
    # The flags were cleared: the clean rows train on without a stale error.
    m.fit(x[16:], y[16:], batch_size=16, verbose=0)


def test_under_jit_and_steps_per_execution_too():
    x, y = tiny_data(n=64)
    x[20] = np.inf  # step 2 of 4
    m = model()
    m.compile(keras.optimizers.SGD(0.1), SCCE, steps_per_execution=4, jit_compile=True)
    with pytest.raises(NonFiniteError, match="inputs contain NaN or infinity in one of the 4"):
        m.fit(x, y, batch_size=16, shuffle=False, verbose=0)
