"""Tangent Prop (Tangent BP) and fast Tangent BP penalties.

Both penalize the model's first-order change along tangent vectors
t = ∂g(x, θ)/∂θ at θ = 0 of the transforms g a user wants invariance to.
The transforms are given as names (`"translate_x"`, `"rotate"`, …) or as
the Keras preprocessing layers the user would use for augmentation
(`RandomTranslation`, `RandomRotation`, `RandomZoom`, `RandomBrightness`,
`RandomContrast`); `keras_invariance.spatial.tangent_vectors` turns either
into tangent images, after Gaussian smoothing (σ = 0.9 by default).

* `TangentProp` (Tangent BP): R = Σ_t mean_b ‖J_f(x_b)·t_bt‖², the
  directional derivatives of the outputs, by forward-mode autodiff
  (`tf.autodiff.ForwardAccumulator`) in one pass over B·T rows.
* `FastTangentProp` (fast TBP): R = Σ_t mean_b (∇x ℓ_b · t_bt)², the
  directional derivatives of the per-example loss, from the input gradient
  of the engine's clean pass (no extra forward pass).

Reference:
    Demyanov et al., "Invariant backpropagation" (2015), §2.1 (Tangent BP, eq. 3), §4.1 (fast
    Tangent BP, eq. 10), §5 (5 tangents: x/y shift, x/y scale, rotation;
    σ = 0.9; Table 1 timings); Simard et al. (2012).
"""

import keras
from keras import ops
from keras import tree
import tensorflow as tf

from keras_invariance import spatial as spatial_lib
from keras_invariance.graph import batchnorm
from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops
from keras_invariance.ops import scales
from keras_invariance.ops import second_order
from keras_invariance.penalties.base import Penalty
from keras_invariance.utils import deprecation
from keras_invariance.utils import validation
from keras_invariance.utils import vocabulary
from keras_invariance.utils.api_export import keras_invariance_export

ORDERS = (1, 2)
#: How J·t is computed: through the engine's clean pass when it can
#: ("auto", "double_vjp"), or forward mode over B·T rows ("forward").
JVP_METHODS = ("auto", "forward", "double_vjp")


def _power(values, order):
    values = ops.cast(values, "float32")
    return ops.abs(values) if order == 1 else ops.square(values)


def _serialize_transforms(transforms):
    """Names stay names; layers are stored as their Keras configs."""
    if isinstance(transforms, (str, keras.layers.Layer)):
        transforms = [transforms]
    out = []
    for t in transforms:
        if isinstance(t, str):
            out.append(t)
        else:
            out.append(keras.saving.serialize_keras_object(t))
    return out


def _deserialize_transforms(transforms):
    return [
        t if isinstance(t, str) else keras.saving.deserialize_keras_object(t)
        for t in transforms
    ]


class _Untracked:
    """Keeps the transform layers out of the penalty's tracked state."""

    def __init__(self, transforms):
        if isinstance(transforms, (str, keras.layers.Layer)):
            transforms = [transforms]
        self.transforms = list(transforms)


