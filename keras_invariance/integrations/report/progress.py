"""Progress over methods and epochs, and the step timer of the report."""

import time

import keras


class EpochProgress(keras.callbacks.Callback):
    """A one-line progress display per method, updated every epoch.

    On a terminal the line is redrawn in place; in a log (not a terminal) a
    line is written about every fifth of the run, so that a 30-epoch run
    stays a few lines per method. Each line shows the training objective and
    its terms (`loss`, `clean_loss`, `perturbed_loss` and every penalty's
    metric).

    Example:

    >>> import io
    >>> progress = EpochProgress("[1/1] plain", epochs=1, stream=io.StringIO())
    >>> progress.on_train_begin()
    >>> progress.on_epoch_end(0, {"loss": 0.5})
    >>> progress.stream.getvalue().split()[:5]
    ['[1/1]', 'plain', 'epoch', '1/1', 'loss']

    Args:
        title: The method's name, at the start of each line.
        epochs: The number of epochs of the `fit()`.
        stream: A text stream such as `sys.stdout`; `None` for silence.
        shown: The logged names to show (default: `loss`, `clean_loss`,
            `perturbed_loss` and any other term `fit()` logs).
    """

    SHOWN = ("loss", "clean_loss", "perturbed_loss", "irl_distance")

    def __init__(self, title, epochs, stream=None, shown=None):
        super().__init__()
        self.title = title
        self.epochs = epochs
        self.stream = stream
        self.shown = shown

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.in_place = self.stream is not None and self.stream.isatty()

    def _terms(self, logs):
        if not logs:
            return ""
        if self.shown is not None:
            names = [k for k in self.shown if k in logs]
        else:
            names = [k for k in self.SHOWN if k in logs]
            names += [k for k in logs if k not in names and "/" not in k
                      and not k.startswith("val_") and k != "accuracy"]
        return "  ".join(f"{k} {float(logs[k]):.4f}" for k in names)

    def on_epoch_end(self, epoch, logs=None):
        if self.stream is None:
            return
        done = epoch + 1
        every = max(1, self.epochs // 5)
        if not (self.in_place or done % every == 0 or done == self.epochs):
            return
        width = len(str(self.epochs))
        line = (
            f"{self.title:<26} epoch {done:>{width}}/{self.epochs}  "
            f"{self._terms(logs)}  {time.perf_counter() - self.start:5.1f} s"
        )
        if self.in_place:
            end = "\n" if done == self.epochs else ""
            self.stream.write("\r" + line + end)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step, grouped by epoch.

    `median_step()` skips the first epoch (tracing and compilation), so
    ratios between methods compare steady-state steps.

    Example:

    >>> timer = StepTimer()
    >>> timer.on_epoch_begin(0)
    >>> timer.on_train_batch_begin(0)
    >>> timer.on_train_batch_end(0)
    >>> timer.median_step() >= 0
    True
    """

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        # Logs may hold tensors until read: reading one waits for the step.
        if logs:
            float(next(iter(logs.values())))
        self.epochs[-1].append(time.perf_counter() - self._start)

    def median_step(self):
        """The median step time in seconds, after the first epoch if any.

        Returns:
            A float (0 when no step ran).
        """
        times = [t for epoch in self.epochs[1:] for t in epoch]
        if not times:
            # One epoch: skip its first steps, which trace the step.
            times = [t for epoch in self.epochs for t in epoch][2:] or [
                t for epoch in self.epochs for t in epoch
            ]
        if not times:
            return 0.0
        times = sorted(times)
        mid = len(times) // 2
        return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])
