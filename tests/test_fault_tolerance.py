"""No lost work: a resumed run ends where the uninterrupted run ends.

With random draws keyed to (seed, step, example), a run resumed from a
backup redraws exactly the noise the uninterrupted run drew, provided the
step counter (`optimizer.iterations`), the optimizer state, every weight
variable (α, β, λ, γ …) and the seeds are restored. Each test rebuilds the
resumed model under a *different* global seed, so the seeds can only match
if they were restored from the saved state.
"""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp

EPOCHS = 4
BATCH = 16


def build(seed):
    keras.utils.set_random_seed(seed)
    model = ki.IRL(
        tiny_mlp(),
        perturbation=ki.perturbations.GaussianNoise(0.3),
        layers=["hidden", "logits"],
        penalties=[
            ki.penalties.VAT(epsilon=0.5, xi=1e-3, weight=0.5),
            ki.penalties.Jacobian(num_projections=2, weight=0.1),
        ],
    )
    model.compile(keras.optimizers.Adam(0.01), SCCE)
    return model


def data():
    return tiny_data(n=64)


def fit(model, epochs, **kwargs):
    x, y = data()
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False,
                     verbose=0, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted():
    keras.mixed_precision.set_global_policy("float32")
    model = build(seed=0)
    initial = model.get_weights()
    fit(model, EPOCHS)
    return initial, model.get_weights()


def assert_same_run(initial, expected, got):
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, initial))
    assert moved > 1e-2, "training barely moved the weights; the check is void"
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_uninterrupted_runs_are_reproducible(uninterrupted):
    initial, expected = uninterrupted
    again = build(seed=0)
    fit(again, EPOCHS)
    assert_same_run(initial, expected, again.get_weights())


def test_a_different_seed_is_a_different_run(uninterrupted):
    initial, expected = uninterrupted
    other = build(seed=1)
    other.set_weights(initial)  # same start, different noise seeds
    fit(other, EPOCHS)
    assert max(
        float(np.max(np.abs(a - b))) for a, b in zip(expected, other.get_weights())
    ) > 1e-4


def test_save_load_continue_equals_uninterrupted(uninterrupted, tmp_path):
    initial, expected = uninterrupted
    model = build(seed=0)
    fit(model, EPOCHS // 2)
    path = str(tmp_path / "half.keras")
    model.save(path)
    keras.utils.set_random_seed(123)  # fresh seeds unless restored
    loaded = keras.models.load_model(path)
    fit(loaded, EPOCHS, initial_epoch=EPOCHS // 2)
    assert_same_run(initial, expected, loaded.get_weights())


def test_save_weights_load_weights_continue_equals_uninterrupted(uninterrupted, tmp_path):
    initial, expected = uninterrupted
    model = build(seed=0)
    fit(model, EPOCHS // 2)
    path = str(tmp_path / "half.weights.h5")
    model.save_weights(path)
    fresh = build(seed=99)
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(path)
    fit(fresh, EPOCHS, initial_epoch=EPOCHS // 2)
    assert_same_run(initial, expected, fresh.get_weights())


class Interrupt(keras.callbacks.Callback):
    """Raises mid-epoch, as a preempted or crashed job would stop."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("interrupted")


def test_backup_and_restore_after_an_exception_equals_uninterrupted(
    uninterrupted, tmp_path
):
    initial, expected = uninterrupted
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model = build(seed=0)
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(model, EPOCHS, callbacks=[backup, Interrupt(epoch=2, batch=1)])
    # The job restarts: a new process builds the model again (here with other
    # seeds) and calls the same fit with the same callback.
    restarted = build(seed=7)
    restarted(np.zeros((1, 6), "float32"))
    fit(restarted, EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    assert_same_run(initial, expected, restarted.get_weights())


def test_weight_variables_survive_the_backup(tmp_path):
    model = build(seed=0)
    model.alpha.assign(0.3)
    model.penalties[0].weight.assign(0.7)
    model.penalties[1].epsilon.assign(0.2)
    path = str(tmp_path / "w.weights.h5")
    fit(model, 1)
    model.save_weights(path)
    fresh = build(seed=5)
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.load_weights(path)
    assert float(fresh.alpha) == pytest.approx(0.3)
    assert float(fresh.penalties[0].weight) == pytest.approx(0.7)
    assert float(fresh.penalties[1].epsilon) == pytest.approx(0.2)
    assert int(fresh.optimizer.iterations) == int(model.optimizer.iterations)
    np.testing.assert_array_equal(
        fresh.perturbation.seed_generator.state.numpy(),
        model.perturbation.seed_generator.state.numpy(),
    )
