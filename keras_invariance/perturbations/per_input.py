"""A perturbation per input of a multi-input model; other inputs stay clean."""

import keras
from keras import ops
from keras import tree

from keras_invariance.perturbations import noise as noise_lib
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.base import graph_model
from keras_invariance.utils.api_export import keras_invariance_export


def input_names(model):
    """The names of a graph model's flat inputs, or `None` when unknown.

    Example:

    >>> import keras
    >>> a, b = keras.Input((2,), name="image"), keras.Input((1,), name="side")
    >>> input_names(keras.Model([a, b], keras.layers.Dense(1)(a)))
    ['image', 'side']
    """
    spec = getattr(model, "input", None) if model is not None else None
    if spec is None:
        return None
    try:
        flat = tree.flatten(spec)
    except (TypeError, ValueError):
        return None
    if isinstance(spec, dict):
        return sorted(str(k) for k in spec)
    return [getattr(t, "name", str(i)) for i, t in enumerate(flat)]


@keras_invariance_export("keras_invariance.perturbations.PerInputPerturbation")
class PerInputPerturbation(Perturbation):
    """Draws x̃ input by input: `{input name: perturbation}`.

    For a model with several inputs (a dict, or a list of named
    `keras.Input`s), each named input is perturbed by its own perturbation
    and the inputs not named stay clean. Give it directly as
    `InvariantModel(..., perturbation={"image": ki.perturbations.GaussianNoise(0.1),
    "ids": ki.perturbations.UnigramNoise(...)})`. A search (FGSM, PGD) in the mapping
    searches its input with the others held at their clean values.

    Names are dict keys for dict inputs, and the `keras.Input` names (or
    positions `0, 1, …`) for list inputs. They are checked against the
    model's inputs when the model is built, so a wrong name fails at
    construction with the available names.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> import keras_invariance as ki
    >>> p = PerInputPerturbation({"image": ki.perturbations.GaussianNoise(0.0)})
    >>> x = {"image": np.ones((2, 3), "float32"), "ids": np.ones((2, 4), "int32")}
    >>> sorted(p.perturb(x))
    ['ids', 'image']

    Args:
        perturbations: A dict from input name (or position) to a
            perturbation, Keras layer(s) or callable.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For an empty mapping, or (when bound to a model) a name
            the model does not have.
    """

    def __init__(self, perturbations, **kwargs):
        kwargs.pop("seed", None)
        super().__init__(**kwargs)
        if not isinstance(perturbations, dict) or not perturbations:
            raise ValueError(
                "`perturbations` must be a non-empty dict from input name to "
                f"perturbation; received {perturbations!r}."
            )
        self.perturbations = {
            str(name): noise_lib.get(p) for name, p in perturbations.items()
        }
        self._names = None
        self.is_adversarial = any(
            p.is_adversarial for p in self.perturbations.values()
        )
        reusing = [n for n, p in self.perturbations.items() if p.uses_clean_pass]
        if reusing:
            raise ValueError(
                f"The perturbations of inputs {reusing} reuse the clean pass "
                "(`FGSM(reuse_clean_pass=True)`), which draws x̃ for all "
                "inputs at once; pass `reuse_clean_pass=False` per input."
            )

    @property
    def requires_float_inputs(self):
        # Each perturbation checks its own input.
        return False

    def bind(self, model, subclassed=False):
        model = graph_model(model, subclassed)
        names = input_names(model)
        if names is None:
            return
        missing = sorted(set(self.perturbations) - set(names) - {
            str(i) for i in range(len(names))
        })
        if missing:
            raise ValueError(
                f"The perturbation names inputs {missing} that the model "
                f"{model.name!r} does not have; its inputs are {names}."
            )
        self._names = names

    def _positions(self, x):
        flat = tree.flatten(x)
        if isinstance(x, dict):
            names = sorted(str(k) for k in x)
        elif self._names is not None and len(self._names) == len(flat):
            names = self._names
        else:
            names = [str(i) for i in range(len(flat))]
        positions = {}
        for key in self.perturbations:
            if key in names:
                positions[key] = names.index(key)
            elif key.isdigit() and int(key) < len(flat):
                positions[key] = int(key)
            else:
                raise ValueError(
                    f"The perturbation names input {key!r}, but the inputs "
                    f"are {names}."
                )
        return positions

    def perturb(self, x, context=None):
        flat = list(tree.flatten(x))
        for key, position in self._positions(x).items():
            clean = flat[position]
            perturbation = self.perturbations[key]
            if perturbation.is_adversarial:
                # A search sees its input only; the others stay clean.
                noisy = perturbation.perturb(
                    clean, self._restricted(context, x, position)
                )
            else:
                noisy = perturbation.perturb(clean, context)
            if tuple(noisy.shape) != tuple(clean.shape) or noisy.dtype != clean.dtype:
                raise ValueError(
                    f"The perturbation of input {key!r} returned shape "
                    f"{tuple(noisy.shape)} and dtype {noisy.dtype.name} for "
                    f"shape {tuple(clean.shape)} and dtype {clean.dtype.name}: "
                    "it must return x̃ like its input."
                )
            flat[position] = noisy
        return tree.pack_sequence_as(x, flat)

    @staticmethod
    def _restricted(context, x, position):
        """The step's context with one input free and the others clean."""
        if context is None:
            raise ValueError(
                "A search in a per-input perturbation needs the training "
                "step's context (call it through `InvariantModel.fit`)."
            )
        flat = list(tree.flatten(x))
        rows = ops.shape(flat[position])[0]

        def tiled(t, repeats):
            return ops.tile(t, [repeats] + [1] * (len(t.shape) - 1))

        def forward(part, training=True, taps=()):
            # Candidates may hold m blocks of the batch (worst-of-k): the
            # clean inputs are tiled to match.
            repeats = ops.shape(part)[0] // rows
            full = [
                part if i == position else tiled(t, repeats)
                for i, t in enumerate(flat)
            ]
            return context.forward(
                tree.pack_sequence_as(x, full), training=training, taps=taps
            )

        return context.restricted(flat[position], forward)

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)
        config["perturbations"] = {
            name: keras.saving.serialize_keras_object(p)
            for name, p in self.perturbations.items()
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["perturbations"] = {
            name: keras.saving.deserialize_keras_object(p)
            for name, p in config["perturbations"].items()
        }
        return cls(**config)
