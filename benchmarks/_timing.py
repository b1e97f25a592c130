"""The step timer shared by the benchmark scripts."""

import time

import keras


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step, grouped by epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = [[]]

    @property
    def times(self):
        """All step times, in seconds."""
        return [t for epoch in self.epochs for t in epoch]

    def on_epoch_begin(self, epoch, logs=None):
        if self.epochs[-1]:
            self.epochs.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # `logs` values may be tensors until read: force the step to finish.
        if logs:
            float(next(iter(logs.values())))
        self.epochs[-1].append(time.perf_counter() - self._start)
