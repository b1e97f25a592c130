"""Keras callbacks of keras-invariance.

* `NoisyValidation`: `val_noisy_accuracy` on a fixed noisy validation copy.
* `InvarianceDiagnostics`: per-layer activation distances and Jacobian
  norms on a validation batch each epoch (the IRL paper's Fig. 1), logged
  next to the per-term scalars, so `keras.callbacks.TensorBoard` draws them.
* `WeightSchedule`: ramps a term's weight (or α, β, ε …) in after N epochs.
* `BatchNormRecalibration`: re-estimates BatchNorm's moving statistics from
  the training data when training ends (or after every epoch).

Monitoring a term with `EarlyStopping`, `ModelCheckpoint` or
`ReduceLROnPlateau`: `loss`, `clean_loss`, `perturbed_loss` and every
penalty's name (`irl_distance`, `vat`, …) are lower-is-better metrics Keras
sees (`keras_invariance.engine.term_metrics`), so `mode="auto"` works. Monitor
held-out values: their `val_` twins come with
`InvariantModel(validation_terms=True)`; a training term may rise while the
model improves (learning the task makes it more input-sensitive). Keras infers
no direction for names logged by callbacks: the diagnostics below need
`mode="min"` and `val_noisy_accuracy` `mode="max"`.
`keras_invariance.integrations.tuning.OBJECTIVES` lists the directions for Keras Tuner.
"""

import math

import keras
import numpy as np

from keras_invariance.evaluation.accuracy import add_gaussian_noise
from keras_invariance.evaluation.accuracy import clean_accuracy
from keras_invariance.evaluation.representation import activation_distances
from keras_invariance.evaluation.representation import jacobian_norms
from keras_invariance.graph.batchnorm import reestimate_moving_statistics
from keras_invariance.integrations.terms import term_hyperparameters
from keras_invariance.utils.hyperparameters import check_non_negative
from keras_invariance.utils.hyperparameters import value_of


class NoisyValidation(keras.callbacks.Callback):
    """Logs `val_noisy_accuracy`: accuracy on a fixed noisy validation copy.

    The noisy copy is drawn once, so the value is comparable across epochs
    and trials, and Keras Tuner can use it as an objective:
    `keras_tuner.Objective("val_noisy_accuracy", direction="max")`. Put this
    callback before any callback that reads the value (Keras Tuner appends
    its own after the user's).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> x, y = np.ones((4, 2), "float32"), np.array([0, 1, 0, 1])
    >>> history = model.fit(x, y, verbose=0,
    ...                     callbacks=[NoisyValidation(x, y, stddev=0.1)])
    >>> sorted(history.history)
    ['loss', 'val_noisy_accuracy']

    Args:
        x: Clean validation inputs.
        y: Integer validation labels.
        stddev: σ of the Gaussian noise, in the units of `x`.
        seed: NumPy seed of the noise.
        name: The logged name.
    """

    def __init__(self, x, y, stddev, seed=0, name="val_noisy_accuracy"):
        super().__init__()
        self.x_noisy = add_gaussian_noise(x, stddev, seed)
        self.y = np.asarray(y)
        self.stddev = stddev
        self.seed = seed
        self.name = name

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = clean_accuracy(self.model, self.x_noisy, self.y)


