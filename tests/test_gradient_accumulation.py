"""Gradient accumulation: every batch of a window draws its own noise.

`optimizer.iterations` advances once per `gradient_accumulation_steps`
batches, so draws keyed to it repeated within a window
(`random_ops.batch_counter`).
"""

import keras
import numpy as np

import keras_invariance as ki
from keras_invariance.ops import random_ops
from tests.engine_checks import SCCE
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["perturbed_loss"]))


def test_each_batch_of_a_window_draws_its_own_noise():
    # The same 16 rows twice: within the window the weights do not move, so
    # the two batches' perturbed losses differ only if their noise does.
    x, y = tiny_data(n=16)
    x, y = np.concatenate([x, x]), np.concatenate([y, y])
    m = ki.IRL(
        tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.5, seed=1), preset="irl_batching"
    )
    m.compile(keras.optimizers.SGD(0.1, gradient_accumulation_steps=2), SCCE)
    recorder = Recorder()
    m.fit(x, y, batch_size=16, shuffle=False, epochs=1, verbose=0, callbacks=[recorder])
    first, running_mean = recorder.values
    # The logged value is the running mean of the two batches' losses.
    assert abs(running_mean - first) > 1e-4, recorder.values
    assert int(m.optimizer.iterations) == 1 and int(m.optimizer._iterations) == 2


def test_without_accumulation_the_counter_is_the_optimizers():
    optimizer = keras.optimizers.SGD()
    assert random_ops.batch_counter(optimizer) is optimizer.iterations
