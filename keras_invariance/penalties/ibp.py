"""Invariant backpropagation: Loss IBP ‖∇x L‖_r^r and Prediction IBP.

Both penalties share the engine's clean pass: they declare
`requires_input_gradient`, so the engine watches x on a persistent
`context.input_tape` around the clean forward pass, and the penalties take
gradients from that tape inside the weight-update tape (double backprop).
Token models: pass `embedding_layer=` to differentiate at an Embedding
layer's output instead (see `keras_invariance.graph.embedding`).
"""

from keras import ops
import tensorflow as tf

from keras_invariance.ops import numerics
from keras_invariance.ops import scales
from keras_invariance.ops import second_order
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.utils import deprecation
from keras_invariance.utils import vocabulary
from keras_invariance.utils.api_export import keras_invariance_export

#: How Prediction IBP computes its jvp J_p·g.
JVP_MODES = ("auto", "double_vjp", "forward")


class InputGradientPenalty(EmbeddingInputs, Penalty):
    """Base of Loss IBP and Prediction IBP: g_i = ∇x_i ℓ_i per row.

    Example:

    >>> InputGradientPenalty(name="g").order
    1

    Args:
        weight: λ ≥ 0.
        order: r ∈ {1, 2}.
        embedding_layer: For token models, differentiate at this Embedding
            layer's output.
        scale: `"normalized"` (default): measure input changes in units of
            the inputs' own scale (see the subclasses); `"paper"`: in raw
            input units. `normalize=` is its deprecated boolean spelling.
        **kwargs: Keras `Layer` arguments.
    """

    requires_input_gradient = True
    label_free = False
    default_name = None

    def __init__(self, weight=1.0, order=1, embedding_layer=None,
                 scale=vocabulary.NORMALIZED, **kwargs):
        scale = vocabulary.scale_argument(
            kwargs, scale, "InputGradientPenalty", who=type(self).__name__
        )
        kwargs.setdefault("name", self.default_name)
        super().__init__(weight=weight, **kwargs)
        self.order = numerics.check_order(order)
        self.init_embedding(embedding_layer)
        self.scale = scale

    @staticmethod
    def input_scale(source):
        """s = the batch's input RMS (constant): the inputs' own unit."""
        return scales.input_rms(source)

    def _input_gradient(self, context):
        """Returns (g_i = ∇ℓ_i per row, the tensor it is taken at)."""
        if self._split is None:
            return (
                context.per_example_input_gradient(type(self).__name__),
                context.gradient_source,
            )
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            source, result = self._split.forward_watched(
                second_order.inputs_for(context.model, context.x), tape,
                training=True,
            )
            total = ops.sum(context.per_example_loss(result.outputs))
        return tape.gradient(total, source), source

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "order": self.order,
                "scale": self.scale,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Configs saved by 0.2.0 hold `normalize`.
        return super().from_config(
            deprecation.upgrade_config(config, "InputGradientPenalty")
        )


