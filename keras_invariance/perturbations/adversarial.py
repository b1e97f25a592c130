"""Adversarial perturbations: FGSM (and fast AT) and PGD, in ℓ∞, ℓ2 or ℓ1.

An adversarial perturbation is a search: it runs the model on the current
batch in its own `tf.GradientTape` (watching only the inputs) and returns
x̃ with `stop_gradient`, before the engine opens the weight-update tape. So
no search leaves a gradient path into the weight update; the model is then
trained on x̃ through the engine's β·L(x̃) and any penalties.

The search objective (`objective`) is either the compiled loss
(`"loss"`, adversarial training) or a divergence h between the clean and
the perturbed outputs (`"kl"` on softmax, `"squared_l2"` on logits, or any
`keras_invariance.distances` name): the modified adversarial training of
the spatial-invariance paper and TRADES' inner maximization. A targeted
search (`target=`) instead descends the cross-entropy towards a class, an
`objective_term` adds a term of the user's, and a `feature_mask` says which
elements may move (`keras_invariance.perturbations.search_options`). Steps,
projections and random starts are the ℓp ball's
(`keras_invariance.perturbations.norm_balls`).

A float input with no gradient path to the outputs gets ∇ = 0 and stays
where it is (as in Neural Structured Learning); `InvariantModel(
unconnected_inputs="raise")` names it instead. Sparse inputs stay as they
are.

Neural Structured Learning's `nsl.configs.AdvNeighborConfig` in these
terms: `adv_step_size` is ε (FGSM) or `step_size` (PGD), `adv_grad_norm` is
`norm`, `pgd_iterations` is `steps`, `pgd_epsilon` is PGD's ε, `random_init`
is `random_start`, `clip_value_min` / `clip_value_max` are `value_range`,
`feature_mask` is `feature_mask`; `AdvTargetConfig` is `target`.

Search passes run with `training=training` (default `False`: inference
mode, as TRADES; BatchNorm moving statistics are not updated by the search
and dropout is off). Loop counts are Python ints fixed at trace time.
"""

import keras
from keras import ops
import tensorflow as tf

from keras_invariance import distances as distances_lib
from keras_invariance.graph import structures
from keras_invariance.ops import numerics
from keras_invariance.ops import random_ops
from keras_invariance.perturbations import norm_balls
from keras_invariance.perturbations import search_options
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.base import graph_model
from keras_invariance.perturbations.per_input import input_names
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of

#: The norms of the searches' balls (`norm_balls.NORMS`).
NORMS = norm_balls.NORMS
#: Standard deviation, in input units, of the start of a divergence search
#: without a random start: h has a zero gradient at x̃ = x, so TRADES starts
#: at x + 0.001·N(0, I). (The spatial searches start at a fraction of their
#: box instead: `perturbations.spatial.DIVERGENCE_START_FRACTION`.)
TRADES_START_STDDEV = 1e-3
#: The hint for integer inputs reaching a search.
SEARCH_HINT = (
    "Adversarial searches differentiate with respect to the inputs; token "
    "ids have none. Search at an embedding layer's output with "
    "`AdversarialLoss(FGSM(...) or PGD(...), embedding_layer='<name>')` "
    "(or `VAT(embedding_layer=...)`)."
)