class InvarianceDiagnostics(keras.callbacks.Callback):
    """Logs per-layer activation distances and Jacobian norms every epoch.

    On a fixed validation batch `x` and its perturbed copy, at the end of
    every `every`-th epoch, adds to the epoch's logs (names are
    `val_<metric>/<layer>`, so `keras.callbacks.TensorBoard` writes them to
    its validation run, next to the per-term training scalars, grouped as
    `epoch_activation_l2`, `epoch_activation_cosine` and
    `epoch_jacobian_norm`):

    * `val_activation_l2/<layer>`: mean ‖a_ℓ(x) − a_ℓ(x̃)‖₂;
    * `val_activation_cosine/<layer>`: mean 1 − cos(a_ℓ(x), a_ℓ(x̃));
    * `val_jacobian_norm/<layer>`: mean ‖∂a_ℓ/∂x‖_F on `x` (when `jacobian`).

    See `keras_invariance.evaluation.activation_distances` and
    `jacobian_norms`. Put this callback before `TensorBoard` (and before any
    `EarlyStopping` reading these names, with `mode="min"`): Keras hands
    every callback the same logs, in order. The computations are compiled
    once and reused every epoch.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(8, name="hidden"), keras.layers.Dense(3)])
    >>> model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1))
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> x, y = np.ones((8, 4), "float32"), np.zeros((8,), "int32")
    >>> history = model.fit(x, y, verbose=0, callbacks=[
    ...     InvarianceDiagnostics(x, perturbation=0.1)])
    >>> sorted(k for k in history.history if k.startswith("val_"))[:2]
    ['val_activation_cosine/hidden', 'val_activation_cosine/logits']

    Args:
        x: A float validation batch (a few hundred rows is plenty).
        perturbation: How x̃ is made, once: a number σ (Gaussian noise of
            that standard deviation, NumPy seed `seed`), an array shaped
            like `x`, or a callable `x -> x̃` (e.g. a Keras preprocessing
            layer called with `training=True`).
        layers: Tap names (default: every layer with weights, and the
            logits; see `keras_invariance.evaluation.default_layers`).
        jacobian: Whether to log the Jacobian norms too.
        every: Compute every `every`-th epoch (an int ≥ 1).
        max_exact_size: Largest layer whose Jacobian is exact.
        num_projections: Projections for larger layers.
        seed: Seed of the noise and the projections.
        batch_size: Rows per pass.

    Raises:
        ValueError: For a non-float `x`, a perturbed copy of another shape,
            a negative σ or `every` < 1.
    """

    def __init__(self, x, perturbation, layers=None, jacobian=True, every=1,
                 max_exact_size=256, num_projections=16, seed=0,
                 batch_size=256):
        super().__init__()
        self.x = np.asarray(x)
        if not np.issubdtype(self.x.dtype, np.floating):
            raise ValueError(
                f"InvarianceDiagnostics: `x` must be float inputs; received "
                f"{self.x.dtype}."
            )
        self.x_perturbed = self._perturbed(perturbation, seed)
        if int(every) != every or every < 1:
            raise ValueError(
                f"InvarianceDiagnostics: `every` must be an integer ≥ 1; received {every!r}."
            )
        self.layers = layers
        self.jacobian = bool(jacobian)
        self.every = int(every)
        self.max_exact_size = max_exact_size
        self.num_projections = num_projections
        self.seed = seed
        self.batch_size = batch_size

    def _perturbed(self, perturbation, seed):
        if isinstance(perturbation, (int, float)) and not isinstance(perturbation, bool):
            sigma = check_non_negative("perturbation", perturbation)
            return add_gaussian_noise(self.x, sigma, seed)
        if callable(perturbation):
            try:
                out = perturbation(self.x, training=True)
            except TypeError:
                out = perturbation(self.x)
            out = np.asarray(keras.ops.convert_to_numpy(out), dtype=self.x.dtype)
        else:
            out = np.asarray(perturbation, dtype=self.x.dtype)
        if out.shape != self.x.shape:
            raise ValueError(
                "InvarianceDiagnostics: the perturbed copy must have the shape "
                f"of `x` {self.x.shape}; received {out.shape}."
            )
        return out

    def diagnostics(self):
        """The metrics of one epoch as a dict (what `on_epoch_end` logs).

        Returns:
            `{"val_<metric>/<layer>": float}`.
        """
        values = {}
        found = activation_distances(self.model, self.x, self.x_perturbed,
                                     self.layers, self.batch_size)
        for layer, metrics in found.items():
            values[f"val_activation_l2/{layer}"] = metrics["l2"]
            values[f"val_activation_cosine/{layer}"] = metrics["cosine"]
        if self.jacobian:
            norms = jacobian_norms(self.model, self.x, self.layers,
                                   self.max_exact_size, self.num_projections,
                                   self.seed, min(self.batch_size, 64))
            for layer, norm in norms.items():
                values[f"val_jacobian_norm/{layer}"] = norm
        return values

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and (epoch + 1) % self.every == 0:
            logs.update(self.diagnostics())


