"""The Jacobian penalty ‖∂a_ℓ/∂x‖²_F, exact or by random projections."""

from keras import ops
import tensorflow as tf

from keras_invariance.graph import batchnorm
from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops
from keras_invariance.ops import scales
from keras_invariance.penalties.activation_distance import LayerwiseSquaredL2
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.utils import vocabulary
from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.penalties.Jacobian")
class Jacobian(EmbeddingInputs, LayerwiseSquaredL2):
    """Jacobian penalty R = Σ_ℓ γ_ℓ·‖∂a_ℓ/∂x‖²_F, averaged over the batch.

    `a_ℓ` are the outputs (`layers="logits"`, default) or any tapped layers;
    per layer this is IRL's Λ_R (eq. 7), the component-wise activation
    gradients with respect to the inputs.

    * Exact (`num_projections=None`): one vector-Jacobian product per output
      unit (`K` backward passes through the engine's clean pass, unrolled at
      trace time), Σ_k ‖∇x a_k‖². Meant for small outputs; `max_exact_size`
      guards against a hidden layer with thousands of units.
    * Random projections (`num_projections=n`): (1/n) Σ_j ‖v_jᵀ J‖² with
      v_j ~ N(0, I) over the layer's units, drawn per row. Unbiased, because
      E[v vᵀ] = I gives E‖vᵀJ‖² = tr(J Jᵀ) = ‖J‖²_F. Costs n backward passes.

    Scale (`scale="normalized"`, default): ‖J‖²_F is multiplied by
    (E‖x‖²/d_x)/E‖a − ā‖² over the batch (the input RMS held constant,
    the outputs' spread kept in the gradient, `keras_invariance.ops.scales`),
    making it a dimensionless relative sensitivity (1 for a linear map with
    isotropic, centred inputs), so `weight` means the same on any model.
    `scale="paper"` is the raw ‖∂a/∂x‖²_F.

    The exact form reads row i's Jacobian row as ∂Σ_j a_k(x_j)/∂x_i, which
    assumes independent rows; BatchNorm in training mode couples them
    through the batch statistics, and its centring makes Σ_j a_j nearly
    independent of every x_i, so the exact form is refused on a model with
    BatchNorm. The projections (the default, one per step) estimate
    Σ_j ‖∂a_j/∂x_i‖² over the rows, the row's own Jacobian plus the
    batch-statistics coupling, O(1/B). The penalty uses no labels.

    Example:

    >>> Jacobian(num_projections=1).name
    'jacobian'

    Args:
        layers: Tapped layers, as in `ActivationDistance` (default logits).
        num_projections: n ≥ 1 projections (default 1: one backward pass
            instead of K, an unbiased estimate of the same norm), or `None`
            for the exact norm.
        weight: λ ≥ 0.
        layer_weight: γ_ℓ for layers given without their own weight.
        max_exact_size: Largest per-row layer size the exact form accepts.
        embedding_layer: For token models, differentiate with respect to this
            Embedding layer's output instead of the integer inputs.
        seed: Optional int seed for the projections.
        scale: `"normalized"` (default, relative sensitivity) or `"paper"`
            (the raw norm).
        **kwargs: Keras `Layer` arguments; `name` defaults to `"jacobian"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`, an exact
            norm over a layer larger than `max_exact_size` or on a model
            with BatchNorm.

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT, eq. 2 and eq. 5; Salazar et al., "Invariant Representation
        Learning for Robust Deep Networks" (2018), eq. 7 (per layer).
    """

    requires_input_gradient = True
    default_name = "jacobian"

    def __init__(
        self,
        layers="logits",
        num_projections=1,
        weight=1.0,
        layer_weight=1.0,
        max_exact_size=256,
        embedding_layer=None,
        seed=None,
        scale=vocabulary.NORMALIZED,
        **kwargs,
    ):
        super().__init__(
            layers=layers, weight=weight, layer_weight=layer_weight,
            scale=scale, **kwargs,
        )
        if num_projections is not None:
            num_projections = numerics.check_count(num_projections, "num_projections")
        self.num_projections = num_projections
        self.max_exact_size = int(max_exact_size)
        self.init_embedding(embedding_layer)
        self.init_seed(seed)

    def bind(self, model, subclassed=False):
        super().bind(model, subclassed)
        if self.num_projections is None and model is not None and (
            batchnorm.moving_statistics(model)
        ):
            raise ValueError(
                "Jacobian(num_projections=None) computes the exact "
                "norm from column sums over the batch, which assumes "
                "independent rows; BatchNorm in training mode couples them, "
                "and its centring cancels those sums. Use random projections "
                "(`num_projections=1`, the default), which estimate each "
                "row's own Jacobian."
            )

    def compute(self, context):
        names = self.tap_names
        if self._split is not None:
            with tf.GradientTape(
                persistent=True, watch_accessed_variables=False
            ) as tape:
                source, result = self._split.forward_watched(
                    context.x, tape, training=True, taps=names,
                    spec=context.output_spec,
                )
                activations = result.taps
        else:
            self.check_float_inputs(context.gradient_source)
            tape, source = context.input_tape, context.gradient_source
            activations = context.clean.taps
        total = 0.0
        for n in names:
            squared = self._squared_frobenius(tape, activations[n], source, n)
            if self.scale == vocabulary.NORMALIZED:
                squared = squared * self._scale(source, activations[n])
            total += self.layer_weights[n] * ops.mean(squared)
        return total

    @staticmethod
    def _scale(source, a):
        """(E‖x‖²/d_x)/E‖a − ā‖² over the batch (`keras_invariance.ops.scales`).

        ‖J‖²_F times it is a relative sensitivity: for a linear map and
        isotropic, centred inputs it is 1, the output change under noise of
        the inputs' own scale relative to the outputs' spread between
        examples, so it does not grow with width, input size or magnitude.
        The input RMS is a constant; the spread stays in the gradient
        (`scales.batch_spread`: held constant, the term was lowered by
        shrinking every output towards the bias).
        """
        return scales.input_rms(source) ** 2 / scales.batch_spread(a)

    def _squared_frobenius(self, tape, a, source, name):
        size = 1
        for dim in a.shape[1:]:
            size *= dim
        if self.num_projections is None:
            if size > self.max_exact_size:
                raise ValueError(
                    f"The exact Jacobian of {name!r} needs {size} backward "
                    f"passes (more than max_exact_size={self.max_exact_size}). "
                    "Pass `num_projections=n` for the unbiased random "
                    "projection estimator."
                )
            rows = ops.shape(a)[0]
            total = 0.0
            for k in range(size):
                e = ops.one_hot(ops.full((rows,), k, "int32"), size, dtype=a.dtype)
                g = tape.gradient(
                    a, source, output_gradients=ops.reshape(e, ops.shape(a))
                )
                total += numerics.power_norm(g, 2)
            return total
        total = 0.0
        for _ in range(self.num_projections):
            v = random_ops.normal(
                ops.shape(a), dtype="float32", seed=self.seed_generator
            )
            g = tape.gradient(a, source, output_gradients=ops.cast(v, a.dtype))
            total += numerics.power_norm(g, 2)
        return total / float(self.num_projections)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_projections": self.num_projections,
                "max_exact_size": self.max_exact_size,
            }
        )
        return config
