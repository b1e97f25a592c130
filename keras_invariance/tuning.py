"""Keras Tuner integration: search IRL's α, β, γ and λ.

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
"""

import importlib.util

import keras
import keras_tuner

from keras_invariance.datasets.digits import digits_classifier
from keras_invariance.distances import L2Cosine
from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.presets.irl import IRL

#: Objective names (see above) and the direction that is better.
OBJECTIVES = {
    "val_accuracy": "max",
    "val_noisy_accuracy": "max",
    "val_loss": "min",
    "loss": "min",
    "clean_loss": "min",
    "perturbed_loss": "min",
    "irl_distance": "min",
}


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
    * `gamma` γ ~ Float[0.01, 10] (log), weight of the activation distance
      `irl_distance` (γ > 0 always: IRL batching is γ → 0);
    * `cosine_weight` λ ~ Float[0, 2] (step 0.25), the cosine weight of the
      distance d(u, v) = ‖u−v‖² − λ·cos(u, v) (`L2Cosine`).

    They land in the model's non-trainable variables: `model.alpha`,
    `model.beta`, `model.penalties[0].weight` (γ) and
    `model.penalties[0].distance.cosine_weight` (λ). The paper's presets are
    points of this space: data augmentation (0, 1, ·), IRL loss (½, ½, 1)
    with λ = 1. A trial with α = β = 0 trains only the label-free distance
    and scores poorly; the tuner moves on.

    Objectives: see the module docstring (`val_accuracy`, `val_loss`,
    `val_noisy_accuracy` with `NoisyValidation`, and the training terms
    `clean_loss`, `perturbed_loss`, `irl_distance`).

    Example:

    >>> import tempfile
    >>> import keras_tuner
    >>> from keras_invariance.callbacks import NoisyValidation
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
    ['alpha', 'beta', 'cosine_weight', 'gamma']

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
        if importlib.util.find_spec("tensorboard") is None:
            # Otherwise every trial fails inside the tuner and the search
            # ends with an unhelpful "consecutive failed trials" error.
            raise ImportError(
                "Keras Tuner imports `tensorboard` in every trial on the "
                "TensorFlow backend, and it is not installed. Run "
                "`pip install tensorboard`."
            )
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
            weight=hp.Float("gamma", 0.01, 10.0, sampling="log", default=1.0),
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
