"""Noise regularization: R = E‖f(x) − f(x + Δx)‖², random or adversarial Δx."""

from keras import ops
import tensorflow as tf

from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops
from keras_invariance.ops import scales
from keras_invariance.penalties.activation_distance import LayerwiseSquaredL2
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.utils import vocabulary
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


@keras_invariance_export("keras_invariance.penalties.NoiseRegularization")
class NoiseRegularization(EmbeddingInputs, LayerwiseSquaredL2):
    """Noise regularization R = E‖f(x) − f(x + Δx)‖², weighted by `weight`.

    Scale (`scale="normalized"`, default): ε is in units of the batch's input
    RMS s (Δx ~ N(0, (ε·s)²I), s held constant), and each layer's distance
    is divided by the clean activations' batch spread E‖h − h̄‖²
    (`keras_invariance.ops.scales.batch_spread`), so R is dimensionless and
    `weight` and ε mean the same on any model and input range: R is noise
    over signal, the outputs' change under noise of a fixed fraction of the
    inputs' own size relative to how much they vary between examples. The
    spread stays in the gradient: held constant, the term is lowered
    fastest by outputs that stop depending on x.
    `scale="paper"` is the paper's raw ‖h − h̃‖² with ε in input units.

    Draws its own Δx ~ N(0, ε²I) each step (so it combines with any model
    perturbation, e.g. FGSM) and runs one extra forward pass
    (`training=True`, like the clean pass) on x + Δx. It compares the outputs
    (`layers="logits"`, default) or any tapped layers, Σ_ℓ γ_ℓ‖a_ℓ − ã_ℓ‖²,
    averaged over the batch. Gradients flow through both passes (eq. 1).
    `weight` is λ, the paper's α of eq. 1 (not `InvariantModel`'s `alpha`,
    the weight of the clean loss).

    On the paper scale and for small ε, R ≈ ε²·‖J‖²_F (§3.2), a stochastic
    Jacobian penalty.

    With `adversarial=True`, Δx maximizes ‖h − h̃‖² within ‖Δx‖₂ ≤ ε: the
    direction comes from `power_iterations` power iterations (as VAT, with
    ‖·‖² in place of KL; exact products unless `xi` is given), so it converges to the
    top eigenvector of JᵀJ; R is then ≈ ε²·λ_max(JᵀJ) (§3.4). The search
    passes run with `training=search_training` (default `False`: inference
    mode, no BatchNorm update, no dropout) and leave no gradient path into
    the weight update.

    Sharing the engine's perturbed pass instead: with
    `perturbation=GaussianNoise(ε)` and β = 0, `OutputDivergence("squared_l2")`
    (or `ActivationDistance(distance="squared_l2")`) is the same penalty
    without this extra pass. For small ε and `scale="paper"`,
    R ≈ ε²·‖J‖²_F.

    Example:

    >>> NoiseRegularization(stddev=0.1).name
    'noise_regularization'

    Args:
        stddev: ε ≥ 0, the noise standard deviation (random) or the radius
            ‖Δx‖₂ ≤ ε (adversarial), in units of the input RMS when
            `scale="normalized"` (default), else in input units. A non-trainable
            variable.
        layers: Tapped layers, as in `ActivationDistance` (default logits).
        weight: λ ≥ 0, the penalty's weight (the paper's α of eq. 1).
        adversarial: Whether Δx is the adversarial direction.
        xi: `None` (default): exact Gauss–Newton products in the power
            iteration (`numerics.power_iteration`); or ξ > 0, VAT's
            finite-difference radius.
        power_iterations: Python int ≥ 1 (fixed at trace time).
        search_training: `training` flag of the adversarial search passes.
        layer_weight: γ_ℓ for layers given without their own weight.
        embedding_layer: For token models, add Δx to this Embedding layer's
            output (tapped layers must come after it).
        seed: Optional int seed for Δx.
        scale: `"normalized"` (default, relative distances) or `"paper"`
            (the paper's raw scale).
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"noise_regularization"` (the metric name).

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT (the PEA regularizer of Bachman et al., 2014): eq. 1 (R), §3.2
        (≈ ε²‖J‖²_F), §3.4 (adversarial variant, λ_max of JᵀJ).
    """

    default_name = "noise_regularization"

    #: E‖h − h̄‖², kept in the gradient (see the class docstring).
    scale_statistic = staticmethod(scales.batch_spread)

    def __init__(
        self,
        stddev=0.2,
        layers="logits",
        weight=1.0,
        adversarial=False,
        xi=None,
        power_iterations=1,
        search_training=False,
        layer_weight=1.0,
        embedding_layer=None,
        seed=None,
        scale=vocabulary.NORMALIZED,
        **kwargs,
    ):
        super().__init__(
            layers=layers, weight=weight, layer_weight=layer_weight,
            scale=scale, **kwargs,
        )
        self.init_embedding(embedding_layer)
        self.stddev = add_hyperparameter(self, "stddev", stddev)
        self.xi = None if xi is None else add_hyperparameter(self, "xi", xi)
        self.adversarial = bool(adversarial)
        self.power_iterations = numerics.check_count(
            power_iterations, "power_iterations"
        )
        self.search_training = bool(search_training)
        self.init_seed(seed)

    def _forward_fn(self, context, training):
        names = self.tap_names
        if self._split is None:
            return lambda inputs: context.forward(
                context.with_gradient_source(inputs), training=training, taps=names
            )

        def forward(embedded):
            return self._split.tail(
                embedded, training=training, taps=names, spec=context.output_spec
            )

        return forward

    def compute(self, context):
        names = self.tap_names
        clean = context.clean.taps
        if self._split is not None:
            x = self._split.embed(context.x, training=True)
        else:
            x = context.gradient_source
            self.check_float_inputs(x)
        if self.adversarial:
            reference = {n: ops.stop_gradient(clean[n]) for n in names}

            def divergence(activations):
                total = 0.0
                for n, a in zip(names, activations):
                    total += self.layer_weights[n] * ops.sum(
                        self.distance.distance(reference[n], a)
                    )
                return total

            search = self._forward_fn(context, self.search_training)
            direction = numerics.power_iteration(
                lambda inputs: [search(inputs).taps[n] for n in names],
                tf.nest.map_structure(ops.stop_gradient, x),
                divergence,
                xi=self.xi,
                iterations=self.power_iterations,
                start=self._normal_like(x),
                compute_dtype=context.compute_dtype,
            )
            delta = numerics.scale_rows(direction, self._epsilon(x))
        else:
            delta = numerics.scale_rows(self._normal_like(x), self._epsilon(x))
        perturbed = self._forward_fn(context, True)(numerics.add_rows(x, delta))
        total = 0.0
        for n in names:
            d = self.distance.distance(
                clean[n], perturbed.taps[n], l2_scale=self.l2_scale(clean[n])
            )
            total += self.layer_weights[n] * ops.mean(d)
        return total

    def _epsilon(self, x):
        """ε in input units: ε·RMS(x) on the normalized scale (a constant).

        Inputs have no common unit (pixels in [0, 1] or [0, 255],
        standardized features, and embeddings, whose scale is learned and
        starts small), so the normalized scale counts ε in the batch's own
        input RMS (`keras_invariance.ops.scales`).
        """
        if self.scale != vocabulary.NORMALIZED:
            return self.stddev
        return self.stddev * scales.input_rms(x)

    def _normal_like(self, x):
        return tf.nest.map_structure(
            lambda t: random_ops.normal(ops.shape(t), seed=self.seed_generator), x
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "stddev": value_of(self.stddev),
                "adversarial": self.adversarial,
                "xi": None if self.xi is None else value_of(self.xi),
                "power_iterations": self.power_iterations,
                "search_training": self.search_training,
            }
        )
        return config