@keras_invariance_export("keras_invariance.penalties.LossIBP")
class LossIBP(InputGradientPenalty):
    """Loss IBP: R = ‖∇x L‖_r^r per example, r ∈ {1, 2} (default 1).

    g_i = ∇x_i ℓ(f(x_i), y_i) is the gradient of the per-example loss
    (not of the batch mean), taken from the engine's clean pass: no extra
    forward pass. The penalty is Σ_i w_i‖g_i‖_r^r / B with the sample
    weights w_i (Keras' `sum_over_batch_size`), so unlabeled rows (weight 0)
    add nothing. It trains by double backpropagation. The paper's L̃_r has a
    factor 1/r, absorbed here in the weight (the paper's β): this is
    ‖g‖_r^r exactly.

    Scale (`scale="normalized"`, default): ‖g_i‖_r^r·s^r with s the batch's
    input RMS (`keras_invariance.ops.scales`), i.e. the first-order loss
    increase (r = 1) when every
    input moves by its own scale in the worst direction. It is in the
    units of the loss, whatever the inputs' range, so `weight` is the FGSM
    radius as a fraction of the input scale, penalized to first order.
    `scale="paper"` is the paper's ‖g‖_r^r in raw input units (its
    β = 0.03 on MNIST pixels in [0, 1]).

    Example:

    >>> LossIBP(weight=0.03).name
    'loss_ibp'

    Args:
        weight: The paper's β ≥ 0.
        order: r, 1 (the paper's default) or 2.
        embedding_layer: For token models, differentiate at this Embedding
            layer's output.
        scale: `"normalized"` (default, input-scale units) or `"paper"`
            (raw).
        **kwargs: Keras `Layer` arguments; `name` defaults to `"loss_ibp"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`, r ∉ {1, 2},
            or a model compiled with several losses.

    Reference:
        Demyanov et al., "Invariant backpropagation: how to train a
        transformation-invariant neural network" (2015), eq. 6–8.
    """

    default_name = "loss_ibp"

    def compute(self, context):
        g, source = self._input_gradient(context)
        values = numerics.power_norm(g, self.order)
        if self.scale == vocabulary.NORMALIZED:
            values = values * self.input_scale(source) ** self.order
        return numerics.weighted_mean(values, context.sample_weight)


