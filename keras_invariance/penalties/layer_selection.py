"""Which tapped layers a penalty compares, each with its weight γ_ℓ."""

from keras_invariance.graph import taps as taps_lib
from keras_invariance.utils import keras_compat
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import check_non_negative
from keras_invariance.utils.hyperparameters import value_of


def _variable_keys(store):
    return [key for key in store.keys() if key.isdigit()]


def _without_legacy_energies(store, leading):
    """The store of a 0.2 model with its `energy_<layer>` entries dropped.

    0.2 created, after `leading` variables (the weight and any of a
    subclass), one (γ_ℓ, energy_ℓ) pair per layer.
    """
    keys = sorted(_variable_keys(store), key=int)
    kept = keys[:leading] + [keys[i] for i in range(leading, len(keys), 2)]
    out = {str(i): store[key] for i, key in enumerate(kept)}
    out.update({key: store[key] for key in store.keys() if not key.isdigit()})
    return out


class LayerSelection:
    """The `layers=` / `layer_weight=` arguments of a layerwise penalty.

    A penalty over tapped layers (Σ_ℓ γ_ℓ·d_ℓ: `ActivationDistance`,
    `Jacobian`, `NoiseRegularization`) holds one of these instead of
    subclassing another penalty for its layer handling. It validates the
    selection at construction, resolves it against the model in the
    penalty's `bind` (creating one non-trainable variable
    `layer_weight_<layer>` per layer on the penalty, so γ_ℓ is saved and tunable),
    and writes it back to the penalty's config.

    Layer selection (`layers`):
      * a layer name, or a list of names (γ_ℓ = `layer_weight` each);
      * a dict `{name: γ_ℓ}`;
      * `"logits"`: the model's output;
      * `"above:<bottleneck>"`: the bottleneck and every layer above it,
        including the logits.

    Example:

    >>> import keras
    >>> from keras_invariance.penalties.base import Penalty
    >>> inputs = keras.Input((4,))
    >>> h = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    >>> owner = Penalty(name="term")
    >>> selection = LayerSelection({"hidden": 1.0, "logits": 0.5})
    >>> selection.bind(owner, model)
    >>> selection.tap_names(owner.name)
    ['hidden', 'logits']
    >>> float(selection.layer_weights["logits"])
    0.5

    Args:
        layers: The tapped layers, see above. Defaults to `"logits"`.
        layer_weight: γ_ℓ ≥ 0 for layers given without their own weight.

    Raises:
        ValueError: For an empty selection, a negative weight or a `layers`
            that is not a name, a list of names or a dict.
    """

    def __init__(self, layers="logits", layer_weight=1.0):
        if isinstance(layers, dict):
            self.layers = {
                name: check_non_negative(f"layers[{name!r}]", value)
                for name, value in layers.items()
            }
        elif isinstance(layers, (str, list, tuple)):
            self.layers = layers if isinstance(layers, str) else list(layers)
        else:
            raise ValueError(
                "`layers` must be a layer name, a list of names or a dict "
                f"{{name: gamma}}; received {layers!r}."
            )
        if not self.layers:
            raise ValueError("`layers` must select at least one layer.")
        self.layer_weight = check_non_negative("layer_weight", layer_weight)
        self.names = None
        self.layer_weights = {}

    def bind(self, owner, model, subclassed=False):
        """Resolves the selection on `model` (once) and adds the γ_ℓ to `owner`.

        Args:
            owner: The penalty (a `keras.layers.Layer`) that owns the γ_ℓ
                variables.
            model: The model whose layers are tapped, as `Penalty.bind`.
            subclassed: Whether `model` is read through `Tap` layers.

        Raises:
            ValueError: For an unknown layer (the message lists the
                available ones).
        """
        if self.names is not None:
            return
        if isinstance(self.layers, dict):
            items = list(self.layers.items())
        else:
            specs = [self.layers] if isinstance(self.layers, str) else self.layers
            items = [(spec, self.layer_weight) for spec in specs]
        names = []
        for spec, gamma in items:
            for name in taps_lib.resolve(spec, model, subclassed=subclassed):
                if name not in names:
                    names.append(name)
                    # A nested path "backbone/block" names no variable.
                    self.layer_weights[name] = add_hyperparameter(
                        owner, f"layer_weight_{name}".replace(taps_lib.SEPARATOR, "."), gamma
                    )
        self.names = names

    def tap_names(self, owner_name):
        """The resolved tap names; raises before `bind`."""
        if self.names is None:
            raise RuntimeError(
                f"Penalty {owner_name!r} is not attached to a model yet."
            )
        return list(self.names)

    def get_config(self):
        """`layers` (with each γ_ℓ's current value) and `layer_weight`."""
        layers = self.layers
        if isinstance(layers, dict):
            layers = {
                name: value_of(self.layer_weights[name])
                if name in self.layer_weights
                else value
                for name, value in layers.items()
            }
        return {"layers": layers, "layer_weight": self.layer_weight}

    def legacy_store(self, owner, store):
        """`store` without the per-layer energies a 0.2 file holds, if any.

        Models saved by 0.2 also hold a first-step energy after each layer's
        γ_ℓ (a calibration this version replaces). Call it from the owner's
        `load_own_variables` when the owner normalizes.
        """
        expected = len(keras_compat.own_variables(owner))
        legacy = len(self.layer_weights)
        if legacy and len(_variable_keys(store)) == expected + legacy:
            return _without_legacy_energies(store, expected - legacy)
        return store
