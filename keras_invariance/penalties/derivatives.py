"""Derivative penalties: noise regularization, Jacobian norms, Loss / Prediction IBP.

Every penalty here is a derivative of the network, or a finite-difference
estimate of one:

* `NoiseRegularization`: α·E‖f(x) − f(x + Δx)‖², random or adversarial Δx
  (≈ α·ε²‖J‖²_F for small ε).
* `JacobianPenalty`: ‖∂f/∂x‖²_F, exact or by random projections.
* `LossIBPPenalty`: ‖∇x L‖_r^r (Loss IBP).
* `PredictionIBPPenalty`: ‖∇x p · ∇x Lᵀ‖_r^r (Prediction IBP), a jvp.

The input-gradient penalties share the engine's clean pass: they set
`requires_input_gradient = True`, so the engine watches `x` on a persistent
`context.input_tape` around the clean forward pass, and the penalties take
gradients from that tape inside the weight-update tape (double backprop).

Token models: pass `embedding_layer="<name of the Embedding layer>"` to
differentiate (and perturb) at that layer's output instead of at the integer
inputs; see `keras_invariance.embedding`.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_invariance import random_ops
from keras_invariance import context as context_lib
from keras_invariance import distances as distances_lib
from keras_invariance import embedding as embedding_lib
from keras_invariance import taps as taps_lib
from keras_invariance.api_export import keras_invariance_export
from keras_invariance.hyperparameters import add_hyperparameter
from keras_invariance.hyperparameters import value_of
from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.penalties.base import Penalty

NORM_ORDERS = (1, 2)
JVP_MODES = ("double_vjp", "forward")


def flatten_rows(t):
    """Reshapes `(batch, ...)` to `(batch, features)` in float32."""
    t = ops.cast(t, "float32")
    if len(t.shape) == 1:
        return ops.expand_dims(t, -1)
    return ops.reshape(t, (ops.shape(t)[0], -1))


def power_norm(t, order):
    """‖t_i‖_r^r per row, float32, shape `(batch,)`."""
    t = flatten_rows(t)
    if order == 1:
        return ops.sum(ops.abs(t), axis=-1)
    return ops.sum(ops.square(t), axis=-1)


def weighted_mean(values, sample_weight):
    """Σ_i w_i v_i / B: Keras' `sum_over_batch_size` reduction."""
    if sample_weight is None:
        return ops.mean(values)
    w = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    return ops.mean(values * w)


def check_order(order):
    if order not in NORM_ORDERS:
        raise ValueError(f"`order` (r) must be 1 or 2; received {order!r}.")
    return int(order)


def check_float_input(x, who):
    """The error for integer inputs (token ids) on gradient-based terms."""
    for t in tf.nest.flatten(x):
        dtype = keras.backend.standardize_dtype(t.dtype)
        if not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"{who} differentiates with respect to the inputs, but they "
                f"are {dtype} (token ids have no gradient). Pass "
                "`embedding_layer='<name of your Embedding layer>'` to "
                "differentiate at the embedding output instead."
            )
    if len(tf.nest.flatten(x)) != 1:
        raise ValueError(
            f"{who} supports models with a single input tensor; the model "
            "has several."
        )


def _clean_input_gradient(context, who):
    """g_i = ∇x_i ℓ_i for every row, from the engine's clean pass.

    Re-enters the engine's persistent input tape to record Σ_i ℓ_i, so the
    per-example loss (not the batch mean) is differentiated: row i of the
    result is ∇x_i ℓ(f(x_i), y_i). Called inside the weight-update tape, so
    the result is itself differentiable with respect to the weights.
    """
    cached = context.cache.get("per_example_input_gradient")
    if cached is not None:
        return cached
    check_float_input(context.x, who)
    with context.input_tape:
        total = ops.sum(context.per_example_loss(context.clean.outputs))
    gradient = context.input_gradient(total)
    context.cache["per_example_input_gradient"] = gradient
    return gradient


