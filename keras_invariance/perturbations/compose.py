"""Combining perturbations: a chain (`Compose`) and a per-example choice.

A realistic noise model is rarely one perturbation: speech is reverberated,
then noise is added, then the channel band-limits it; or each utterance
gets one of several noise types. `Compose` applies perturbations in order,
each optionally to a random subset of the examples; `RandomChoice` gives
each example one perturbation drawn from a list. Both work with any
perturbation (also image or token noise), per example and in tensor ops,
and declare the engine contract of their members (a chain containing a
search is a search).
"""

import keras
from keras import ops

from keras_invariance.ops import random_ops
from keras_invariance.perturbations import noise as noise_lib
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


def _members(perturbations, who):
    if isinstance(perturbations, Perturbation) or not isinstance(
        perturbations, (list, tuple)
    ):
        perturbations = [perturbations]
    members = [noise_lib.get(p) for p in perturbations]
    if not members or any(m is None for m in members):
        raise ValueError(f"`{who}` needs a non-empty list of perturbations.")
    return members


def _check_probability(name, value):
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be probabilities in [0, 1]; received {value}.")
    return value


def _select(mask, a, b):
    # mask (rows,) picks rows of a over rows of b, for any rank.
    mask = ops.reshape(mask, (-1,) + (1,) * (len(a.shape) - 1))
    return ops.where(mask, a, ops.cast(b, a.dtype))


class _Combination(Perturbation):
    """Members, the contract they imply, and their configs."""

    def __init__(self, perturbations, **kwargs):
        super().__init__(**kwargs)
        self.perturbations = _members(perturbations, type(self).__name__)
        self.requires_float_inputs = any(
            p.requires_float_inputs for p in self.perturbations
        )
        self.float_input_hint = next(
            (p.float_input_hint for p in self.perturbations if p.requires_float_inputs),
            self.float_input_hint,
        )
        self.is_adversarial = any(p.is_adversarial for p in self.perturbations)
        self.uses_clean_pass = any(p.uses_clean_pass for p in self.perturbations)
        self.single_input = any(p.single_input for p in self.perturbations)

    def _serialized_members(self):
        return [keras.saving.serialize_keras_object(p) for p in self.perturbations]

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["perturbations"] = [
            keras.saving.deserialize_keras_object(p) for p in config["perturbations"]
        ]
        return cls(**config)


@keras_invariance_export("keras_invariance.perturbations.Compose")
class Compose(_Combination):
    """Applies perturbations one after another, e.g. reverb → noise → phone.

    With `probabilities`, stage i is applied to each example independently
    with probability `probabilities[i]` (non-trainable variables
    `probability_<i>`); the others pass it unchanged. Every stage gets the
    step's `context`.

    Example:

    >>> import numpy as np
    >>> import keras_invariance as ki
    >>> chain = Compose([ki.perturbations.VolumeNoise(2.0, direction="up"),
    ...                  ki.perturbations.VolumeNoise(4.0, direction="down")])
    >>> chain.perturb(np.ones((1, 3), "float32")).numpy()
    array([[0.5, 0.5, 0.5]], dtype=float32)

    Args:
        perturbations: A list of perturbations (or anything
            `keras_invariance.perturbations.get` accepts), applied in order.
        probabilities: Optional per-stage probabilities in [0, 1]; default
            every stage on every example.
        seed: Optional int seed of the per-example stage draws.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For an empty list, or probabilities outside [0, 1] or
            not one per stage.
    """

    def __init__(self, perturbations, probabilities=None, seed=None, **kwargs):
        super().__init__(perturbations, seed=seed, **kwargs)
        self.probabilities = None
        if probabilities is not None:
            probabilities = list(probabilities)
            if len(probabilities) != len(self.perturbations):
                raise ValueError(
                    f"`probabilities` needs one value per perturbation "
                    f"({len(self.perturbations)}); received {len(probabilities)}."
                )
            self.probabilities = [
                add_hyperparameter(
                    self, f"probability_{i}", _check_probability("probabilities", p)
                )
                for i, p in enumerate(probabilities)
            ]

    def perturb(self, x, context=None):
        for i, perturbation in enumerate(self.perturbations):
            y = perturbation.perturb(x, context)
            if self.probabilities is not None:
                u = random_ops.uniform((ops.shape(x)[0],), seed=self.seed_generator)
                y = _select(u < self.probabilities[i], y, x)
            x = y
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            perturbations=self._serialized_members(),
            probabilities=None if self.probabilities is None
            else [value_of(p) for p in self.probabilities],
        )
        return config


@keras_invariance_export("keras_invariance.perturbations.RandomChoice")
class RandomChoice(_Combination):
    """Gives each example one perturbation, drawn from a list.

    Example i gets `perturbations[j]` with probability `probabilities[j]`
    (uniform by default; relative weights are normalized). Every member perturbs the whole
    batch and the rows are then selected, so the cost is that of all
    members; members must return x's shape and dtype.

    Example:

    >>> import numpy as np
    >>> import keras_invariance as ki
    >>> choice = RandomChoice([ki.perturbations.VolumeNoise(2.0, direction="up"),
    ...                        ki.perturbations.VolumeNoise(2.0, direction="down")], seed=0)
    >>> y = choice.perturb(np.ones((6, 2), "float32")).numpy()
    >>> sorted(set(y[:, 0].tolist())) <= [0.5, 2.0]
    True

    Args:
        perturbations: A list of perturbations.
        probabilities: Optional non-negative probabilities (or relative
            weights), one per member.
        seed: Optional int seed of the per-example choice.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: For an empty list, or probabilities that are negative,
            not one per member or all zero.
    """

    def __init__(self, perturbations, probabilities=None, seed=None, **kwargs):
        super().__init__(perturbations, seed=seed, **kwargs)
        count = len(self.perturbations)
        weights = [1.0] * count if probabilities is None else [
            float(w) for w in probabilities
        ]
        if len(weights) != count or min(weights) < 0 or not sum(weights) > 0:
            raise ValueError(
                f"`probabilities` must be {count} non-negative numbers, not all "
                f"zero; received {probabilities!r}."
            )
        # The config keeps what was given: normalizing again on reload would
        # drift by rounding.
        self._given_probabilities = None if probabilities is None else weights
        self.probabilities = [w / sum(weights) for w in weights]

    def perturb(self, x, context=None):
        rows = ops.shape(x)[0]
        u = random_ops.uniform((rows,), seed=self.seed_generator)
        bounds, running = [], 0.0
        for p in self.probabilities[:-1]:
            running += p
            bounds.append(running)
        choice = ops.sum(
            ops.cast(u[:, None] >= ops.convert_to_tensor(bounds or [2.0])[None], "int32"),
            axis=1,
        )
        out = None
        for j, perturbation in enumerate(self.perturbations):
            y = perturbation.perturb(x, context)
            out = y if out is None else _select(ops.equal(choice, j), y, out)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            perturbations=self._serialized_members(),
            probabilities=self._given_probabilities,
        )
        return config
