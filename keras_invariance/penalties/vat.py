"""Virtual adversarial training (VAT): KL(p(y|x) ‖ p(y|x + r_adv))."""

import keras
import tensorflow as tf
from keras import ops

from keras_invariance import random_ops
from keras_invariance import distances as distances_lib
from keras_invariance.api_export import keras_invariance_export
from keras_invariance.hyperparameters import add_hyperparameter
from keras_invariance.hyperparameters import value_of
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.derivatives import _EmbeddingMixin
from keras_invariance.penalties.derivatives import _check_iterations
from keras_invariance.penalties.derivatives import check_float_input

#: The smallest useful finite-difference radius, in units of the compute
#: dtype's machine epsilon times ‖x‖: below it, x + ξ·d rounds back to x.
XI_RESOLUTION_FACTOR = 16.0


def l2_normalize_rows(d):
    """d_i / ‖d_i‖₂ per row (over all non-batch axes), float32, zero-safe."""
    d = ops.cast(d, "float32")
    axes = tuple(range(1, len(d.shape)))
    norm = ops.sqrt(ops.sum(ops.square(d), axis=axes, keepdims=True) + 1e-24)
    return d / norm


def effective_xi(xi, x, compute_dtype):
    """ξ, raised to the compute dtype's resolution for 16-bit policies.

    VAT's ξ (1e-6 in its reference) vanishes when the layers compute in
    bfloat16 or float16: x + ξ·d rounds back to x and the power iteration
    sees no difference. For a 16-bit compute dtype, ξ_i is raised to at least
    `XI_RESOLUTION_FACTOR`·eps(dtype)·‖x_i‖ per row.
    """
    dtype = keras.backend.standardize_dtype(compute_dtype or "float32")
    if dtype not in ("float16", "bfloat16"):
        return xi
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    x = ops.cast(x, "float32")
    axes = tuple(range(1, len(x.shape)))
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axes, keepdims=True))
    return ops.maximum(xi, XI_RESOLUTION_FACTOR * eps * (norm + 1.0))


def power_iteration(
    forward, x, divergence, xi, iterations, seed_generator, compute_dtype=None
):
    """The unit direction d maximizing divergence(f(x + d)) to second order.

    Starting from d ~ N(0, I), each iteration sets d ← ∇_d D(x + ξ·d̂) at the
    finite-difference radius ξ. Since D has a minimum at d = 0, its gradient
    there is ≈ ξ·H·d̂ (H = the Hessian of D: the Fisher matrix for KL, 2·JᵀJ
    for ‖·‖²), so this is the power method for H's top eigenvector. The
    search runs in float32 in its own tape, and the result carries no
    gradient (`stop_gradient`): it never reaches the weight update.

    Args:
        forward: `forward(inputs) -> result` running the model.
        x: The clean (float) inputs or embeddings.
        divergence: `divergence(result) -> scalar` (summed over rows), with
            the clean reference already held constant.
        xi: ξ (scalar tensor or float).
        iterations: Python int ≥ 1.
        seed_generator: A `keras.random.SeedGenerator` for d's start.
        compute_dtype: The model's compute dtype (ξ is raised for 16-bit).

    Returns:
        d̂, float32, shaped like `x`, unit ℓ2 norm per row.
    """
    d = random_ops.normal(ops.shape(x), dtype="float32", seed=seed_generator)
    xi = effective_xi(xi, x, compute_dtype)
    for _ in range(iterations):
        d = xi * l2_normalize_rows(d)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(d)
            value = divergence(forward(x + ops.cast(d, x.dtype)))
        d = ops.stop_gradient(tape.gradient(value, d))
    return ops.stop_gradient(l2_normalize_rows(d))


def divergence_from_name(divergence, from_logits=True):
    """h: `"kl"` (on softmax) or `"squared_l2"` (on logits), or a Distance.

    The same resolution as `OutputDivergence`, whose distances it reuses.
    """
    if isinstance(divergence, str) and divergence.lower() in ("kl", "kl_divergence"):
        return distances_lib.KLDivergence(from_logits=from_logits)
    if isinstance(divergence, str) and divergence.lower() == "l2":
        divergence = "squared_l2"
    return distances_lib.get(divergence)