def double_vjp(tape, outputs, source, tangent):
    """J·t for J = ∂outputs/∂source, as the transpose of a vjp.

    v(u) = Jᵀu is linear in u, so ∇_u ⟨v(u), t⟩ = J·t at any u (u = 0
    here). `tape` must have recorded `outputs` from `source` (persistent).
    Runs backward passes only: no extra forward pass.
    """
    u = tf.zeros_like(outputs)
    with tf.GradientTape(watch_accessed_variables=False) as transpose:
        transpose.watch(u)
        v = tape.gradient(outputs, source, output_gradients=u)
        inner = ops.sum(ops.cast(v, "float32") * ops.cast(tangent, "float32"))
    return transpose.gradient(inner, u)


class _EmbeddingMixin:
    """Resolves `embedding_layer` once and routes passes through it."""

    def _bind_embedding(self, model, subclassed):
        self._split = None
        if self.embedding_layer is not None:
            self._split = embedding_lib.split_model(
                model, self.embedding_layer, subclassed=subclassed
            )


class _LayerwisePenalty(ActivationDistance):
    """A penalty on tapped layers that reuses `ActivationDistance`'s layer
    selection and per-layer γ_ℓ variables, with its distance fixed to squared
    L2 (so `distance` is neither an argument nor part of the config)."""

    def __init__(self, layers="logits", weight=1.0, layer_weight=1.0, **kwargs):
        kwargs.pop("distance", None)
        super().__init__(
            layers=layers,
            distance="squared_l2",
            weight=weight,
            layer_weight=layer_weight,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("distance")
        return config


@keras_invariance_export
class NoiseRegularization(_LayerwisePenalty, _EmbeddingMixin):
    """Noise regularization R = α·E‖f(x) − f(x + Δx)‖².

    Draws its own Δx ~ N(0, ε²I) each step (so it combines with any model
    perturbation, e.g. FGSM) and runs one extra forward pass
    (`training=True`, like the clean pass) on x + Δx. It compares the outputs
    (`layers="logits"`, default) or any tapped layers, Σ_ℓ γ_ℓ‖a_ℓ − ã_ℓ‖²,
    averaged over the batch. Gradients flow through both passes (eq. 1).

    For small ε, R ≈ ε²·‖J‖²_F (seed §3.2), a stochastic Jacobian penalty.

    With `adversarial=True`, Δx maximizes ‖h − h̃‖² within ‖Δx‖₂ ≤ ε: the
    direction comes from `power_iterations` power iterations with finite
    difference ξ (as VAT, with ‖·‖² in place of KL), so it converges to the
    top eigenvector of JᵀJ; R is then ≈ ε²·λ_max(JᵀJ) (seed §3.4). The
    search passes run with `training=search_training` (default `False`:
    inference mode, no BatchNorm update, no dropout) and leave no gradient
    path into the weight update.

    Sharing the engine's perturbed pass instead: with
    `perturbation=GaussianNoise(ε)` and β = 0, `OutputDivergence("squared_l2")`
    (or `ActivationDistance(distance="squared_l2")`) is the same penalty
    without this extra pass.

    Example:

    >>> from keras_invariance.penalties.derivatives import NoiseRegularization
    >>> NoiseRegularization(stddev=0.1).name
    'noise_regularization'

    Args:
        stddev: ε ≥ 0, the noise standard deviation (random) or the radius
            ‖Δx‖₂ ≤ ε (adversarial). A non-trainable variable.
        layers: Tapped layers, as in `ActivationDistance` (default logits).
        weight: α ≥ 0.
        adversarial: Whether Δx is the adversarial direction.
        xi: ξ, the finite-difference radius of the power iteration.
        power_iterations: Python int ≥ 1 (fixed at trace time).
        search_training: `training` flag of the adversarial search passes.
        layer_weight: γ_ℓ for layers given without their own weight.
        embedding_layer: For token models, add Δx to this Embedding layer's
            output (tapped layers must come after it).
        seed: Optional int seed for Δx.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"noise_regularization"` (the metric name).

    Reference:
        noise_jacobian_vat_connections.txt, eq. 1 (R), §3.2 (≈ ε²‖J‖²_F),
        §3.4 (adversarial variant, λ_max of JᵀJ).
    """

    requires_perturbation = False
    label_free = True
    default_name = "noise_regularization"

    def __init__(
        self,
        stddev=0.1,
        layers="logits",
        weight=1.0,
        adversarial=False,
        xi=1e-6,
        power_iterations=1,
        search_training=False,
        layer_weight=1.0,
        embedding_layer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            layers=layers, weight=weight, layer_weight=layer_weight, **kwargs
        )
        self.embedding_layer = embedding_layer
        self.stddev = add_hyperparameter(self, "stddev", stddev)
        self.xi = add_hyperparameter(self, "xi", xi)
        self.adversarial = bool(adversarial)
        self.power_iterations = _check_iterations(power_iterations)
        self.search_training = bool(search_training)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def bind(self, model, subclassed):
        super().bind(model, subclassed)
        self._bind_embedding(model, subclassed)

    def _forward_fn(self, context, training):
        names = self.tap_names
        if self._split is None:
            return lambda inputs: context.forward(inputs, training=training, taps=names)

        def forward(embedded):
            taps = self._split.tail_taps(embedded, training=training, taps=names)
            return context_lib.ForwardResult(taps[taps_lib.LOGITS], taps)

        return forward

    def compute(self, context):
        names = self.tap_names
        clean = context.clean.taps
        if self._split is not None:
            x = self._split.embed(context.x, training=True)
        else:
            x = context.x
            check_float_input(x, "NoiseRegularization")
        if self.adversarial:
            from keras_invariance.penalties import vat as vat_lib

            reference = {n: ops.stop_gradient(clean[n]) for n in names}

            def divergence(result):
                total = 0.0
                for n in names:
                    total += self.layer_weights[n] * ops.sum(
                        distances_lib.squared_l2(reference[n], result.taps[n])
                    )
                return total

            direction = vat_lib.power_iteration(
                self._forward_fn(context, self.search_training),
                ops.stop_gradient(x),
                divergence,
                xi=self.xi,
                iterations=self.power_iterations,
                seed_generator=self.seed_generator,
                compute_dtype=context.model.compute_dtype,
            )
            delta = self.stddev * direction
        else:
            delta = self.stddev * random_ops.normal(
                ops.shape(x), dtype="float32", seed=self.seed_generator
            )
        perturbed = self._forward_fn(context, True)(x + ops.cast(delta, x.dtype))
        total = 0.0
        for n in names:
            d = distances_lib.squared_l2(clean[n], perturbed.taps[n])
            total += self.layer_weights[n] * ops.mean(d)
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "stddev": value_of(self.stddev),
                "adversarial": self.adversarial,
                "xi": value_of(self.xi),
                "power_iterations": self.power_iterations,
                "search_training": self.search_training,
                "embedding_layer": self.embedding_layer,
                "seed": self.seed,
            }
        )
        return config