@keras_invariance_export("keras_invariance.penalties.PredictionIBP")
class PredictionIBP(InputGradientPenalty):
    """Prediction IBP: R = ‖∇x p · ∇x Lᵀ‖_r^r, the derivative of p along g.

    g_i = ∇x_i ℓ_i comes from the engine's clean pass (as Loss IBP). The
    directional derivative J_p·g is a Jacobian-vector product, never a full
    Jacobian, computed inside the weight-update tape so that R trains by
    differentiating it. Two exact routes (`jvp`):

    * `"double_vjp"`: the paper's algorithm on the engine's clean pass. The
      transpose of the vjp through that pass, J·g = ∇_u ⟨Jᵀu, g⟩
      (`numerics.double_vjp`), is the tangent pass of g through the clean
      pass's linearisation (the paper's "third pass"): no forward pass is
      repeated; the weight tape then backpropagates it once.
    * `"forward"`: forward mode, `tf.autodiff.ForwardAccumulator` (primal
      x, tangent g) over one extra forward pass (`training=True`, which
      updates BatchNorm moving statistics once more). Under
      `jit_compile=True` a ForwardAccumulator inside the weight tape makes
      XLA recompile the step every call (TF 2.21), and it cannot trace
      Keras' recurrent layers.
    * `"auto"` (default): `"double_vjp"` on every model. Measured (no XLA,
      ratio to plain `fit()` in one process, `benchmarks/README.md`):
      BatchNorm ResNet-8 2.6–2.9× against 3.7–3.9× forward mode, the same
      ResNet without BatchNorm 2.7× against 3.8×, a 16×16 max-pool CNN
      1.6× against 2.4×, the digits MLP 1.7× against 2.2×; under XLA the
      forward mode recompiles. What is chosen per model is the graph of
      the double vjp: for a model with batch or feature means (BatchNorm,
      LayerNorm, global average pooling) and no recurrent layer, the batch
      dimension is hidden from TensorFlow (`keras_invariance.ops.second_order`),
      which took the BatchNorm ResNet from 8.0× to 2.6–2.9×.

    As in Tangent BP (and the paper's third pass) the direction g is a
    constant by default (`stop_direction_gradient`).

    p is the model's logits view (its logits, or centred log p for a softmax model,
    see `keras_invariance.graph.outputs`: the paper omits the softmax derivative
    "for numerical stability"); set `softmax=True` to differentiate the
    probabilities. Rows are weighted by
    their sample weights (Σ_i w_i·R_i / B).

    Scale (`scale="normalized"`, default): J_p·g_i is multiplied by s²/RMS(p)
    (s the batch's input RMS, RMS(p) the batch's output RMS, constants:
    `keras_invariance.ops.scales`) and averaged over the
    outputs, which makes R the relative output change when the inputs move
    by their own scale along the loss gradient, in loss units; `weight`
    then transfers across input ranges, widths and output scales.
    `scale="paper"` is the paper's raw ‖J_p·g‖_r^r (its β = 1 on MNIST).

    Example:

    >>> PredictionIBP().name
    'prediction_ibp'

    Args:
        weight: The paper's β ≥ 0.
        order: r, 1 (default) or 2.
        softmax: Differentiate softmax(outputs) instead of the outputs.
        stop_direction_gradient: Treat g as a constant (default `True`).
        jvp: How J_p·g is computed: `"auto"` (default), `"double_vjp"` or
            `"forward"` (see above).
        embedding_layer: For token models, differentiate at this Embedding
            layer's output.
        scale: `"normalized"` (default, relative, loss units) or `"paper"`
            (raw).
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"prediction_ibp"`.

    Raises:
        ValueError: As `LossIBP`.

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), eq. 9 and §5
        (no softmax derivative).
    """

    default_name = "prediction_ibp"

    def __init__(
        self,
        weight=1.0,
        order=1,
        softmax=False,
        stop_direction_gradient=True,
        jvp="auto",
        embedding_layer=None,
        scale=vocabulary.NORMALIZED,
        **kwargs,
    ):
        super().__init__(
            weight=weight, order=order, embedding_layer=embedding_layer,
            scale=scale, **kwargs,
        )
        self.softmax = bool(softmax)
        self.stop_direction_gradient = bool(stop_direction_gradient)
        if jvp not in JVP_MODES:
            raise ValueError(f"`jvp` must be one of {JVP_MODES}; received {jvp!r}.")
        self.jvp = jvp

    def _outputs(self, outputs):
        if self.softmax:
            outputs = ops.softmax(ops.cast(outputs, "float32"), axis=-1)
        return outputs

    def compute(self, context):
        forward_mode = self.jvp == "forward"
        if self._split is None:
            g = context.per_example_input_gradient(type(self).__name__)
            source, tape = context.gradient_source, context.input_tape
            if not forward_mode:
                with tape:
                    outputs = self._outputs(context.clean.logits)
        else:
            with tf.GradientTape(
                persistent=True, watch_accessed_variables=False
            ) as tape:
                source, result = self._split.forward_watched(
                    second_order.inputs_for(context.model, context.x), tape,
                    training=True, spec=context.output_spec,
                )
                total = ops.sum(context.per_example_loss(result.outputs))
                outputs = self._outputs(result.logits)
            g = tape.gradient(total, source)
        if self.stop_direction_gradient:
            g = tf.nest.map_structure(ops.stop_gradient, g)
        g = tf.nest.map_structure(lambda t, src: ops.cast(t, src.dtype), g, source)
        if forward_mode:
            primal = source
            with tf.autodiff.ForwardAccumulator(primal, g) as accumulator:
                if self._split is None:
                    outputs = context.forward(
                        context.with_gradient_source(primal), training=True
                    ).logits
                else:
                    outputs = self._split.tail(
                        primal, training=True, spec=context.output_spec
                    ).logits
                outputs = self._outputs(outputs)
            directional = accumulator.jvp(outputs)
        else:
            directional = numerics.double_vjp(tape, outputs, source, g)
        values = numerics.power_norm(directional, self.order)
        if self.scale == vocabulary.NORMALIZED:
            values = values * self._scale(source, outputs) ** self.order
        return numerics.weighted_mean(values, context.sample_weight)

    def _scale(self, source, outputs):
        """s² / (d_p·RMS(p)): J_p·g in loss units, per output (constant).

        J_p·g has units of p·L/x²: s² (the inputs' own scale squared) and
        the output's RMS make it the change of each output, relative to
        its size, when the inputs move by their scale along the loss
        gradient — a loss-unit quantity that transfers across models.
        """
        p = numerics.flatten_rows(outputs)
        width = float(p.shape[-1] or 1)
        rms = scales.output_rms(p)
        return self.input_scale(source) ** 2 / (rms * width ** (1.0 / self.order))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "softmax": self.softmax,
                "stop_direction_gradient": self.stop_direction_gradient,
                "jvp": self.jvp,
            }
        )
        return config