class Search(Perturbation):
    """Base of the ℓp searches (`FGSM`, `PGD`): objective and input gradient.

    A search runs the model in its own tape and returns x̃ without gradient;
    `search(x, context, forward=None)` also works on embeddings (with a
    `forward` from them), which `AdversarialLoss` uses.

    Example:

    >>> Search(epsilon=0.1, objective="kl").is_adversarial
    True

    Args:
        epsilon: ε ≥ 0, the radius. A non-trainable variable.
        objective: `"loss"` (the compiled loss) or a distance between clean
            and perturbed outputs (`"kl"`, `"squared_l2"`, `"js"`, a
            `Distance`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to.
        target: `None` (untargeted), or the class each row moves towards:
            an index, `"least_likely"`, `"second_most_likely"`, `"random"`
            or `fn(logits, labels) -> indices` (see `search_options`).
        feature_mask: Which elements may move: values in [0, 1] broadcast
            to one example (a dict by input name for several inputs).
        objective_term: `fn(x̃, outputs, context) -> (rows,)` added to the
            maximized objective (a registered function round-trips in the
            config).
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For `target` with a divergence `objective`, or a bad
            `target`, `feature_mask` or `value_range`.
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
        target=None,
        feature_mask=None,
        objective_term=None,
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
        self.target = search_options.check_target(target)
        if self.target is not None and self._divergence is not None:
            raise ValueError(
                "`target` makes the search descend the cross-entropy towards "
                f"a class, so it replaces `objective`; received objective="
                f"{objective!r}. Leave objective='loss'."
            )
        self.feature_mask = search_options.check_mask(feature_mask)
        if isinstance(objective_term, dict):
            objective_term = keras.saving.deserialize_keras_object(objective_term)
        if objective_term is not None and not callable(objective_term):
            raise ValueError(
                "`objective_term` must be a callable fn(x̃, outputs, context); "
                f"received {objective_term!r}."
            )
        self.objective_term = objective_term
        self._input_names = None

    def bind(self, model, subclassed=False):
        self._input_names = input_names(graph_model(model, subclassed))

    @property
    def needs_labels(self):
        """Whether the search maximizes the compiled loss (so needs labels)."""
        return self._divergence is None and self.target is None

    def _check(self, x, context):
        validation.check_float(x, type(self).__name__, self.float_input_hint)
        if context is None:
            raise ValueError(
                f"{type(self).__name__} is a search: it needs the training "
                "step's context (call it through `InvariantModel.fit`)."
            )

    def search(self, x, context, forward=None):
        """x̃ for float `x` (inputs, or embeddings with a `forward` from them).

        A model with several inputs is searched over its dense float
        inputs, as one vector per row (token ids and sparse inputs stay as
        they are).

        Args:
            x: The float tensor (or input structure) to perturb.
            context: The step's `StepContext` (labels, compiled loss).
            forward: Optional `forward(x̃) -> outputs`; defaults to the model
                run with `training=self.training`.

        Returns:
            x̃, without gradient, structured like `x`.
        """
        if structures.is_single(x) and not structures.is_sparse(x):
            parts, names, rebuild = [x], ["input"], lambda found: found[0]
            if self._input_names and len(self._input_names) == 1:
                names = list(self._input_names)
        else:
            found = structures.float_inputs(x, self._input_names)
            parts, names = [f.tensor for f in found], [f.name for f in found]

            def rebuild(found):
                return structures.replace_float_inputs(x, found)

        run = forward or (
            lambda inputs: context.forward(inputs, training=self.training).outputs
        )
        masks = search_options.part_masks(
            self.feature_mask, names, [tuple(p.shape) for p in parts]
        )
        problem = search_options.SearchProblem(
            context, lambda found: run(rebuild(found)), rebuild, masks)
        self._prepare(parts, problem)
        adversarial = self._search_parts(parts, problem)
        return tf.nest.map_structure(ops.stop_gradient, rebuild(adversarial))

    def _search_parts(self, parts, problem):
        raise NotImplementedError

    @property
    def output_distances(self):
        """The search's distance on the outputs, checked at `compile()`."""
        return [] if self._divergence is None else [self._divergence]

    def _prepare(self, parts, problem):
        """The clean logits view (no gradient) and the targets, when needed."""
        context = problem.context
        targeted = self.target is not None or context.targets is not None
        if self._divergence is None and not targeted:
            return
        problem.reference = ops.stop_gradient(context.logits_of(problem.forward(parts)))
        if targeted:
            search_options.check_targetable(context.output_spec, type(self).__name__)
            rows = ops.shape(parts[0])[0]
            if context.targets is not None:
                targets = ops.reshape(ops.cast(context.targets, "int32"), (-1,))
                repeats = rows // ops.shape(targets)[0]
                problem.targets = ops.tile(targets, [repeats])
            else:
                problem.targets = search_options.target_indices(
                    self.target, problem.reference, context.y, self.seed_generator
                )

    def _objective(self, parts, problem):
        """The maximized objective at `parts` (recorded on the caller's tape)."""
        context = problem.context
        outputs = problem.forward(parts)
        if problem.targets is not None:
            value = search_options.towards(context.logits_of(outputs), problem.targets)
        elif self._divergence is None:
            value = context.compiled_loss(outputs)
        else:
            distance = context.divergence(self._divergence, self.name)
            value = ops.sum(distance(problem.reference, context.logits_of(outputs)))
        value = ops.cast(value, "float32")
        if self.objective_term is not None:
            value += search_options.term_value(
                self.objective_term, problem.rebuild(parts), outputs, context
            )
        return value

    def _gradient(self, parts, problem):
        """∇ of the objective (summed over rows) at `parts`, masked, float32."""
        parts = [ops.stop_gradient(p) for p in parts]
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(parts)
            value = self._objective(parts, problem)
        gradients = structures.input_gradients(tape, value, parts)
        return search_options.apply_masks(gradients, problem.masks)

    def _masked(self, deltas, problem):
        return search_options.apply_masks(deltas, problem.masks)

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
        config.update(search_options.config_entries(
            self.target, self.feature_mask, self.objective_term))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("objective", "target"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@keras_invariance_export("keras_invariance.perturbations.FGSM")
class FGSM(Search):
    """Fast gradient sign method: x̃ = x + ε·sign(∇x L(f(x), y)).

    One search pass (forward + backward to the input). Adversarial training
    (eq. 5) is α = β = ½ with this perturbation; fast AT (eq. 12) is α = 0,
    β = 1 at ε/2 (see `keras_invariance.AdversarialTraining`).

    `norm` chooses the ball of the one step: x̃ = x + ε·s with s the
    steepest-ascent direction of unit norm (`norm_balls.steepest_direction`:
    sign(g) for ℓ∞, g/‖g‖₂ for ℓ2 (the fast gradient method), the largest
    |g_j| for ℓ1; NSL's `adv_grad_norm`).

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
        epsilon: ε ≥ 0, the step's length in `norm`. A non-trainable variable.
        objective: `"loss"` (the compiled loss, default) or a divergence
            name (`"kl"`, `"squared_l2"`) or `Distance`.
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to (e.g. `(0, 1)`).
        reuse_clean_pass: Build x* from the clean training pass's ∇x L
            (one forward and one backward pass fewer).
        norm: `"inf"` (default), `2` or `1`.
        target, feature_mask, objective_term: See `Search`.
        seed: Optional int seed (divergence start).
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For integer inputs, or `reuse_clean_pass` with another
            objective than the loss.

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
        norm="inf",
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
        self.norm = norm_balls.norm_name(norm)
        self.reuse_clean_pass = bool(reuse_clean_pass)
        if self.reuse_clean_pass and (objective != "loss" or self.target is not None):
            raise ValueError(
                "`reuse_clean_pass=True` reuses ∇x of the clean loss, so it "
                f"needs objective='loss' and no target; received objective="
                f"{objective!r}, target={self.target!r}."
            )
        # Read by the engine: draw x* after the clean pass, from its tape.
        self.uses_clean_pass = self.reuse_clean_pass

    def perturb(self, x, context=None):
        self._check(x, context)
        if self.reuse_clean_pass:
            return self._from_clean_pass(x, context)
        return self.search(x, context)

    def _step(self, parts, gradients):
        step = norm_balls.steepest_direction(gradients, self.norm)
        return [
            ops.stop_gradient(self._clip_range(p + ops.cast(self.epsilon * s, p.dtype)))
            for p, s in zip(parts, step)
        ]

    def _from_clean_pass(self, x, context):
        if context.input_tape is None or context.clean_loss is None:
            raise ValueError(
                "FGSM(reuse_clean_pass=True) reads ∇x L from the engine's "
                "clean pass: use it as an `InvariantModel` perturbation "
                "compiled with a loss."
            )
        gradients = numerics.leaves(context.input_gradient(context.clean_loss))
        if structures.is_single(x):
            parts, names = [x], list(self._input_names or ["input"])[:1]
        else:
            found = structures.float_inputs(x, self._input_names)
            parts, names = [f.tensor for f in found], [f.name for f in found]
        masks = search_options.part_masks(
            self.feature_mask, names, [tuple(p.shape) for p in parts]
        )
        tiled = []
        for part, gradient in zip(parts, gradients):
            reps = ops.shape(part)[0] // ops.shape(gradient)[0]
            tiled.append(tf.tile(gradient, [reps] + [1] * (len(part.shape) - 1)))
        moved = self._step(parts, search_options.apply_masks(tiled, masks))
        if structures.is_single(x):
            return moved[0]
        return structures.replace_float_inputs(x, moved)

    def _search_parts(self, parts, problem):
        start = parts
        if problem.reference is not None and problem.targets is None:
            noise = self._masked([TRADES_START_STDDEV * self._normal(p) for p in parts], problem)
            start = [p + ops.cast(n, p.dtype) for p, n in zip(parts, noise)]
        return self._step(parts, self._gradient(start, problem))

    def get_config(self):
        config = super().get_config()
        config["reuse_clean_pass"] = self.reuse_clean_pass
        config["norm"] = self.norm
        return config


@keras_invariance_export("keras_invariance.perturbations.PGD")
class PGD(Search):
    """Projected gradient ascent within the ℓ∞, ℓ2 or ℓ1 ε-ball (Madry et al.).

    x̃ ← Π_{‖x̃ − x‖ ≤ ε}(x̃ + α·s), with s the steepest-ascent direction of
    the norm at g = ∇ of the objective at x̃ (sign(g) for ℓ∞, g/‖g‖₂ for ℓ2,
    the largest |g_j| for ℓ1) and Π the Euclidean projection onto the ball
    (`norm_balls.project_to_ball`; `PGD.project`), for `steps` steps (a
    Python int). With `random_start`, x̃ starts uniformly in the ball
    (`norm_balls.random_in_ball`); otherwise at x (at x + 0.001·N(0, I) for
    a divergence objective, as TRADES). Each step is one search pass
    (forward + backward to the input), plus one pass for the clean
    reference of a divergence or a target rule.

    Example:

    >>> round(PGD(epsilon=0.3, norm="inf", steps=7).step_size_value(), 6)
    0.107143
    >>> PGD(epsilon=1.0, norm=1).project(np.array([[3.0, 1.0]])).numpy()
    array([[1., 0.]], dtype=float32)

    Args:
        epsilon: ε ≥ 0, the ball's radius. A non-trainable variable.
        norm: `"inf"` (default), `2` or `1`.
        steps: Python int ≥ 1.
        step_size: α; defaults to 2.5·ε/steps (Madry et al.). A variable.
        random_start: Start at a uniform point of the ball.
        objective: `"loss"` (default) or a divergence (`"kl"`,
            `"squared_l2"`, a `Distance`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        training: `training` flag of the search passes (default `False`).
        value_range: Optional `(low, high)` to clip x̃ to after each step.
        target, feature_mask, objective_term: See `Search`.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For integer inputs, an unknown norm, or `steps` < 1.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019)
        (A.T., e.g. [3] for ℓ2; modified A.T. maximizing h, e.g. [4] for KL).
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
        self.norm = norm_balls.norm_name(norm)
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

    def project(self, delta):
        """δ projected back into this search's ε-ball (jointly over a list)."""
        return norm_balls.project_to_ball(delta, self.epsilon, self.norm)

    def _start(self, parts, problem):
        if self.random_start:
            start = norm_balls.random_in_ball(
                parts, self.epsilon, self.norm, self.seed_generator
            )
        elif problem.reference is not None and problem.targets is None:
            start = [TRADES_START_STDDEV * self._normal(p) for p in parts]
        else:
            return [ops.zeros(ops.shape(p), "float32") for p in parts]
        # An input without a gradient path must not move, not even at the
        # start (its steps are 0, so the start would stay).
        connected = structures.gradient_paths(problem.forward, parts)
        start = [d if c else ops.zeros_like(d) for d, c in zip(start, connected)]
        return self._masked(start, problem)

    def perturb(self, x, context=None):
        self._check(x, context)
        return self.search(x, context)

    def _search_parts(self, parts, problem):
        parts32 = [ops.cast(p, "float32") for p in parts]

        def clip(delta):
            return [self._clip_range(p + d) - p for p, d in zip(parts32, delta)]

        def at(delta):
            return [ops.cast(p + d, q.dtype) for p, d, q in zip(parts32, delta, parts)]

        delta = clip(self._start(parts, problem))
        for _ in range(self.steps):
            gradient = self._gradient(at(delta), problem)
            step = norm_balls.steepest_direction(gradient, self.norm)
            delta = self.project([d + self.step_size * s for d, s in zip(delta, step)])
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