def _check_iterations(value, name="power_iterations"):
    if int(value) != value or value < 1:
        raise ValueError(
            f"`{name}` must be a Python int ≥ 1 (it is unrolled at trace "
            f"time); received {value!r}."
        )
    return int(value)


@keras_invariance_export
class JacobianPenalty(_LayerwisePenalty, _EmbeddingMixin):
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

    Rows are assumed independent (true without BatchNorm in training mode):
    ∂Σ_i a_k(x_i)/∂x_i is row i's Jacobian row. The penalty uses no labels.

    Example:

    >>> from keras_invariance.penalties.derivatives import JacobianPenalty
    >>> JacobianPenalty(num_projections=1).name
    'jacobian'

    Args:
        layers: Tapped layers, as in `ActivationDistance` (default logits).
        num_projections: `None` for the exact norm, or n ≥ 1 projections.
        weight: λ ≥ 0.
        layer_weight: γ_ℓ for layers given without their own weight.
        max_exact_size: Largest per-row layer size the exact form accepts.
        embedding_layer: For token models, differentiate with respect to this
            Embedding layer's output instead of the integer inputs.
        seed: Optional int seed for the projections.
        **kwargs: Keras `Layer` arguments; `name` defaults to `"jacobian"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`, or an exact
            norm over a layer larger than `max_exact_size`.

    Reference:
        noise_jacobian_vat_connections.txt, eq. 2 and eq. 5;
        irl_invariant_representation_learning.txt, eq. 7 (per layer).
    """

    requires_perturbation = False
    requires_input_gradient = True
    label_free = True
    default_name = "jacobian"

    def __init__(
        self,
        layers="logits",
        num_projections=None,
        weight=1.0,
        layer_weight=1.0,
        max_exact_size=256,
        embedding_layer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            layers=layers, weight=weight, layer_weight=layer_weight, **kwargs
        )
        if num_projections is not None:
            num_projections = _check_iterations(num_projections, "num_projections")
        self.num_projections = num_projections
        self.max_exact_size = int(max_exact_size)
        self.embedding_layer = embedding_layer
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def bind(self, model, subclassed):
        super().bind(model, subclassed)
        self._bind_embedding(model, subclassed)
        if self._split is not None:
            # Differentiated through the split model's own pass.
            self.requires_input_gradient = False

    def compute(self, context):
        names = self.tap_names
        if self._split is not None:
            with tf.GradientTape(
                persistent=True, watch_accessed_variables=False
            ) as tape:
                source, result = self._split.forward_watched(
                    context.x, tape, training=True, taps=names
                )
            activations = result
        else:
            check_float_input(context.x, "JacobianPenalty")
            tape, source = context.input_tape, context.x
            activations = context.clean.taps
        total = 0.0
        for n in names:
            a = activations[n]
            total += self.layer_weights[n] * ops.mean(
                self._squared_frobenius(tape, a, source, n)
            )
        return total

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
                total += power_norm(g, 2)
            return total
        total = 0.0
        for _ in range(self.num_projections):
            v = random_ops.normal(
                ops.shape(a), dtype="float32", seed=self.seed_generator
            )
            g = tape.gradient(a, source, output_gradients=ops.cast(v, a.dtype))
            total += power_norm(g, 2)
        return total / float(self.num_projections)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_projections": self.num_projections,
                "max_exact_size": self.max_exact_size,
                "embedding_layer": self.embedding_layer,
                "seed": self.seed,
            }
        )
        return config


class _InputGradientPenalty(Penalty, _EmbeddingMixin):
    """Shared parts of Loss IBP and Prediction IBP."""

    requires_input_gradient = True
    label_free = False
    default_name = None

    def __init__(self, weight=1.0, order=1, embedding_layer=None, **kwargs):
        kwargs.setdefault("name", self.default_name)
        super().__init__(weight=weight, **kwargs)
        self.order = check_order(order)
        self.embedding_layer = embedding_layer

    def bind(self, model, subclassed):
        self._bind_embedding(model, subclassed)
        if self._split is not None:
            self.requires_input_gradient = False

    def _input_gradient(self, context):
        """Returns (g_i = ∇ℓ_i per row, the tensor it is taken at)."""
        if self._split is None:
            return _clean_input_gradient(context, type(self).__name__), context.x
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            source, result = self._split.forward_watched(
                context.x, tape, training=True
            )
            total = ops.sum(context.per_example_loss(result[self._split.LOGITS]))
        return tape.gradient(total, source), source

    def get_config(self):
        config = super().get_config()
        config.update(
            {"order": self.order, "embedding_layer": self.embedding_layer}
        )
        return config


@keras_invariance_export
class LossIBPPenalty(_InputGradientPenalty):
    """Loss IBP: R = ‖∇x L‖_r^r per example, r ∈ {1, 2} (default 1).

    g_i = ∇x_i ℓ(f(x_i), y_i) is the gradient of the per-example loss
    (not of the batch mean), taken from the engine's clean pass: no extra
    forward pass. The penalty is Σ_i w_i‖g_i‖_r^r / B with the sample
    weights w_i (Keras' `sum_over_batch_size`), so unlabeled rows (weight 0)
    add nothing. It trains by double backpropagation. The paper's L̃_r has a
    factor 1/r, absorbed here in the weight β (this is ‖g‖_r^r exactly).

    Example:

    >>> from keras_invariance.penalties.derivatives import LossIBPPenalty
    >>> LossIBPPenalty(weight=0.03).name
    'loss_ibp'

    Args:
        weight: β ≥ 0.
        order: r, 1 (the paper's default) or 2.
        embedding_layer: For token models, differentiate at this Embedding
            layer's output.
        **kwargs: Keras `Layer` arguments; `name` defaults to `"loss_ibp"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`, r ∉ {1, 2},
            or a model compiled with several losses.

    Reference:
        invariant_backpropagation.txt, eq. 6–8.
    """

    default_name = "loss_ibp"

    def compute(self, context):
        g, _ = self._input_gradient(context)
        return weighted_mean(power_norm(g, self.order), context.sample_weight)


@keras_invariance_export
class PredictionIBPPenalty(_InputGradientPenalty):
    """Prediction IBP: R = ‖∇x p · ∇x Lᵀ‖_r^r, the derivative of p along g.

    g_i = ∇x_i ℓ_i comes from the engine's clean pass (as Loss IBP). The
    directional derivative J_p·g is a Jacobian-vector product, never a full
    Jacobian, computed inside the weight-update tape so that R trains by
    differentiating it. Two exact routes (`jvp`):

    * `"double_vjp"` (default): the transpose of a vjp through the engine's
      clean pass, J·g = ∇_u ⟨Jᵀu, g⟩: backward passes only, no extra
      forward pass. Measured 1.7× plain `fit()` (the paper: 2×).
    * `"forward"`: forward mode, `tf.autodiff.ForwardAccumulator` (primal
      x, tangent g) over one extra forward pass (`training=True`, which
      updates BatchNorm moving statistics once more). Measured 2.5×; and
      under `jit_compile=True`, a ForwardAccumulator inside the weight tape
      makes XLA fold the weights into constants (TF 2.21: a recompilation
      every step, ~300× slower), so it is meant for eager/graph runs.

    As in Tangent BP (and the paper's third pass) the direction g is a
    constant by default (`stop_direction_gradient`).

    p is the model output (the logits when the model outputs logits: the
    paper omits the softmax derivative "for numerical stability"); set
    `softmax=True` to differentiate softmax(logits). Rows are weighted by their sample weights (Σ_i w_i·R_i / B).

    Example:

    >>> from keras_invariance.penalties.derivatives import PredictionIBPPenalty
    >>> PredictionIBPPenalty().name
    'prediction_ibp'

    Args:
        weight: β ≥ 0.
        order: r, 1 (default) or 2.
        softmax: Differentiate softmax(outputs) instead of the outputs.
        stop_direction_gradient: Treat g as a constant (default `True`).
        jvp: How J_p·g is computed: `"double_vjp"` (default) or
            `"forward"` (see above).
        embedding_layer: For token models, differentiate at this Embedding
            layer's output.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"prediction_ibp"`.

    Raises:
        ValueError: As `LossIBPPenalty`.

    Reference:
        invariant_backpropagation.txt, eq. 9 and §5 (no softmax derivative).
    """

    default_name = "prediction_ibp"

    def __init__(
        self,
        weight=1.0,
        order=1,
        softmax=False,
        stop_direction_gradient=True,
        jvp="double_vjp",
        embedding_layer=None,
        **kwargs,
    ):
        super().__init__(
            weight=weight, order=order, embedding_layer=embedding_layer, **kwargs
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
            g = _clean_input_gradient(context, type(self).__name__)
            source, tape = context.x, context.input_tape
            if not forward_mode:
                with tape:
                    outputs = self._outputs(context.clean.outputs)
        else:
            with tf.GradientTape(
                persistent=True, watch_accessed_variables=False
            ) as tape:
                source, result = self._split.forward_watched(
                    context.x, tape, training=True
                )
                logits = result[self._split.LOGITS]
                total = ops.sum(context.per_example_loss(logits))
                outputs = self._outputs(logits)
            g = tape.gradient(total, source)
        if self.stop_direction_gradient:
            g = ops.stop_gradient(g)
        g = ops.cast(g, source.dtype)
        if forward_mode:
            primal = context.x if self._split is None else source
            with tf.autodiff.ForwardAccumulator(primal, g) as accumulator:
                if self._split is None:
                    outputs = context.forward(primal, training=True).outputs
                else:
                    outputs = self._split.tail_forward(
                        context.x, primal, training=True
                    )
                outputs = self._outputs(outputs)
            directional = accumulator.jvp(outputs)
        else:
            directional = double_vjp(tape, outputs, source, g)
        return weighted_mean(
            power_norm(directional, self.order), context.sample_weight
        )

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


@keras_invariance_export
class AdversarialLossPenalty(Penalty, _EmbeddingMixin):
    """R = L(f(x̃)), with x̃ from an FGSM or PGD search, as a penalty.

    For float inputs this is the engine's β·L(x̃) written as a penalty (so a
    second search can be combined with the model's perturbation). For token
    models (`embedding_layer=`), the search and the loss are at the
    embedding output e: x̃ = e + r_adv, the adversarial training of text
    classifiers (Miyato et al.: `PGD(ε, norm=2, steps=1,
    random_start=False)` is their r_adv = ε·g/‖g‖₂).

    The search runs on e held constant and leaves no gradient path; the
    final pass (`training=True`) trains the embedding and the rest of the
    model. Rows are weighted by their sample weights (Σ_i w_i ℓ_i / B).

    Example:

    >>> from keras_invariance.perturbations.adversarial import PGD
    >>> from keras_invariance.penalties.derivatives import AdversarialLossPenalty
    >>> AdversarialLossPenalty(PGD(1.0, norm=2, steps=1)).name
    'adversarial_loss'

    Args:
        perturbation: An `FGSM` or `PGD` (default `FGSM(0.1)`).
        weight: λ ≥ 0.
        embedding_layer: For token models, search at this layer's output.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"adversarial_loss"`.

    Raises:
        ValueError: For a perturbation that is not a search, or integer
            inputs without `embedding_layer`.

    Reference:
        invariant_backpropagation.txt, eq. 4–5 (adversarial training).
    """

    label_free = False

    def __init__(self, perturbation=None, weight=1.0, embedding_layer=None, **kwargs):
        from keras_invariance.perturbations import adversarial

        kwargs.setdefault("name", "adversarial_loss")
        super().__init__(weight=weight, **kwargs)
        if perturbation is None:
            perturbation = adversarial.FGSM(0.1)
        if isinstance(perturbation, dict):
            perturbation = keras.saving.deserialize_keras_object(perturbation)
        if not hasattr(perturbation, "search"):
            raise ValueError(
                "`perturbation` must be a search such as "
                f"`keras_invariance.FGSM` or `PGD`; received {perturbation!r}."
            )
        self.perturbation = perturbation
        self.embedding_layer = embedding_layer

    def bind(self, model, subclassed):
        self._bind_embedding(model, subclassed)

    def compute(self, context):
        search = self.perturbation
        if self._split is not None:
            x = context.x
            embedded = self._split.embed(x, training=True)
            base = ops.stop_gradient(embedded)
            adversarial = search.search(
                base,
                context,
                forward=lambda e: self._split.tail_forward(
                    x, e, training=search.training
                ),
            )
            r_adv = ops.stop_gradient(adversarial - base)
            outputs = self._split.tail_forward(x, embedded + r_adv, training=True)
        else:
            check_float_input(context.x, "AdversarialLossPenalty")
            adversarial = search.search(context.x, context)
            outputs = context.forward(adversarial, training=True).outputs
        return weighted_mean(
            context.per_example_loss(outputs), context.sample_weight
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "perturbation": keras.saving.serialize_keras_object(
                    self.perturbation
                ),
                "embedding_layer": self.embedding_layer,
            }
        )
        return config