@keras_invariance_export
class VATPenalty(Penalty, _EmbeddingMixin):
    """VAT: R = KL(p(y|x) ‖ p(y|x + r_adv)), r_adv = ε·d̂ by power iteration.

    p(y|x) is the engine's clean output, held constant (as in VAT's
    reference). d̂ comes from `power_iterations` (default 1) power iterations
    at finite-difference radius ξ: the top eigenvector of the Fisher matrix
    (seed §3.4), or of JᵀJ for `divergence="squared_l2"`. The penalty needs
    no labels: every row counts, including unlabeled rows (sample weight 0),
    so it trains on unlabeled batches (compile without a loss, or give those
    rows weight 0).

    Passes: `power_iterations` search passes (forward + backward to the
    input, `training=search_training`, default `False`: inference mode, no
    BatchNorm update and no dropout, like the reference's search that does
    not update batch statistics; the result carries no gradient), then one
    forward pass on x + r_adv with `training=True`, which trains. (With
    BatchNorm in the model, that final pass updates the moving statistics;
    the reference does not.)

    Mixed precision: the search runs in float32, and ξ is raised to the
    16-bit compute dtype's resolution (see `effective_xi`). Even in float32
    the reference's ξ = 1e-6 leaves a few percent of rounding noise in d̂
    (q − p is ~1e-6 against probabilities ~0.1–1); ξ ≈ 1e-3 of the input
    scale gives a cleaner direction when that matters (e.g. comparing runs).

    Example:

    >>> VATPenalty(epsilon=1.0).name
    'vat'

    Args:
        epsilon: ε, the ℓ2 radius of r_adv (in input units). A variable.
        xi: ξ, the power iteration's finite-difference radius. A variable.
        power_iterations: Python int ≥ 1.
        weight: α ≥ 0.
        divergence: `"kl"` (default, on softmax) or `"squared_l2"` (logits).
        from_logits: Whether the model outputs logits.
        search_training: `training` flag of the power-iteration passes.
        embedding_layer: For token models, perturb this Embedding layer's
            output (VAT for text) instead of the integer inputs.
        seed: Optional int seed of the random start.
        **kwargs: Keras `Layer` arguments; `name` defaults to `"vat"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`.

    Reference:
        noise_jacobian_vat_connections.txt, §3.4, eq. 3–4 (Miyato et al.).
    """

    label_free = True

    def __init__(
        self,
        epsilon=1.0,
        xi=1e-6,
        power_iterations=1,
        weight=1.0,
        divergence="kl",
        from_logits=True,
        search_training=False,
        embedding_layer=None,
        seed=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "vat")
        super().__init__(weight=weight, **kwargs)
        self.epsilon = add_hyperparameter(self, "epsilon", epsilon)
        self.xi = add_hyperparameter(self, "xi", xi)
        self.power_iterations = _check_iterations(power_iterations)
        self.from_logits = bool(from_logits)
        self.divergence = divergence_from_name(divergence, from_logits)
        self.search_training = bool(search_training)
        self.embedding_layer = embedding_layer
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def bind(self, model, subclassed):
        self._bind_embedding(model, subclassed)

    def adversarial_direction(self, context, x=None, reference=None, forward=None):
        """d̂ (unit per row, no gradient) for inputs `x` (default the batch)."""
        x = context.x if x is None else x
        if reference is None:
            reference = context.clean.outputs
        reference = ops.stop_gradient(reference)
        if forward is None:
            def forward(inputs):
                return context.forward(inputs, training=self.search_training).outputs

        def divergence(outputs):
            return ops.sum(self.divergence.distance(reference, outputs))

        return power_iteration(
            forward,
            x,
            divergence,
            xi=self.xi,
            iterations=self.power_iterations,
            seed_generator=self.seed_generator,
            compute_dtype=context.model.compute_dtype,
        )

    def compute(self, context):
        if self._split is not None:
            embedded = self._split.embed(context.x, training=True)
            reference = self._split.tail_forward(context.x, embedded, training=True)
            base = ops.stop_gradient(embedded)
            direction = self.adversarial_direction(
                context,
                x=base,
                reference=reference,
                forward=lambda e: self._split.tail_forward(
                    context.x, e, training=self.search_training
                ),
            )
            r_adv = ops.cast(self.epsilon * direction, embedded.dtype)
            outputs = self._split.tail_forward(
                context.x, embedded + r_adv, training=True
            )
        else:
            check_float_input(context.x, "VATPenalty")
            reference = context.clean.outputs
            direction = self.adversarial_direction(context)
            x = context.x
            outputs = context.forward(
                x + ops.cast(self.epsilon * direction, x.dtype), training=True
            ).outputs
        return ops.mean(
            self.divergence.distance(ops.stop_gradient(reference), outputs)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": value_of(self.epsilon),
                "xi": value_of(self.xi),
                "power_iterations": self.power_iterations,
                "divergence": distances_lib.serialize(self.divergence),
                "from_logits": self.from_logits,
                "search_training": self.search_training,
                "embedding_layer": self.embedding_layer,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("divergence"), dict):
            config["divergence"] = distances_lib.get(config["divergence"])
        return cls(**config)
