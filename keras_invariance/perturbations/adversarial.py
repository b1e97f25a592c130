"""Adversarial perturbations: FGSM (and fast AT) and PGD (ℓ∞ and ℓ2).

An adversarial perturbation is a search: it runs the model on the current
batch in its own `tf.GradientTape` (watching only the inputs) and returns
x̃ with `stop_gradient`, before the engine opens the weight-update tape. So
no search leaves a gradient path into the weight update; the model is then
trained on x̃ through the engine's β·L(x̃) and any penalties.

The search objective (`objective`) is either the compiled loss
(`"loss"`, adversarial training) or a divergence h between the clean and
the perturbed outputs (`"kl"` on softmax, `"squared_l2"` on logits, or any
`keras_invariance.distances` name): the modified adversarial training of
the spatial-invariance paper and TRADES' inner maximization.

Search passes run with `training=training` (default `False`: inference
mode, as TRADES; BatchNorm moving statistics are not updated by the search
and dropout is off). Loop counts are Python ints fixed at trace time.
"""

import math

import keras
import tensorflow as tf
from keras import ops

from keras_invariance import distances as distances_lib
from keras_invariance import numerics
from keras_invariance import random_ops
from keras_invariance import structures
from keras_invariance import validation
from keras_invariance.api_export import keras_invariance_export
from keras_invariance.hyperparameters import add_hyperparameter
from keras_invariance.hyperparameters import value_of
from keras_invariance.perturbations.base import Perturbation

NORMS = ("inf", "2")
#: Standard deviation, in input units, of the start of a divergence search
#: without a random start: h has a zero gradient at x̃ = x, so TRADES starts
#: at x + 0.001·N(0, I). (The spatial searches start at a fraction of their
#: box instead: `perturbations.spatial.DIVERGENCE_START_FRACTION`.)
TRADES_START_STDDEV = 1e-3
#: The hint for integer inputs reaching a search.
SEARCH_HINT = (
    "Adversarial searches differentiate with respect to the inputs; token "
    "ids have none. Search at an embedding layer's output with "
    "`AdversarialLossPenalty(FGSM(...) or PGD(...), embedding_layer='<name>')` "
    "(or `VATPenalty(embedding_layer=...)`)."
)


def _norm_name(norm):
    name = str(norm).lower().replace("l", "").replace("np.", "")
    if name in ("inf", "infinity"):
        return "inf"
    if name == "2":
        return "2"
    raise ValueError(f"`norm` must be 'inf' or 2; received {norm!r}.")


