"""Keras Tuner integration: search the weights of any configuration.

* `InvariantHyperModel` searches whatever terms a configuration has: α and
  β (when there is a perturbation), each penalty's weight λ_j, and the
  radius ε (or σ) of the perturbation and of penalties that have one.
* `IRLHyperModel` searches IRL's α, β, γ and the cosine weight λ of its
  distance.
* `term_hyperparameters(model)` lists a model's tunable variables by name
  (`"alpha"`, `"irl_distance.weight"`, `"perturbation.epsilon"`, …); the
  report prints them and `keras_invariance.integrations.callbacks.WeightSchedule` finds
  its term through them (they live in `keras_invariance.integrations.terms`,
  which needs no Keras Tuner, and are importable from here too).

This module needs Keras Tuner and TensorBoard, the `tuner` extra
(`pip install 'keras-invariance[tuner]'`); importing it without them raises
an ImportError that says so.

Objective names a search can use (all also appear in `fit()` history):

* `"val_loss"`, `"val_accuracy"`: the plain compiled loss and metrics on
  `validation_data`; `evaluate()` of an `InvariantModel` is a plain model's.
* `"loss"`: the whole training objective α·L + β·L_noise + γ·L_dist (it
  changes with the sampled weights, so it does not compare trials; prefer a
  validation objective).
* `"clean_loss"`, `"perturbed_loss"`, `"irl_distance"`: the unweighted terms
  on training batches (`irl_distance` is `ActivationDistance`'s name).
* `"val_noisy_accuracy"` (with `NoisyValidation` among the callbacks):
  accuracy on a fixed noisy copy of the validation inputs. Use
  `keras_tuner.Objective("val_noisy_accuracy", direction="max")`.
* every built-in penalty's metric name (`"vat"`, `"jacobian"`,
  `"loss_ibp"`, …), all minimised.
"""

import importlib.util
import math

import keras

from keras_invariance.datasets.digits import digits_classifier
from keras_invariance.distances import L2Cosine
from keras_invariance.integrations.terms import assign_terms
from keras_invariance.integrations.terms import term_hyperparameters
from keras_invariance.integrations.terms import term_values  # noqa: F401 (public here too)
from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.presets.irl import DEFAULT_WEIGHT as IRL_DEFAULT_WEIGHT
from keras_invariance.presets.irl import IRL
from keras_invariance.utils.extras import install_hint
from keras_invariance.utils.extras import require
from keras_invariance.utils.hyperparameters import value_of

keras_tuner = require("keras_tuner", "tuner", "keras_invariance.integrations.tuning")

#: Objective names (see above) and the direction that is better.
OBJECTIVES = {
    "val_accuracy": "max",
    "val_noisy_accuracy": "max",
    "val_loss": "min",
    "loss": "min",
    "clean_loss": "min",
    "perturbed_loss": "min",
    "irl_distance": "min",
    "output_divergence": "min",
    "noise_regularization": "min",
    "jacobian": "min",
    "vat": "min",
    "loss_ibp": "min",
    "prediction_ibp": "min",
    "tangent_prop": "min",
    "fast_tangent_prop": "min",
    "adversarial_loss": "min",
}
#: Variable names that are a radius or noise level (searched on a log scale
#: around the configured value, by `InvariantHyperModel`).
RADII = ("epsilon", "stddev")


def _require_tensorboard():
    if importlib.util.find_spec("tensorboard") is None:
        # Otherwise every trial fails inside the tuner and the search
        # ends with an unhelpful "consecutive failed trials" error.
        raise ImportError(
            "Keras Tuner imports `tensorboard` in every trial on the "
            f"TensorFlow backend, and it is not installed. Run "
            f"`{install_hint('tuner')}` (or `pip install tensorboard`)."
        )