class _TangentPenalty(Penalty):
    """Shared parts: the transforms, σ, the order and the tangents."""

    default_name = None

    def __init__(
        self,
        transforms=spatial_lib.IBP_TANGENTS,
        sigma=0.9,
        weight=1.0,
        order=2,
        fill_mode="constant",
        **kwargs,
    ):
        kwargs.setdefault("name", self.default_name)
        super().__init__(weight=weight, **kwargs)
        if order not in ORDERS:
            raise ValueError(f"`order` must be 1 or 2; received {order!r}.")
        self.order = int(order)
        self.sigma = float(sigma or 0.0)
        self.fill_mode = fill_mode
        # Layers are held outside Keras' tracking (their seed states are not
        # ours to save) and stored in the config by their own configs.
        self._untracked = _Untracked(transforms)
        self._transforms_config = _serialize_transforms(transforms)
        # Fail now, not inside the train step, for an unsupported layer.
        spatial_lib.tangent_vectors(
            tf.zeros((1, 4, 4, 1)), self._untracked.transforms, sigma=0.0
        )

    def bind(self, model, subclassed=False):
        spec = None if subclassed else getattr(model, "input", None)
        if spec is not None and len(tree.flatten(spec)) > 1:
            raise ValueError(
                f"{type(self).__name__} differentiates along image tangents of "
                "one image input, but the model has "
                f"{len(tree.flatten(spec))} inputs. Split off the image branch "
                "as its own model, or use a per-input spatial perturbation "
                "(`perturbation={'image': ki.perturbations.RandomSpatialTransform()}`) with "
                "`OutputDivergence`."
            )

    @property
    def transforms(self):
        """The transforms: names and/or Keras preprocessing layers."""
        return list(self._untracked.transforms)

    def tangents(self, x):
        """Tangent images `(B, T, H, W, C)` of the batch, no gradient."""
        validation.check_image_batch(x, type(self).__name__)
        return ops.stop_gradient(
            spatial_lib.tangent_vectors(
                x, self._untracked.transforms, sigma=self.sigma, fill_mode=self.fill_mode
            )
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "transforms": list(self._transforms_config),
                "sigma": self.sigma,
                "order": self.order,
                "fill_mode": self.fill_mode,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["transforms"] = _deserialize_transforms(config["transforms"])
        return cls(**config)


@keras_invariance_export("keras_invariance.penalties.TangentProp")
class TangentProp(_TangentPenalty):
    """Tangent Prop: R = Σ_t mean_b ‖J_f(x_b) · t_bt‖² (Tangent BP).

    For each example b and tangent t (T tangents), J_f(x_b)·t_bt is the
    directional derivative of the model outputs along the tangent image:
    how fast the prediction changes when the transform starts to act. Never
    a full Jacobian: one Jacobian-vector product per tangent. The jvps run
    inside the engine's weight-update tape, so R trains (the jvp is
    differentiated with respect to the weights). The tangents themselves are
    constants.

    The outputs are differentiated as logits (the model's logits view, centred log p
    for a softmax model, see `keras_invariance.graph.outputs`: the paper omits the
    softmax derivative "for numerical stability"); `softmax=True`
    differentiates the probabilities. The
    penalty uses no labels and averages over every row.

    How the jvps are computed (`jvp_method`). With `training=True` (the
    default) the engine's clean pass is the linearisation shared by every
    tangent: the engine watches x on its input tape (this penalty declares
    `requires_input_gradient`), and each J·t is the transpose of a vjp
    through that pass, J·t = ∂/∂u ⟨Jᵀu, t⟩ (`numerics.double_vjp`). No
    forward pass is repeated: the cost per tangent is one pass through the
    linearised network and its backward, as in the paper's Tangent BP, and
    it compiles once under XLA. BatchNorm in the clean pass normalizes with
    the batch statistics, so the jvp of tangent t includes their change when
    every row moves along its own tangent t. This is `"double_vjp"`, and
    `"auto"` (default) except for one case: without XLA, a model with
    BatchNormalization layers takes the B·T-row forward-mode pass below.
    The shared pass is the faster one there too, but a BatchNorm network
    trained through it can end with moving statistics that lag behind its
    weights (the forward-mode pass updates them twice per step, which halves
    the lag; README, "Weights and scales", design notes). Choose
    `jvp_method="double_vjp"` with
    `keras_invariance.integrations.callbacks.BatchNormRecalibration`, which
    re-estimates them from the training data when training ends, to take
    the shared pass on such a model.

    Without the engine's pass (`training=False`, which differentiates the
    inference-mode network, or `directional_derivatives` called on other
    inputs), the T tangents are stacked into a batch of B·T rows (x repeated
    T times) and one extra pass gives all jvps: forward mode
    (`tf.autodiff.ForwardAccumulator`) for `"forward"`, and for `"auto"`
    without XLA; the double vjp over those rows for `"double_vjp"`, and for
    `"auto"` under `jit_compile=True` (TensorFlow 2.21 on CPU recompiles a
    train step holding a `ForwardAccumulator` at every call once the
    weights change). `"forward"` always takes this B·T-row forward-mode
    pass (`training=True` then normalizes BatchNorm over the B·T rows and
    updates its moving statistics once more).

    `num_projections` (optional) replaces the T tangents by that many random
    Rademacher combinations Σ_t ε_t·t_t. Since E[ε_s ε_t] = δ_st,
    E‖J Σ_t ε_t t_t‖² = Σ_t ‖J t_t‖²: an unbiased estimate of R (order 2)
    at the cost of `num_projections` tangents instead of T.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> augment = [keras.layers.RandomTranslation(0.1, 0.1),
    ...            keras.layers.RandomRotation(0.05)]
    >>> penalty = TangentProp(transforms=augment, weight=0.01)
    >>> penalty.name
    'tangent_prop'

    Args:
        transforms: Names from `keras_invariance.spatial.TANGENT_NAMES`
            and/or Keras preprocessing layers (`RandomTranslation`,
            `RandomRotation`, `RandomZoom`, `RandomBrightness`,
            `RandomContrast`, or a `Sequential` of them). Defaults to the
            paper's five: x and y shift, x and y scale, rotation. A layer's
            tangent is scaled to the edge of its range (see
            `tangent_vectors`).
        sigma: Gaussian smoothing (pixels) before differentiating the image
            (0.9, the paper's value); 0 for none.
        weight: β ≥ 0, the weight of R.
        order: 2 (default, ‖·‖²) or 1 (‖·‖₁, the paper's experiments).
        softmax: Differentiate softmax(outputs) instead of the outputs.
        training: `training` flag of the differentiated network (default
            `True`: the engine's clean pass).
        num_projections: `None` (exact, default) or a Python int: random
            tangent combinations per example (order 2 only).
        seed: Optional int seed of the random combinations.
        jvp_method: `"auto"` (default), `"double_vjp"` or `"forward"`
            (ForwardAccumulator over B·T rows), see above.
        fill_mode: Boundary handling of smoothing and image differences.
        scale: `"normalized"` (default): divide R by the batch mean of the
            outputs' ‖p‖_r^r (held constant), making R the relative change
            of the prediction at the edge of each transform's range,
            comparable across models; `"paper"`: the paper's raw scale.
            `normalize=` is its deprecated boolean spelling.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"tangent_prop"` (the metric name).

    Raises:
        ValueError: For an unsupported layer or unknown name (the message
            lists the supported ones), a bad `order`, or inputs that are not
            a single 4-D float image batch.

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), §2.1, eq. 3 (R = L̃(∇θ p(g(x, θ))))
        and §5 (5 tangents, σ = 0.9).
    """

    default_name = "tangent_prop"
    label_free = True

    def __init__(
        self,
        transforms=spatial_lib.IBP_TANGENTS,
        sigma=0.9,
        weight=1.0,
        order=2,
        softmax=False,
        training=True,
        num_projections=None,
        seed=None,
        jvp_method="auto",
        fill_mode="constant",
        scale=vocabulary.NORMALIZED,
        **kwargs,
    ):
        scale = vocabulary.scale_argument(
            kwargs, scale, "TangentProp", who=type(self).__name__
        )
        if jvp_method not in JVP_METHODS:
            raise ValueError(
                f"`jvp_method` must be one of {JVP_METHODS}; received "
                f"{jvp_method!r}."
            )
        super().__init__(
            transforms=transforms,
            sigma=sigma,
            weight=weight,
            order=order,
            fill_mode=fill_mode,
            **kwargs,
        )
        self.jvp_method = jvp_method
        self.scale = scale
        self.softmax = bool(softmax)
        self.training = bool(training)
        # The engine's clean pass (training=True) is the linearisation every
        # tangent shares; the engine records it on its input tape for us.
        self.requires_input_gradient = self.training and jvp_method != "forward"
        if num_projections is not None:
            if int(num_projections) != num_projections or num_projections < 1:
                raise ValueError(
                    "`num_projections` must be None or an integer ≥ 1; "
                    f"received {num_projections!r}."
                )
            if self.order != 2:
                raise ValueError(
                    "`num_projections` estimates the squared norm; use it "
                    "with order=2."
                )
            num_projections = int(num_projections)
        self.num_projections = num_projections
        # Only the projections draw: without them no generator is made.
        self.init_seed(seed, generator=num_projections is not None)

    def directional_derivatives(self, context, x=None):
        """J_f(x)·t for every row and tangent, `(B, T', outputs...)`.

        Args:
            context: The step's `StepContext` (for its forward pass).
            x: Images; defaults to `context.x`.

        Returns:
            The jvps, float32, with T' = T (or `num_projections`).
        """
        x = context.x if x is None else x
        tangents = self.tangents(x)  # (B, T, H, W, C)
        if self.num_projections is not None:
            signs = ops.sign(
                random_ops.uniform(
                    (ops.shape(x)[0], self.num_projections, tangents.shape[1]),
                    seed=self.seed_generator,
                )
                - 0.5
            )
            tangents = tf.einsum("bpt,bthwc->bphwc", signs, tangents)
        count = tangents.shape[1]
        if self._shares_clean_pass(context, x):
            jvp = self._clean_pass_jvps(context, tangents, count)
        else:
            jvp = self._extra_pass_jvps(context, x, tangents, count)
        jvp = ops.cast(jvp, "float32")
        return ops.reshape(jvp, (-1, count) + tuple(jvp.shape[2:]))

    def _outputs(self, outputs):
        if self.softmax:
            outputs = ops.softmax(ops.cast(outputs, "float32"), axis=-1)
        return outputs

    def bind(self, model, subclassed=False):
        super().bind(model, subclassed)
        self._has_batch_norm = bool(batchnorm.moving_statistics(model))

    def _shares_clean_pass(self, context, x):
        if self.jvp_method == "auto" and getattr(self, "_has_batch_norm", False):
            if not getattr(context.model, "jit_compile", False):
                return False
        return (
            self.requires_input_gradient
            and x is context.x
            and getattr(context, "input_tape", None) is not None
            and getattr(context, "clean", None) is not None
        )

    def _clean_pass_jvps(self, context, tangents, count):
        """(B, T, outputs...) from the engine's clean pass, T transposed vjps.

        One vjp per tangent over the B rows the clean pass already ran (not
        B·T rows of a repeated batch): the forward pass is never repeated,
        and what is left per tangent is the tangent's pass through the
        linearised network and its share of the weight backward.
        """
        tape, x = context.input_tape, context.x
        with tape:
            outputs = self._outputs(context.clean.logits)
        directions = ops.cast(tangents, x.dtype)
        jvps = [
            numerics.double_vjp(tape, outputs, x, directions[:, t])
            for t in range(count)
        ]
        return ops.stack(jvps, axis=1)

    def _extra_pass_jvps(self, context, x, tangents, count):
        """(B·T, outputs...) from one extra pass over x repeated T times."""
        shape = ops.shape(x)
        rows = ops.repeat(x, count, axis=0)  # b-major: row b·T + t
        directions = ops.reshape(
            ops.cast(tangents, x.dtype), (-1, shape[1], shape[2], shape[3])
        )

        def outputs_of(inputs):
            return self._outputs(
                context.forward(inputs, training=self.training).logits
            )

        if self._use_double_vjp(context):
            # J·t = ∂/∂u ⟨(uᵀJ), t⟩: two reverse passes, no forward mode.
            rows = second_order.inputs_for(context.model, rows)
            with tf.GradientTape(watch_accessed_variables=False) as outer:
                with tf.GradientTape(watch_accessed_variables=False) as inner:
                    inner.watch(rows)
                    outputs = outputs_of(rows)
                    dummy = tf.zeros_like(outputs)
                    outer.watch(dummy)
                    projected = tf.reduce_sum(outputs * dummy)
                vjp = inner.gradient(projected, rows)
                along = tf.reduce_sum(vjp * directions)
            jvp = outer.gradient(along, dummy)
        else:
            with tf.autodiff.ForwardAccumulator(rows, directions) as accumulator:
                outputs = outputs_of(rows)
            jvp = accumulator.jvp(outputs)
        return ops.reshape(jvp, (-1, count) + tuple(jvp.shape[1:]))

    def _use_double_vjp(self, context):
        if self.jvp_method == "double_vjp":
            return True
        if self.jvp_method == "forward":
            return False
        return bool(getattr(context.model, "jit_compile", False))

    def compute(self, context):
        jvp = self.directional_derivatives(context)
        per_example = ops.sum(
            ops.reshape(_power(jvp, self.order), (ops.shape(jvp)[0], -1)), axis=-1
        )
        if self.scale == vocabulary.NORMALIZED:
            # Relative to the outputs' own size (held constant): the first-
            # order relative change of the prediction at the range's edge.
            # Per batch, not per row: a row's ‖p‖ can be near 0 (one output
            # near the boundary) and the ratio would explode there.
            outputs = ops.cast(context.clean.logits, "float32")
            if self.softmax:
                outputs = ops.softmax(outputs, axis=-1)
            per_example = per_example / scales.batch_power(outputs, self.order)
        return ops.mean(per_example)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "softmax": self.softmax,
                "training": self.training,
                "num_projections": self.num_projections,
                "jvp_method": self.jvp_method,
                "scale": self.scale,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Configs saved by 0.2.0 hold `normalize`.
        return super().from_config(deprecation.upgrade_config(config, "TangentProp"))


@keras_invariance_export("keras_invariance.penalties.FastTangentProp")
class FastTangentProp(_TangentPenalty):
    """Fast Tangent BP: R = Σ_t mean_b w_b·(∇x ℓ_b · t_bt)².

    Penalizes the directional derivative of each example's loss ℓ_b (not of
    its outputs) along each tangent: ∇θ L(p(g(x, θ)))|θ=0 = dy0·∇θ x (eq.
    10). dy0 = ∇x ℓ_b is the input gradient of the engine's clean pass
    (`requires_input_gradient`: the engine watches x on its input tape), so
    all T directional derivatives are T dot products: no extra forward pass
    and no B·T-row batch, only the double backpropagation of the input
    gradient. (A jvp of the loss would need the B·T-row tangent pass of
    `TangentProp`; the input-gradient route is the cheaper one and the one
    the paper times.) Rows are weighted by their sample weights w_b, so
    unlabeled rows (weight 0) add nothing.

    Example:

    >>> FastTangentProp(weight=0.01).name
    'fast_tangent_prop'

    Args:
        transforms: As `TangentProp`; the paper's five by default.
        sigma: Gaussian smoothing before differentiating (0.9).
        weight: β ≥ 0.
        order: 2 (default) or 1 (|·|, as the paper's experiments).
        fill_mode: Boundary handling of smoothing and differences.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"fast_tangent_prop"`.

    Raises:
        ValueError: As `TangentProp`, and for a model compiled with several
            losses (the per-example loss is needed).

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), §4.1, eq. 10 (fast TBP), §7.5.
    """

    default_name = "fast_tangent_prop"
    requires_input_gradient = True
    label_free = False

    def compute(self, context):
        tangents = ops.cast(self.tangents(context.x), "float32")
        gradient = ops.cast(
            context.per_example_input_gradient(type(self).__name__), "float32"
        )
        directional = tf.einsum("bhwc,bthwc->bt", gradient, tangents)
        per_example = ops.sum(_power(directional, self.order), axis=-1)
        return numerics.weighted_mean(per_example, context.sample_weight)
