"""Virtual adversarial training (VAT): KL(p(y|x) ‖ p(y|x + r_adv))."""

from keras import ops
import tensorflow as tf

from keras_invariance import distances as distances_lib
from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.utils import deprecation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


@keras_invariance_export("keras_invariance.penalties.VAT")
class VAT(EmbeddingInputs, Penalty):
    """VAT: R = KL(p(y|x) ‖ p(y|x + r_adv)), r_adv = ε·d̂ by power iteration.

    p(y|x) is the engine's clean output, held constant (as in VAT's
    reference). d̂ comes from `power_iterations` (default 1) power
    iterations towards the top eigenvector of the Fisher matrix JᵀFJ (§3.4),
    or of JᵀJ for `distance="squared_l2"`. By default each iteration's
    Fisher-vector product is exact (a jvp, the outputs' Fisher, a vjp:
    `numerics.gauss_newton_product`); `xi=1e-6` gives the reference's
    finite difference at radius ξ instead. The penalty needs
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

    Why exact by default: the reference's ξ = 1e-6 leaves a few percent of
    float32 rounding noise in d̂ (q − p is ~1e-6 against probabilities
    ~0.1–1), and training amplifies it: with it, runs on one and two devices
    drifted apart by 1.8e-3 in the weights after 8 steps and jit against
    eager by 9e-2, so "same seed, same run" failed. The exact product keeps
    them at float32 rounding. It costs one backward pass more per iteration
    than the finite difference. With a finite ξ and a 16-bit compute dtype, ξ
    is raised to the dtype's resolution (`numerics.effective_xi`).

    Example:

    >>> VAT(epsilon=1.0).name
    'vat'

    Args:
        epsilon: ε, the ℓ2 radius of r_adv (in input units). A variable.
        xi: `None` (default): exact Fisher-vector products. Or ξ > 0, the
            reference's finite-difference radius (its value: 1e-6), a
            variable.
        power_iterations: Python int ≥ 1.
        weight: λ ≥ 0, the VAT weight (the connections paper's α).
        distance: What R measures and the search maximises. `None`
            (default) fits the model's outputs (`keras_invariance.graph.outputs`):
            the KL of its class distribution (softmax or logits alike), the
            Bernoulli KL of a sigmoid or single-logit binary classifier, and
            ‖f(x) − f(x + r)‖² in the outputs' units for a regression (where
            a KL is meaningless: a softmax over one unit is identically 0).
            Or `"kl"`, `"squared_l2"` (on the logits view), a `Distance`.
            (`divergence=` is its deprecated name.)
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (see `keras_invariance.graph.outputs`).
        search_training: `training` flag of the power-iteration passes.
        embedding_layer: For token models, perturb this Embedding layer's
            output (VAT for text) instead of the integer inputs.
        seed: Optional int seed of the random start.
        **kwargs: Keras `Layer` arguments; `name` defaults to `"vat"`.

    Raises:
        ValueError: For integer inputs without `embedding_layer`.

    Reference:
        Connections between noise regularization, Jacobian penalties and
        VAT, §3.4, eq. 3–4; Miyato et al., "Virtual Adversarial Training"
        (2018).
    """

    label_free = True

    def __init__(
        self,
        epsilon=1.0,
        xi=None,
        power_iterations=1,
        weight=1.0,
        distance=None,
        from_logits=None,
        search_training=False,
        embedding_layer=None,
        seed=None,
        **kwargs,
    ):
        distance = deprecation.renamed(
            kwargs, "divergence", "distance", distance, "VAT"
        )
        kwargs.setdefault("name", "vat")
        super().__init__(weight=weight, **kwargs)
        self.epsilon = add_hyperparameter(self, "epsilon", epsilon)
        self.xi = None if xi is None else add_hyperparameter(self, "xi", xi)
        self.power_iterations = numerics.check_count(
            power_iterations, "power_iterations"
        )
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.distance = None if distance is None else distances_lib.get(distance)
        self.search_training = bool(search_training)
        self.init_embedding(embedding_layer)
        self.init_seed(seed)

    @property
    def output_distances(self):
        """The distance compared on the outputs, checked at `compile()`."""
        return [] if self.distance is None else [self.distance]

    def _divergence(self, context):
        """d(u, v) on logits views: the given distance or the outputs' own."""
        distance = self.distance
        if distance is None:
            spec = context.output_spec
            distance = (
                distances_lib.SquaredL2()
                if spec is not None and spec.is_regression
                else distances_lib.KLDivergence()
            )
        return context.divergence(distance, self.name)

    def adversarial_direction(self, context, x=None, reference=None, forward=None):
        """d̂ (unit per row, no gradient) for inputs `x` (default the batch).

        For a model with several inputs, `x` defaults to the list of its
        float inputs and d̂ is one direction in their joint space.
        """
        x = context.gradient_source if x is None else x
        if reference is None:
            reference = context.clean.logits
        reference = ops.stop_gradient(reference)
        if forward is None:
            def forward(inputs):
                return context.forward(
                    context.with_gradient_source(inputs), training=self.search_training
                ).logits
        distance = self._divergence(context)

        def divergence(outputs):
            return ops.sum(distance(reference, outputs))

        return numerics.power_iteration(
            forward,
            x,
            divergence,
            xi=self.xi,
            iterations=self.power_iterations,
            start=tf.nest.map_structure(
                lambda t: random_ops.normal(ops.shape(t), seed=self.seed_generator), x
            ),
            compute_dtype=context.compute_dtype,
        )

    def compute(self, context):
        if self._split is not None:
            spec = context.output_spec
            embedded = self._split.embed(context.x, training=True)
            reference = self._split.tail(embedded, training=True, spec=spec).logits
            base = ops.stop_gradient(embedded)
            direction = self.adversarial_direction(
                context,
                x=base,
                reference=reference,
                forward=lambda e: self._split.tail(
                    e, training=self.search_training, spec=spec
                ).logits,
            )
            r_adv = ops.cast(self.epsilon * direction, embedded.dtype)
            outputs = self._split.tail(
                embedded + r_adv, training=True, spec=spec
            ).logits
        else:
            self.check_float_inputs(context.gradient_source)
            reference = context.clean.logits
            direction = self.adversarial_direction(context)
            x = context.gradient_source
            moved = numerics.add_rows(x, numerics.scale_rows(direction, self.epsilon))
            outputs = context.forward(
                context.with_gradient_source(moved), training=True
            ).logits
        distance = self._divergence(context)
        return ops.mean(distance(ops.stop_gradient(reference), outputs))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": value_of(self.epsilon),
                "xi": None if self.xi is None else value_of(self.xi),
                "power_iterations": self.power_iterations,
                "distance": None
                if self.distance is None
                else distances_lib.serialize(self.distance),
                "from_logits": self.from_logits,
                "search_training": self.search_training,
            }
        )
        return config