class WeightSchedule(keras.callbacks.Callback):
    """Ramps a term's weight in: 0 for `start_epoch` epochs, then up to `value`.

    In epoch e (counted from 0) the term's variable holds

        value · clip((e − start_epoch + 1) / (ramp_epochs + 1), 0, 1),

    so 0 for the first `start_epoch` epochs, then `ramp_epochs + 1` linear
    steps up to `value` (with `ramp_epochs=0`, the full value at once), or
    `schedule(epoch, value)` when given. `value` defaults to what the
    variable holds when training starts, so a model built with its default
    weight is ramped up to that weight. A term built with weight 0 stays in
    the model (every preset keeps a term whose weight is given explicitly),
    so a schedule can raise it; give `value` then.

    The term is found by name (see
    `keras_invariance.integrations.terms.term_hyperparameters`): `"alpha"`, `"beta"`, a
    penalty's name (its weight, e.g. `"irl_distance"`, `"vat"`), or any
    `"<owner>.<variable>"` such as `"perturbation.epsilon"`. It is a
    non-trainable variable, so changing it does not retrace the train step.
    The value of each epoch is logged as `weight/<term>`.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1), weight=0.0)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> schedule = WeightSchedule("irl_distance", value=0.5, start_epoch=2)
    >>> history = model.fit(np.ones((8, 4), "float32"), np.zeros((8,)),
    ...                     epochs=4, verbose=0, callbacks=[schedule])
    >>> history.history["weight/irl_distance"]
    [0.0, 0.0, 0.5, 0.5]

    Args:
        term: The term's name (see above) or a scalar `keras.Variable`.
        value: The final value (default: the value at the start of
            training).
        start_epoch: Epochs at 0 before the ramp (an int ≥ 0).
        ramp_epochs: Epochs of the linear ramp before the full value.
        schedule: Optional `schedule(epoch, value) -> float`, replacing the
            ramp.
        verbose: Print each change.

    Raises:
        ValueError: For negative epochs or value, an unknown term (at the
            start of training, listing the model's terms), a final value of
            0 without `value`, or a schedule returning a negative, NaN or
            infinite weight.
    """

    def __init__(self, term, value=None, start_epoch=0, ramp_epochs=0,
                 schedule=None, verbose=0):
        super().__init__()
        for name, count in (("start_epoch", start_epoch), ("ramp_epochs", ramp_epochs)):
            if int(count) != count or count < 0:
                raise ValueError(
                    f"WeightSchedule: `{name}` must be an integer ≥ 0; received {count!r}."
                )
        if value is not None:
            value = check_non_negative("value", value)
        if schedule is not None and not callable(schedule):
            raise ValueError(f"WeightSchedule: `schedule` must be callable; received {schedule!r}.")
        self.term = term
        self.value = value
        self.start_epoch = int(start_epoch)
        self.ramp_epochs = int(ramp_epochs)
        self.schedule = schedule
        self.verbose = verbose
        self.variable = None
        self.final = None

    @property
    def label(self):
        return self.term if isinstance(self.term, str) else self.term.path

    def _resolve(self):
        if isinstance(self.term, keras.Variable):
            return self.term
        found = term_hyperparameters(self.model)
        key = self.term if self.term in found else f"{self.term}.weight"
        if key not in found:
            names = list(found) + [n[: -len(".weight")] for n in found if n.endswith(".weight")]
            raise ValueError(
                f"WeightSchedule: the model has no term {self.term!r}; its "
                f"terms are {sorted(set(names))}."
            )
        return found[key]

    def on_train_begin(self, logs=None):
        self.variable = self._resolve()
        self.final = value_of(self.variable) if self.value is None else self.value
        if self.final == 0 and self.schedule is None:
            raise ValueError(
                f"WeightSchedule: {self.label!r} is 0 when training starts, "
                "so there is nothing to ramp up to; pass `value=`."
            )

    def value_at(self, epoch):
        """The weight of epoch `epoch` (from 0)."""
        if self.schedule is not None:
            weight = float(self.schedule(epoch, self.final))
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(
                    f"WeightSchedule: `schedule({epoch}, {self.final})` returned "
                    f"{weight}; a weight must be a finite number ≥ 0."
                )
            return weight
        fraction = (epoch - self.start_epoch + 1) / (self.ramp_epochs + 1)
        return self.final * min(max(fraction, 0.0), 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        weight = self.value_at(epoch)
        if self.verbose and weight != value_of(self.variable):
            print(f"Epoch {epoch + 1}: WeightSchedule sets {self.label} to {weight:g}.")
        self.variable.assign(weight)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[f"weight/{self.label}"] = value_of(self.variable)


class BatchNormRecalibration(keras.callbacks.Callback):
    """Re-estimates BatchNorm's moving statistics from `x` after training.

    BatchNorm's moving averages (momentum 0.99 by default) follow the batch
    statistics about 100 steps behind. When a penalty makes those
    statistics drift quickly, inference then normalizes with stale ones.
    Measured on the defaults study's BatchNorm CNN (recipes/model_families.py,
    20 epochs): Tangent BP through the shared clean pass
    (`TangentProp(jvp_method="double_vjp")`, 2.3× faster than the
    forward-mode pass on a BatchNorm ResNet without XLA) ended at 98.0 %
    test accuracy in training mode but 87.3 % in inference mode; with the
    moving statistics re-estimated on the training set, 97.8 %. This
    callback does that: at the end of training (`at="train_end"`), or at
    every epoch's end before the next callback reads the logs
    (`at="epoch_end"`, so `ModelCheckpoint` saves recalibrated weights;
    Keras computes the epoch's `val_*` metrics before it runs), it sets each
    moving mean and variance to their average over `x`'s batches (see
    `keras_invariance.graph.batchnorm.reestimate_moving_statistics`). A
    model without BatchNorm is left unchanged.

    Example:

    >>> import keras
    >>> base = keras.Sequential([keras.Input((2,)),
    ...     keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    >>> base.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> x = np.arange(16, dtype="float32").reshape(8, 2)
    >>> _ = base.fit(x, np.zeros((8,)), batch_size=4, verbose=0,
    ...              callbacks=[BatchNormRecalibration(x, batch_size=4)])
    >>> keras.ops.convert_to_numpy(base.layers[0].moving_mean).tolist()
    [7.0, 8.0]

    Args:
        x: Training inputs (an array, a structure of arrays, or a
            `tf.data.Dataset` of batches or of `(x, y, ...)` tuples), without
            augmentation: the statistics inference should use.
        batch_size: Rows per pass for arrays; the training batch size.
        at: `"train_end"` or `"epoch_end"`.

    Raises:
        ValueError: For another `at` or a `batch_size` below 1.
    """

    def __init__(self, x, batch_size=256, at="train_end"):
        super().__init__()
        if at not in ("train_end", "epoch_end"):
            raise ValueError(
                f"BatchNormRecalibration: `at` must be 'train_end' or 'epoch_end'; "
                f"received {at!r}."
            )
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(
                f"BatchNormRecalibration: `batch_size` must be an integer ≥ 1; "
                f"received {batch_size!r}."
            )
        self.x = x
        self.batch_size = int(batch_size)
        self.at = at

    def recalibrate(self):
        """Re-estimates now; returns the number of BatchNorm layers."""
        return reestimate_moving_statistics(self.model, self.x, self.batch_size)

    def on_epoch_end(self, epoch, logs=None):
        if self.at == "epoch_end":
            self.recalibrate()

    def on_train_end(self, logs=None):
        if self.at == "train_end":
            self.recalibrate()