class Search(Perturbation):
    """Base of the ℓp searches (`FGSM`, `PGD`): objective and input gradient.

    A search runs the model in its own tape and returns x̃ without gradient;
    `search(x, context, forward=None)` also works on embeddings (with a
    `forward` from them), which `AdversarialLossPenalty` uses.

    Example:

    >>> Search(epsilon=0.1, objective="kl").is_adversarial
    True

    Args:
        epsilon: ε ≥ 0, the radius. A non-trainable variable.
        objective: `"loss"` (the compiled loss) or a distance between clean
            and perturbed outputs (`"kl"`, `"squared_l2"`, a `Distance`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.
    """

    is_adversarial = True
    float_input_hint = SEARCH_HINT

    def __init__(
        self,
        epsilon=0.1,
        objective="loss",
        from_logits=None,
        training=False,
        value_range=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.epsilon = add_hyperparameter(self, "epsilon", epsilon)
        self.objective = objective
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.training = bool(training)
        if value_range is not None:
            value_range = tuple(float(v) for v in value_range)
            if len(value_range) != 2 or value_range[0] > value_range[1]:
                raise ValueError(
                    f"`value_range` must be (low, high); received {value_range!r}."
                )
        self.value_range = value_range
        self._divergence = distances_lib.resolve_objective(objective)

    def _check(self, x, context):
        validation.check_float(x, type(self).__name__, self.float_input_hint)
        if context is None:
            raise ValueError(
                f"{type(self).__name__} is a search: it needs the training "
                "step's context (call it through `InvariantModel.fit`)."
            )

    def search(self, x, context, forward=None):
        """x̃ for float `x` (inputs, or embeddings with a `forward` from them).

        A model with several inputs is searched over its float inputs, as
        one vector per row (token ids stay as they are).

        Args:
            x: The float tensor (or input structure) to perturb.
            context: The step's `StepContext` (labels, compiled loss).
            forward: Optional `forward(x̃) -> outputs`; defaults to the model
                run with `training=self.training`.

        Returns:
            x̃, without gradient, structured like `x`.
        """
        if structures.is_single(x):
            parts, rebuild = [x], lambda found: found[0]
        else:
            parts = [f.tensor for f in structures.float_inputs(x)]

            def rebuild(found):
                return structures.replace_float_inputs(x, found)

        run = forward or (
            lambda inputs: context.forward(inputs, training=self.training).outputs
        )
        adversarial = self._search_parts(parts, context, lambda found: run(rebuild(found)))
        return tf.nest.map_structure(ops.stop_gradient, rebuild(adversarial))

    def _search_parts(self, parts, context, forward):
        raise NotImplementedError

    @property
    def output_distances(self):
        """The search's distance on the outputs, checked at `compile()`."""
        return [] if self._divergence is None else [self._divergence]

    def _reference(self, parts, context, forward):
        """The clean logits view the divergence is measured from (no gradient)."""
        if self._divergence is None:
            return None
        return ops.stop_gradient(context.logits_of(forward(parts)))

    def _gradient(self, parts, context, reference, forward):
        """∇ of the objective (summed over rows) at `parts`, float32."""
        parts = [ops.stop_gradient(p) for p in parts]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(parts)
            outputs = forward(parts)
            if self._divergence is None:
                value = context.compiled_loss(outputs)
            else:
                distance = context.divergence(self._divergence, self.name)
                value = ops.sum(distance(reference, context.logits_of(outputs)))
        return [ops.cast(g, "float32") for g in tape.gradient(value, parts)]

    def _clip_range(self, x):
        if self.value_range is None:
            return x
        return ops.clip(x, self.value_range[0], self.value_range[1])

    def _normal(self, part):
        return random_ops.normal(ops.shape(part), dtype="float32", seed=self.seed_generator)

    def get_config(self):
        config = super().get_config()
        objective = self.objective
        if not isinstance(objective, str):
            objective = keras.saving.serialize_keras_object(objective)
        config.update(
            {
                "epsilon": value_of(self.epsilon),
                "objective": objective,
                "from_logits": self.from_logits,
                "training": self.training,
                "value_range": list(self.value_range) if self.value_range else None,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("objective"), dict):
            config["objective"] = keras.saving.deserialize_keras_object(
                config["objective"]
            )
        return cls(**config)


@keras_invariance_export
class FGSM(Search):
    """Fast gradient sign method: x̃ = x + ε·sign(∇x L(f(x), y)).

    One search pass (forward + backward to the input). Adversarial training
    (eq. 5) is α = β = ½ with this perturbation; fast AT (eq. 12) is α = 0,
    β = 1 at ε/2 (see `keras_invariance.AdversarialTraining`).

    With a divergence `objective` (e.g. `"kl"`), the step is taken at
    x + 0.001·N(0, I) (h has no gradient at x̃ = x) from the clean outputs
    of one more search pass.

    `reuse_clean_pass=True` is the paper's implementation: x* is built from
    ∇x L of the engine's own clean training pass (`training=True`, watched
    on its input tape), so there is no search pass at all. The engine then
    draws x* after the clean pass and runs x* as a second, separate pass
    (BatchNorm sees the clean and adversarial batches separately, as with
    `batching="separate"`). Rows with sample weight 0 have no loss gradient
    and stay at x.

    Example:

    >>> FGSM(epsilon=0.1).is_adversarial
    True

    Args:
        epsilon: ε ≥ 0, the ℓ∞ step. A non-trainable variable.
        objective: `"loss"` (the compiled loss, default) or a divergence
            name (`"kl"`, `"squared_l2"`) or `Distance`.
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to (e.g. `(0, 1)`).
        reuse_clean_pass: Build x* from the clean training pass's ∇x L
            (one forward and one backward pass fewer).
        seed: Optional int seed (divergence start).
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For integer inputs.

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), eq. 4–5 and eq. 11–12.
    """

    def __init__(
        self,
        epsilon=0.1,
        objective="loss",
        from_logits=None,
        training=False,
        value_range=None,
        reuse_clean_pass=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            epsilon=epsilon,
            objective=objective,
            from_logits=from_logits,
            training=training,
            value_range=value_range,
            seed=seed,
            **kwargs,
        )
        self.reuse_clean_pass = bool(reuse_clean_pass)
        if self.reuse_clean_pass and objective != "loss":
            raise ValueError(
                "`reuse_clean_pass=True` reuses ∇x of the clean loss, so it "
                f"needs objective='loss'; received objective={objective!r}."
            )
        # Read by the engine: draw x* after the clean pass, from its tape.
        self.uses_clean_pass = self.reuse_clean_pass

    def perturb(self, x, context=None):
        self._check(x, context)
        if self.reuse_clean_pass:
            return self._from_clean_pass(x, context)
        return self.search(x, context)

    def _from_clean_pass(self, x, context):
        if context.input_tape is None or context.clean_loss is None:
            raise ValueError(
                "FGSM(reuse_clean_pass=True) reads ∇x L from the engine's "
                "clean pass: use it as an `InvariantModel` perturbation "
                "compiled with a loss."
            )
        gradients = numerics.leaves(context.input_gradient(context.clean_loss))

        def step(part, gradient):
            reps = ops.shape(part)[0] // ops.shape(gradient)[0]
            gradient = tf.tile(gradient, [reps] + [1] * (len(part.shape) - 1))
            move = self.epsilon * ops.sign(ops.cast(gradient, "float32"))
            return ops.stop_gradient(self._clip_range(part + ops.cast(move, part.dtype)))

        if structures.is_single(x):
            return step(x, gradients[0])
        parts = [f.tensor for f in structures.float_inputs(x)]
        return structures.replace_float_inputs(
            x, [step(p, g) for p, g in zip(parts, gradients)]
        )

    def _search_parts(self, parts, context, forward):
        reference = self._reference(parts, context, forward)
        start = parts
        if reference is not None:
            start = [
                p + ops.cast(TRADES_START_STDDEV * self._normal(p), p.dtype)
                for p in parts
            ]
        gradients = self._gradient(start, context, reference, forward)
        return [
            self._clip_range(p + ops.cast(self.epsilon * ops.sign(g), p.dtype))
            for p, g in zip(parts, gradients)
        ]

    def get_config(self):
        config = super().get_config()
        config["reuse_clean_pass"] = self.reuse_clean_pass
        return config


@keras_invariance_export
class PGD(Search):
    """Projected gradient descent within the ℓ∞ or ℓ2 ε-ball (Madry et al.).

    x̃ ← Π_{‖x̃ − x‖ ≤ ε}(x̃ + α·s), with s = sign(g) for ℓ∞ and g/‖g‖₂ for
    ℓ2 (g = ∇ of the objective at x̃), for `steps` steps (a Python int). With
    `random_start`, x̃ starts uniformly in the ℓ∞ ball, or uniformly in the
    ℓ2 ball; otherwise at x (at x + 0.001·N(0, I) for a divergence
    objective, as TRADES). Each step is one search pass (forward + backward
    to the input), plus one pass for the clean reference of a divergence.

    Example:

    >>> round(PGD(epsilon=0.3, norm="inf", steps=7).step_size_value(), 6)
    0.107143

    Args:
        epsilon: ε ≥ 0, the ball's radius. A non-trainable variable.
        norm: `"inf"` (default) or `2`.
        steps: Python int ≥ 1.
        step_size: α; defaults to 2.5·ε/steps (Madry et al.). A variable.
        random_start: Start at a uniform point of the ball.
        objective: `"loss"` (default) or a divergence (`"kl"`,
            `"squared_l2"`, a `Distance`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to after each step.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For integer inputs, an unknown norm, or `steps` < 1.

    Reference:
        Yang et al., "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019) (A.T., e.g. [3] for
        ℓ2; modified A.T. maximizing h, e.g. [4] for KL).
    """

    def __init__(
        self,
        epsilon=0.1,
        norm="inf",
        steps=10,
        step_size=None,
        random_start=True,
        objective="loss",
        from_logits=None,
        training=False,
        value_range=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            epsilon=epsilon,
            objective=objective,
            from_logits=from_logits,
            training=training,
            value_range=value_range,
            seed=seed,
            **kwargs,
        )
        self.norm = _norm_name(norm)
        if int(steps) != steps or steps < 1:
            raise ValueError(
                f"`steps` must be a Python int ≥ 1; received {steps!r}."
            )
        self.steps = int(steps)
        self._default_step = step_size is None
        if step_size is None:
            step_size = 2.5 * float(epsilon) / self.steps
        self.step_size = add_hyperparameter(self, "step_size", step_size)
        self.random_start = bool(random_start)

    def step_size_value(self):
        """α as a Python float."""
        return value_of(self.step_size)

    def _project(self, delta):
        """Back into the ε-ball (jointly over the inputs for ℓ2)."""
        if self.norm == "inf":
            return [ops.clip(d, -self.epsilon, self.epsilon) for d in delta]
        norm = numerics.row_l2_norm(delta, keepdims=False)
        return numerics.scale_rows(delta, ops.minimum(1.0, self.epsilon / norm))

    def _start(self, parts, divergence):
        if self.random_start:
            if self.norm == "inf":
                return [
                    self.epsilon * random_ops.uniform(
                        ops.shape(p), -1.0, 1.0, dtype="float32", seed=self.seed_generator
                    )
                    for p in parts
                ]
            direction = numerics.l2_normalize_rows([self._normal(p) for p in parts])
            dims = sum(math.prod(p.shape[1:]) for p in parts)
            radius = random_ops.uniform(
                (ops.shape(parts[0])[0],), dtype="float32", seed=self.seed_generator
            ) ** (1.0 / dims)
            return numerics.scale_rows(direction, self.epsilon * radius)
        if divergence:
            return [TRADES_START_STDDEV * self._normal(p) for p in parts]
        return [ops.zeros(ops.shape(p), "float32") for p in parts]

    def perturb(self, x, context=None):
        self._check(x, context)
        return self.search(x, context)

    def _search_parts(self, parts, context, forward):
        reference = self._reference(parts, context, forward)
        parts32 = [ops.cast(p, "float32") for p in parts]

        def clip(delta):
            return [self._clip_range(p + d) - p for p, d in zip(parts32, delta)]

        def at(delta):
            return [ops.cast(p + d, q.dtype) for p, d, q in zip(parts32, delta, parts)]

        delta = clip(self._start(parts, reference is not None))
        for _ in range(self.steps):
            gradient = self._gradient(at(delta), context, reference, forward)
            if self.norm == "inf":
                step = [ops.sign(g) for g in gradient]
            else:
                step = numerics.l2_normalize_rows(gradient)
            delta = self._project(
                [d + self.step_size * s for d, s in zip(delta, step)]
            )
            delta = clip(delta)
        return at(delta)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "norm": self.norm,
                "steps": self.steps,
                "step_size": value_of(self.step_size),
                "random_start": self.random_start,
            }
        )
        return config