def objective(name):
    """Returns `keras_tuner.Objective(name, direction)` for a documented name.

    Example:

    >>> objective("val_noisy_accuracy").direction
    'max'

    Args:
        name: One of `OBJECTIVES`.

    Returns:
        A `keras_tuner.Objective`.

    Raises:
        ValueError: For another name; pass `keras_tuner.Objective(name,
            direction)` yourself for a metric of your own.
    """
    if name not in OBJECTIVES:
        raise ValueError(
            f"Unknown objective {name!r}; use one of {sorted(OBJECTIVES)}, or "
            "pass `keras_tuner.Objective(name, direction)` for your own metric."
        )
    return keras_tuner.Objective(name, direction=OBJECTIVES[name])


class IRLHyperModel(keras_tuner.HyperModel):
    """A Keras Tuner `HyperModel` of IRL: samples α, β, γ and λ.

    `build(hp)` returns a compiled `keras_invariance.IRL` model with

    * `alpha` α ~ Float[0, 1] (step 0.1), weight of the clean loss;
    * `beta` β ~ Float[0, 1] (step 0.1), weight of the loss on noisy copies;
    * `weight` γ ~ Float[γ₀/10, 30·γ₀] (log) around the IRL default
      γ₀ = `keras_invariance.presets.irl.DEFAULT_WEIGHT` (normalized scale),
      weight of the activation distance `irl_distance` (γ > 0 always: IRL
      batching is γ → 0);
    * `cosine_weight` λ ~ Float[0, 2] (step 0.25), the cosine weight of the
      distance d(u, v) = ‖u−v‖² − λ·cos(u, v) (`L2Cosine`).

    They land in the model's non-trainable variables: `model.alpha`,
    `model.beta`, `model.penalties[0].weight` (γ) and
    `model.penalties[0].distance.cosine_weight` (λ). The paper's presets are
    points of this space: data augmentation (0, 1, ·), IRL loss (½, ½, γ₀)
    with λ = 1. A trial with α = β = 0 trains only the label-free distance
    and scores poorly; the tuner moves on.

    Objectives: see the module docstring (`val_accuracy`, `val_loss`,
    `val_noisy_accuracy` with `NoisyValidation`, and the training terms
    `clean_loss`, `perturbed_loss`, `irl_distance`).

    Example:

    >>> import tempfile
    >>> import keras_tuner
    >>> from keras_invariance.integrations.callbacks import NoisyValidation
    >>> from keras_invariance.datasets import digits
    >>> (x, y), (x_val, y_val) = digits.load_digits()
    >>> tuner = keras_tuner.RandomSearch(
    ...     IRLHyperModel(noise_stddev=0.5),
    ...     objective=keras_tuner.Objective("val_noisy_accuracy", "max"),
    ...     max_trials=1, directory=tempfile.mkdtemp(), seed=0)
    >>> tuner.search(x[:256], y[:256], epochs=1, verbose=0,
    ...              validation_data=(x_val, y_val),
    ...              callbacks=[NoisyValidation(x_val, y_val, stddev=0.5)])
    >>> sorted(tuner.get_best_hyperparameters()[0].values)
    ['alpha', 'beta', 'cosine_weight', 'weight']

    Args:
        build_base: A function `hp -> keras.Model` (uncompiled, returning
            logits) to tune the architecture too; by default the digits MLP
            `digits_classifier(input_shape)`.
        input_shape: Input shape of the default base model.
        noise_stddev: σ of the `GaussianNoise` perturbation ν_x.
        layers: The layers IRL taps (see `ActivationDistance`), e.g.
            `"logits"` or `"above:hidden_1"` (IRL-C).
        learning_rate: Adam's learning rate.
        num_samples: K, noisy copies per example.
        **kwargs: `keras_tuner.HyperModel` arguments (`name`, `tunable`).

    Raises:
        ImportError: If `tensorboard` is missing: Keras Tuner (≤ 1.4.8)
            imports it in every trial on the TensorFlow backend, and
            TensorFlow ≥ 2.20 no longer installs it.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), eq. 1–2 and §1 (d).
    """

    def __init__(
        self,
        build_base=None,
        input_shape=(64,),
        noise_stddev=0.3,
        layers="logits",
        learning_rate=1e-3,
        num_samples=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _require_tensorboard()
        self.build_base = build_base
        self.input_shape = tuple(input_shape)
        self.noise_stddev = noise_stddev
        self.layers = layers
        self.learning_rate = learning_rate
        self.num_samples = num_samples

    def build(self, hp):
        if self.build_base is None:
            base = digits_classifier(self.input_shape)
        else:
            base = self.build_base(hp)
        model = IRL(
            base,
            perturbation=GaussianNoise(self.noise_stddev),
            alpha=hp.Float("alpha", 0.0, 1.0, step=0.1, default=0.5),
            beta=hp.Float("beta", 0.0, 1.0, step=0.1, default=0.5),
            weight=hp.Float(
                "weight", IRL_DEFAULT_WEIGHT / 10, IRL_DEFAULT_WEIGHT * 30,
                sampling="log", default=IRL_DEFAULT_WEIGHT,
            ),
            distance=L2Cosine(
                cosine_weight=hp.Float("cosine_weight", 0.0, 2.0, step=0.25, default=1.0)
            ),
            layers=self.layers,
            num_samples=self.num_samples,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model


class InvariantHyperModel(keras_tuner.HyperModel):
    """A Keras Tuner `HyperModel` of any configuration: searches its weights.

    `configure(base)` builds the configuration (any preset or
    `InvariantModel`, e.g. `lambda base: ki.VAT(base)`); `build(hp)` builds
    it on a fresh base model, then samples and assigns, around the values it
    was built with (d):

    * `alpha`, `beta` ~ Float[0, 1] (step 0.1), when the configuration has a
      perturbation (so both the clean and the perturbed loss are present);
    * `<penalty>.weight` (each λ_j) ~ log-uniform on [d/10, 10·d];
    * `perturbation.epsilon` / `perturbation.stddev` and a penalty's own
      `epsilon` / `stddev` (VAT, noise regularization) ~ log-uniform on
      [d/4, 4·d]. A PGD step size stays the same fraction of ε.

    Terms built with value 0 are left out (there is no scale to search
    around); give them a range in `ranges`. Names are those of
    `term_hyperparameters`; `ranges` adds or overrides any of them
    (`{"irl_distance.cosine_weight": (0.0, 2.0)}`, a third element
    `"log"` for a log scale) and `fixed` keeps some at their built value.
    The sampled values land in the model's non-trainable variables, so the
    best model saves and reloads with them.

    Example:

    >>> import tempfile
    >>> import keras_invariance as ki
    >>> from keras_invariance.datasets import digits
    >>> (x, y), (x_val, y_val) = digits.load_digits()
    >>> hypermodel = InvariantHyperModel(lambda base: ki.VAT(base))
    >>> tuner = keras_tuner.RandomSearch(
    ...     hypermodel, objective="val_accuracy", max_trials=1,
    ...     directory=tempfile.mkdtemp(), seed=0)
    >>> tuner.search(x[:256], y[:256], epochs=1, verbose=0,
    ...              validation_data=(x_val, y_val))
    >>> sorted(tuner.get_best_hyperparameters()[0].values)
    ['vat.epsilon', 'vat.weight']

    Args:
        configure: `configure(base_model) -> InvariantModel` (uncompiled).
        build_base: `build_base(hp) -> keras.Model` returning logits; by
            default the digits MLP `digits_classifier(input_shape)`.
        input_shape: Input shape of the default base model.
        ranges: `{name: (low, high[, "log" | "linear"])}` searched instead
            of, or in addition to, the defaults.
        fixed: Names to keep at their built value.
        learning_rate: Adam's learning rate.
        **kwargs: `keras_tuner.HyperModel` arguments (`name`, `tunable`).

    Raises:
        ImportError: If `tensorboard` is missing (see `IRLHyperModel`).
        ValueError: At `build`, for a `ranges` or `fixed` name the
            configuration does not have (the message lists its names), or a
            range that is not `low ≤ high` with finite bounds.
    """

    def __init__(self, configure, build_base=None, input_shape=(64,),
                 ranges=None, fixed=(), learning_rate=1e-3, **kwargs):
        super().__init__(**kwargs)
        _require_tensorboard()
        if not callable(configure):
            raise ValueError(
                "`configure` must be a function `base_model -> InvariantModel`, "
                f"e.g. `lambda base: ki.VAT(base)`; received {configure!r}."
            )
        self.configure = configure
        self.build_base = build_base
        self.input_shape = tuple(input_shape)
        self.ranges = dict(ranges or {})
        self.fixed = tuple(fixed)
        self.learning_rate = learning_rate

    def search_space(self, model):
        """`{name: (low, high, sampling)}` searched for a built `model`.

        Example:

        >>> import keras_invariance as ki
        >>> from keras_invariance.datasets import digits
        >>> hypermodel = InvariantHyperModel(lambda base: ki.LossIBP(base))
        >>> model = ki.LossIBP(digits.digits_classifier(hidden_units=(8,)))
        >>> sorted(hypermodel.search_space(model))
        ['loss_ibp.weight']

        Args:
            model: The configuration built on a base model.

        Returns:
            An ordered dict.

        Raises:
            ValueError: For unknown names in `ranges` or `fixed`.
        """
        variables = term_hyperparameters(model)
        unknown = sorted((set(self.ranges) | set(self.fixed)) - set(variables))
        if unknown:
            raise ValueError(
                f"InvariantHyperModel: {unknown} are not terms of this "
                f"configuration; its names are {list(variables)}."
            )
        space = {}
        for name, variable in variables.items():
            value = value_of(variable)
            owner, _, attribute = name.rpartition(".")
            if name in ("alpha", "beta") and model.perturbation is not None:
                space[name] = (0.0, 1.0, "linear")
            elif value > 0 and attribute == "weight" and owner != "perturbation":
                space[name] = (value / 10.0, value * 10.0, "log")
            elif value > 0 and attribute in RADII:
                space[name] = (value / 4.0, value * 4.0, "log")
        for name, bounds in self.ranges.items():
            space[name] = _checked_range(name, bounds)
        for name in self.fixed:
            space.pop(name, None)
        return space

    def build(self, hp):
        base = (digits_classifier(self.input_shape) if self.build_base is None
                else self.build_base(hp))
        model = self.configure(base)
        variables = term_hyperparameters(model)
        for name, (low, high, sampling) in self.search_space(model).items():
            default = min(max(value_of(variables[name]), low), high)
            if name in ("alpha", "beta") and sampling == "linear" and (low, high) == (0.0, 1.0):
                value = hp.Float(name, 0.0, 1.0, step=0.1, default=round(default, 1))
            else:
                value = hp.Float(name, low, high, sampling=sampling, default=default)
            assign_terms(model, {name: value})
        model.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model


def _checked_range(name, bounds):
    bounds = tuple(bounds)
    sampling = bounds[2] if len(bounds) == 3 else "linear"
    if len(bounds) not in (2, 3) or sampling not in ("linear", "log"):
        raise ValueError(
            f"InvariantHyperModel: `ranges[{name!r}]` must be (low, high) or "
            f"(low, high, 'log' | 'linear'); received {bounds!r}."
        )
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise ValueError(
            f"InvariantHyperModel: `ranges[{name!r}]` needs finite 0 ≤ low ≤ "
            f"high; received {bounds!r}."
        )
    if sampling == "log" and low == 0:
        raise ValueError(
            f"InvariantHyperModel: `ranges[{name!r}]` on a log scale needs "
            f"low > 0; received {bounds!r}."
        )
    return low, high, sampling
