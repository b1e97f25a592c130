"""IRL's L_dist: distances between clean and perturbed activations."""

from keras import ops

from keras_invariance import distances as distances_lib
from keras_invariance.graph import taps as taps_lib
from keras_invariance.ops import scales
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.layer_selection import LayerSelection
from keras_invariance.utils import deprecation
from keras_invariance.utils import vocabulary
from keras_invariance.utils.api_export import keras_invariance_export


def tile_clean(clean, num_samples):
    """Repeats clean rows K times to line up with the K perturbed copies."""
    if num_samples == 1:
        return clean
    return ops.concatenate([clean] * num_samples, axis=0)


@keras_invariance_export("keras_invariance.penalties.ActivationDistance")
class ActivationDistance(Penalty):
    """IRL distance L_dist = (1/K) Σ_k Σ_ℓ γ_ℓ · d(a_ℓ, ã_ℓ⁽ᵏ⁾).

    Penalizes the distance between a tapped layer's activations on the clean
    input and on each of the K perturbed inputs, averaged over the batch and
    the K samples. The overall weight `weight` is IRL's γ; each tapped layer
    has its own γ_ℓ, a non-trainable variable named `gamma_<layer>`.

    Layer selection (`layers`):
      * a layer name, or a list of names (γ_ℓ = `layer_weight` each);
      * a dict `{name: γ_ℓ}`;
      * `"logits"`: the model's output;
      * `"above:<bottleneck>"`: IRL-C, the bottleneck and every layer above
        it, including the logits;
      * IRL-E (the encoder output only) is a single name, e.g.
        `layers="encoder_output"`.
    Subclassed models are tapped through `keras_invariance.Tap` layers.

    The penalty uses no labels and averages over every row, so unlabeled
    rows (sample weight 0) still contribute: semi-supervised IRL.

    Scale (`scale="normalized"`, default): each layer's squared-L2 part is
    divided by that layer's mean clean energy E‖a_ℓ‖² over the global batch
    (every replica's rows), measured at every step and kept in the
    gradient. The distance is then on the same scale for a layer of 10 or
    1000 units and for activations of any magnitude, so γ transfers across
    models and stays put while the activations grow during training (the
    logged `irl_distance` is the relative mismatch of *this* step, so it can
    be monitored). Being a ratio in the gradient too, it pulls clean and
    perturbed activations together without rewarding a representation that
    shrinks: held constant, the raw distance's contraction switched off a
    GRU's ReLU units until it sat at chance
    (`keras_invariance.ops.scales.batch_energy_in_gradient` has the
    measurements). `scale="paper"` is the paper's raw ‖u−v‖², contraction
    included (`keras_invariance.utils.vocabulary` lists every term's
    scales).

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> inputs = keras.Input((4,))
    >>> h = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    >>> base = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    >>> model = ki.InvariantModel(
    ...     base, alpha=0.5, beta=0.5, perturbation=ki.perturbations.GaussianNoise(0.1),
    ...     penalties=[ki.penalties.ActivationDistance(layers={"hidden": 1.0, "logits": 0.5})])
    >>> model.penalties[0].tap_names
    ['hidden', 'logits']

    Args:
        layers: The tapped layers, see above. Defaults to `"logits"`.
        distance: d, a `keras_invariance.distances` name or instance:
            `"l2_cosine"` (the paper's ‖u−v‖² − λ·cos, written λ(1 − cos)),
            `"squared_l2"`, `"cosine"`, `"kl"`, `"cross_entropy"` (eq. 5's
            model risk; outputs only).
        weight: γ ≥ 0, the weight of L_dist in the objective.
        layer_weight: γ_ℓ for layers given without their own weight.
        scale: `"normalized"` (default): divide the L2 part by the clean
            activations' energy on the same step, over the global batch and
            kept in the gradient (`keras_invariance.ops.scales`); `"paper"`:
            the raw distance. `normalize=` is its deprecated boolean spelling.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"irl_distance"`, the metric name in `fit()` logs.

    Raises:
        ValueError: For an unknown layer (the message lists the available
            ones), a negative weight, or an output-only distance on a hidden
            layer.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        eq. 1–2 (L_dist), eq. 5 (model risk), §1 (d = ‖u−v‖² − λ·cos, IRL-E and IRL-C).
    """

    requires_perturbation = True
    label_free = True
    default_name = "irl_distance"

    def __init__(
        self,
        layers="logits",
        distance="l2_cosine",
        weight=1.0,
        layer_weight=1.0,
        scale=vocabulary.NORMALIZED,
        **kwargs,
    ):
        scale = vocabulary.scale_argument(
            kwargs, scale, "ActivationDistance", who=type(self).__name__
        )
        kwargs.setdefault("name", self.default_name)
        super().__init__(weight=weight, **kwargs)
        self.scale = scale
        self._selection = LayerSelection(layers, layer_weight)
        self.distance = distances_lib.get(distance)

    # The selection (`layer_selection.LayerSelection`), read as before.
    layers = property(lambda self: self._selection.layers)
    layer_weight = property(lambda self: self._selection.layer_weight)
    layer_weights = property(lambda self: self._selection.layer_weights)

    @property
    def tap_names(self):
        return self._selection.tap_names(self.name)

    def bind(self, model, subclassed=False):
        if self._selection.names is not None:
            return
        self._selection.bind(self, model, subclassed)
        names = self._selection.names
        if self.distance.on_outputs_only and names != [taps_lib.LOGITS]:
            raise ValueError(
                f"Distance {type(self.distance).__name__} compares output "
                f"distributions, so it can only be used with "
                f"layers='logits'; received layers={self.layers!r}."
            )

    def _normalizes(self):
        return (
            self.scale == vocabulary.NORMALIZED
            and self.distance.has_l2
            and not getattr(self.distance, "relative", False)
        )

    #: The batch statistic the L2 part is divided by (`keras_invariance.ops.scales`).
    scale_statistic = staticmethod(scales.batch_energy_in_gradient)

    def l2_scale(self, clean):
        """`scale_statistic` of the clean activations, or `None`.

        By default E‖a_ℓ‖², kept in the gradient. Averaged over
        every replica's rows (`keras_invariance.ops.scales`), so N replicas
        divide by the number one device would.
        """
        if not self._normalizes():
            return None
        return self.scale_statistic(clean)

    def load_own_variables(self, store):
        # Models saved by 0.2 also hold a first-step energy after each
        # layer's γ_ℓ (a calibration this version replaces): skip them.
        if self._normalizes():
            store = self._selection.legacy_store(self, store)
        super().load_own_variables(store)

    @property
    def output_distances(self):
        """Distances between output distributions, checked at `compile()`."""
        return [self.distance] if self.distance.on_outputs_only else []

    def compute(self, context):
        clean, perturbed = context.clean, context.perturbed
        distance = context.divergence(self.distance, self.name)
        total = 0.0
        for name in self.tap_names:
            scale = self.l2_scale(clean.taps[name])
            a = tile_clean(clean.taps[name], context.num_samples)
            d = distance(a, perturbed.taps[name], l2_scale=scale)
            total += self.layer_weights[name] * ops.mean(d)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(self._selection.get_config())
        config.update(
            {
                "distance": distances_lib.serialize(self.distance),
                "scale": self.scale,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Configs saved by 0.2.0 hold `normalize`.
        return super().from_config(
            deprecation.upgrade_config(config, "ActivationDistance")
        )


@keras_invariance_export("keras_invariance.penalties.OutputDivergence")
class OutputDivergence(ActivationDistance):
    """Divergence h(f(x), f(x̃)) between clean and perturbed outputs.

    The invariance regularizer of Yang et al. (KL on softmax outputs or
    squared L2 on logits), TRADES' KL term, and IRL's "model risk" (eq. 5,
    `distance="cross_entropy"`). A special case of `ActivationDistance`
    tapping only the logits (their view: a softmax model and the same model
    returning logits give the same KL; a sigmoid model its Bernoulli KL; a
    KL on a regression fails at `compile()`, see `keras_invariance.graph.outputs`).

    Example:

    >>> import keras_invariance as ki
    >>> h = ki.penalties.OutputDivergence(distance="kl", weight=1.0)
    >>> h.name
    'output_divergence'

    Args:
        distance: `"kl"` (default, on softmax of logits), `"squared_l2"` (on
            logits, divided by their batch energy E‖z‖² unless
            `scale="paper"`: scale-free like KL, see
            `keras_invariance.ops.scales`), `"cross_entropy"`, or a `Distance`.
        weight: λ ≥ 0.
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (see `keras_invariance.graph.outputs`).
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"output_divergence"`.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019)
        (D.A./A.T. + KL or L2); Salazar et al., "Invariant Representation Learning for Robust
        Deep Networks" (2018), eq. 5.
    """

    default_name = "output_divergence"

    def __init__(self, distance="kl", weight=1.0, from_logits=None, **kwargs):
        kwargs.pop("layers", None)
        kwargs.pop("layer_weight", None)
        distance = distances_lib.get(distance)
        super().__init__(layers="logits", distance=distance, weight=weight, **kwargs)
        self.from_logits = from_logits

    def get_config(self):
        config = super().get_config()
        config.pop("layers")
        config.pop("layer_weight")
        config["from_logits"] = self.from_logits
        return config


class LayerwiseSquaredL2(Penalty):
    """Base of the penalties Σ_ℓ γ_ℓ·‖·‖² over tapped layers.

    Selects its layers as `ActivationDistance` does (`layers`, per-layer γ_ℓ
    variables `layer_weight_<layer>`), by holding a
    `keras_invariance.penalties.layer_selection.LayerSelection`, with the
    distance fixed to squared L2, so `distance` is neither an argument nor
    part of the config. `scale="normalized"` divides each layer's term by
    `scale_statistic` of its clean activations (here the batch energy, held
    constant; `NoiseRegularization` divides by the spread, kept in the
    gradient, `keras_invariance.ops.scales`). `NoiseRegularization` and
    `Jacobian` build on it.

    Example:

    >>> type(LayerwiseSquaredL2(name="my_term").distance).__name__
    'SquaredL2'

    Args:
        layers: Tapped layers, as in `ActivationDistance` (default logits).
        weight: λ ≥ 0.
        layer_weight: γ_ℓ for layers given without their own weight.
        scale: `"normalized"` (default, dimensionless) or `"paper"` (the
            papers' raw scale).
        **kwargs: Keras `Layer` arguments.
    """

    default_name = None

    #: The batch statistic the L2 part is divided by (`keras_invariance.ops.scales`).
    scale_statistic = staticmethod(scales.batch_energy)

    def __init__(self, layers="logits", weight=1.0, layer_weight=1.0,
                 scale=vocabulary.NORMALIZED, **kwargs):
        scale = vocabulary.scale_argument(
            kwargs, scale, "ActivationDistance", who=type(self).__name__
        )
        kwargs.setdefault("name", self.default_name)
        super().__init__(weight=weight, **kwargs)
        self.scale = scale
        self._selection = LayerSelection(layers, layer_weight)
        self.distance = distances_lib.SquaredL2()

    # The same read-only views of `_selection` as `ActivationDistance`'s.
    layers = ActivationDistance.layers
    layer_weight = ActivationDistance.layer_weight
    layer_weights = ActivationDistance.layer_weights
    tap_names = ActivationDistance.tap_names

    def bind(self, model, subclassed=False):
        super().bind(model, subclassed)
        self._selection.bind(self, model, subclassed)

    def l2_scale(self, clean):
        """`scale_statistic` of the clean activations, or `None` if raw."""
        if self.scale != vocabulary.NORMALIZED:
            return None
        return self.scale_statistic(clean)

    def load_own_variables(self, store):
        # As `ActivationDistance`: skip the energies of a 0.2 file.
        if self.scale == vocabulary.NORMALIZED:
            store = self._selection.legacy_store(self, store)
        super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config.update(self._selection.get_config())
        config["scale"] = self.scale
        return config

    @classmethod
    def from_config(cls, config):
        # Configs saved by 0.2.0 hold `normalize`.
        return super().from_config(
            deprecation.upgrade_config(config, "ActivationDistance")
        )
