"""The per-term trackers `fit()` logs, visible to Keras as lower-is-better.

Keras' callbacks (`EarlyStopping`, `ModelCheckpoint`, `ReduceLROnPlateau`)
infer `mode="auto"` only for `loss` and for metrics they find in
`model.metrics` with a direction. `TermMetrics` puts the trackers of
`clean_loss`, `perturbed_loss` and every penalty there, each marked "down",
so `EarlyStopping(monitor="val_irl_distance")` works without `mode=`. The
engine removes them from `evaluate()`'s logs, which report only the plain
loss and compiled metrics, unless the model computes its terms on validation
data too (`InvariantModel(validation_terms=True)`: the passes run in
inference mode, `taps.inference_passes`, and Keras logs `val_<term>`).
"""

import keras

from keras_invariance.utils import keras_compat


class TermMetrics(keras_compat.metrics_list_class()):
    """A `Mean` tracker per objective term, every one lower-is-better.

    Example:

    >>> metrics = TermMetrics(["clean_loss", "vat"])
    >>> metrics["vat"].update_state(2.0)
    >>> {k: float(v) for k, v in metrics.result().items()}
    {'clean_loss': 0.0, 'vat': 2.0}

    Args:
        names: The terms' metric names.
    """

    def __init__(self, names):
        super().__init__([_tracker(name) for name in names], name="invariance_terms")

    def add(self, names):
        """Adds a tracker for each name not tracked yet (e.g. per-output losses)."""
        for name in names:
            if name not in self.names:
                self.metrics.append(_tracker(name))

    @property
    def names(self):
        return [m.name for m in self.metrics]

    def __getitem__(self, name):
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def update_validation(self, terms, batch_size):
        """Records a validation batch's terms."""
        for name, value in terms.items():
            self[name].update_state(value, sample_weight=batch_size)

    def result(self):
        return {m.name: m.result() for m in self.metrics}


def _tracker(name):
    tracker = keras.metrics.Mean(name=name)
    # Read by Keras' MonitorCallback for `mode="auto"`.
    keras_compat.set_direction(tracker, "down")
    return tracker
