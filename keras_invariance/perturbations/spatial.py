"""Spatial perturbations: random, worst-of-k and S-PGD transforms.

The three ways of choosing x̃ ∈ T(x) of Yang et al. (small translations and
rotations, by default within ±3 px and ±30°):

* `RandomSpatialTransform`: one transform drawn uniformly in the box, i.e.
  data augmentation (D.A.).
* `WorstOfKSpatial`: k random transforms per example, keeping the one with
  the largest loss (adversarial training, A.T.) or the largest divergence h
  between clean and transformed outputs (the paper's regularized A.T.).
* `SpatialPGD` (S-PGD): projected sign-gradient ascent over the transform
  parameters (dx, dy, angle[, scale]) inside the box.

Every warp goes through `keras_invariance.spatial.apply_spatial_params`
(bilinear sampling written with tensor ops), so the searches are
differentiable in the parameters and the train step compiles under XLA.
Loop counts (k, S-PGD steps) are Python integers fixed at trace time.

Search passes (worst-of-k scoring, S-PGD ascent) run the model with
`training=training`, `False` by default: inference mode, as TRADES and the
other searches of this package (`FGSM`, `PGD`). BatchNorm then normalizes
with its moving statistics and does not update them, and dropout is off, so
a search changes no model state; the model is trained on the chosen x̃ by
the engine's β·L(x̃) and penalties only.

The box limits (`translation_x`, `translation_y`, `rotation` and, with a
scale range, `scale_low`, `scale_high`) are non-trainable variables: assign
to them to grow the box during training (a curriculum) without retracing.

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019): random / worst-of-k / S-PGD choices of x̃, the
    regularized update ∇ℓ(x) + ∇ℓ(x̃) + λ∇h(f(x), f(x̃)). Engstrom et al.,
    "Exploring the Landscape of Spatial Robustness" (ICML 2019), Section 5.
"""

from keras import ops
import numpy as np
import tensorflow as tf

from keras_invariance import distances as distances_lib
from keras_invariance import spatial as spatial_lib
from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils import deprecation
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of

#: Start offset, as a fraction of the box, of a divergence S-PGD without a
#: random start: h(f(x), f(g(x, θ))) is minimal, with zero gradient, at θ = 0.
#: (The ℓp searches start at `adversarial.TRADES_START_STDDEV` input units.)
DIVERGENCE_START_FRACTION = 1e-2


class SpatialTransform(Perturbation):
    """Shared parts: the box, drawing parameters, applying them.

    Like Keras' preprocessing layers, drawing a transform
    (`sample_parameters`) is separate from applying it (`apply_parameters`),
    so the same transform can warp several tensors and a search can work on
    the parameters.

    Args:
        translation: Limit of |dx| and |dy| (a number, or a pair
            `(x_limit, y_limit)`), in pixels, or in fractions of the width
            and height with `translation_unit="fraction"`.
        rotation: Limit of |angle| in degrees.
        scale: Optional `(low, high)` magnification range; adds a 4th
            parameter (1 is the identity).
        translation_unit: `"pixels"` (default) or `"fraction"`.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: The value outside the image for `"constant"`.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.
    """

    single_input = True

    def __init__(
        self,
        translation=3.0,
        rotation=30.0,
        scale=None,
        translation_unit="pixels",
        fill_mode="constant",
        fill_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if np.ndim(translation) == 0:
            translation = (translation, translation)
        translation = tuple(float(t) for t in translation)
        if len(translation) != 2:
            raise ValueError(
                "`translation` must be a number or a pair (x_limit, "
                f"y_limit); received {translation!r}."
            )
        if translation_unit not in ("pixels", "fraction"):
            raise ValueError(
                "`translation_unit` must be 'pixels' or 'fraction'; "
                f"received {translation_unit!r}."
            )
        if fill_mode not in spatial_lib.FILL_MODES:
            raise ValueError(
                f"Unknown `fill_mode` {fill_mode!r}; expected one of "
                f"{spatial_lib.FILL_MODES}."
            )
        self.translation_unit = translation_unit
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.translation_x = add_hyperparameter(self, "translation_x", translation[0])
        self.translation_y = add_hyperparameter(self, "translation_y", translation[1])
        self.rotation = add_hyperparameter(self, "rotation", rotation)
        if scale is not None:
            scale = tuple(float(s) for s in scale)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
                raise ValueError(
                    "`scale` must be a range (low, high) with 0 < low ≤ "
                    f"high; received {scale!r}."
                )
            self.scale_low = add_hyperparameter(self, "scale_low", scale[0])
            self.scale_high = add_hyperparameter(self, "scale_high", scale[1])
        self.has_scale = scale is not None

    @classmethod
    def from_layers(cls, layers, **kwargs):
        """Builds the perturbation with the box of Keras preprocessing layers.

        Example:

        >>> import keras
        >>> p = RandomSpatialTransform.from_layers(
        ...     [keras.layers.RandomTranslation(0.1, 0.1),
        ...      keras.layers.RandomRotation(1 / 12)])
        >>> round(float(p.rotation), 3), p.translation_unit
        (30.0, 'fraction')

        Args:
            layers: `RandomTranslation`, `RandomRotation`, `RandomZoom`
                layers (or a `Sequential` / `Pipeline` of them): the
                augmentation the user already has.
            **kwargs: Other constructor arguments.

        Returns:
            An instance whose box is the layers' range.

        Raises:
            ValueError: For another layer (lists the supported ones).
        """
        box = spatial_lib.box_from_layers(layers)
        box.update(kwargs)
        return cls(**box)

    # ------------------------------------------------------------- the box

    @property
    def num_parameters(self):
        """3 for (dx, dy, angle), 4 with a scale range."""
        return 4 if self.has_scale else 3

    def bounds(self, x):
        """`(low, high)` float32 vectors of the box for images `x`."""
        tx = tf.convert_to_tensor(self.translation_x)
        ty = tf.convert_to_tensor(self.translation_y)
        if self.translation_unit == "fraction":
            tx = tx * float(x.shape[2])
            ty = ty * float(x.shape[1])
        rot = tf.convert_to_tensor(self.rotation)
        low = [-tx, -ty, -rot]
        high = [tx, ty, rot]
        if self.has_scale:
            low.append(tf.convert_to_tensor(self.scale_low))
            high.append(tf.convert_to_tensor(self.scale_high))
        return ops.stack(low), ops.stack(high)

    def identity_parameters(self, rows):
        """The identity transform, `(rows, P)`."""
        identity = [0.0, 0.0, 0.0] + ([1.0] if self.has_scale else [])
        return ops.tile(ops.convert_to_tensor([identity], "float32"), [rows, 1])

    def sample_parameters(self, x, rows=None):
        """Draws `(rows, P)` parameters uniformly in the box.

        Args:
            x: The images (for the box in fractions and the default rows).
            rows: Number of draws; defaults to the batch size of `x`.

        Returns:
            float32 `(rows, P)`: `(dx, dy, angle[, scale])`.
        """
        validation.check_image_batch(x, type(self).__name__)
        rows = ops.shape(x)[0] if rows is None else rows
        low, high = self.bounds(x)
        u = random_ops.uniform(
            (rows, self.num_parameters), dtype="float32", seed=self.seed_generator
        )
        return low + (high - low) * u

    def apply_parameters(self, x, params):
        """Warps `x` by per-row `params` (differentiable in both)."""
        validation.check_image_batch(x, type(self).__name__)
        return spatial_lib.apply_spatial_params(
            x, params, fill_mode=self.fill_mode, fill_value=self.fill_value
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "translation": [value_of(self.translation_x), value_of(self.translation_y)],
                "rotation": value_of(self.rotation),
                "scale": [value_of(self.scale_low), value_of(self.scale_high)]
                if self.has_scale
                else None,
                "translation_unit": self.translation_unit,
                "fill_mode": self.fill_mode,
                "fill_value": self.fill_value,
            }
        )
        return config


@keras_invariance_export("keras_invariance.perturbations.RandomSpatialTransform")
class RandomSpatialTransform(SpatialTransform):
    """x̃ = g(x, θ) with θ uniform in the box: data augmentation (D.A.).

    Draws one translation (and rotation, and optionally scale) per row,
    uniformly in `[-translation, translation]² × [-rotation, rotation]`. With
    α = β = 1 this is the paper's D.A. column (loss L(x) + L(x̃) on the paired
    batch); add `OutputDivergence("kl")` for D.A. + KL.

    Example:

    >>> import numpy as np
    >>> p = RandomSpatialTransform(translation=3, rotation=30, seed=0)
    >>> p.perturb(np.zeros((2, 16, 16, 1), "float32")).shape
    TensorShape([2, 16, 16, 1])

    Args:
        translation: Limit of |dx|, |dy| (pixels, or fractions with
            `translation_unit="fraction"`); a number or a pair.
        rotation: Limit of |angle| in degrees.
        scale: Optional `(low, high)` magnification range.
        translation_unit: `"pixels"` or `"fraction"`.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`.
        fill_value: Fill for `"constant"`.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments.

    Raises:
        ValueError: For inputs that are not a 4-D float image batch.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019):
        x̃ ∼ Unif(T(x)).
    """

    def perturb(self, x, context=None):
        params = self.sample_parameters(x)
        return ops.stop_gradient(self.apply_parameters(x, params))


class _SpatialSearch(SpatialTransform):
    """A search over the transform parameters that runs the model."""

    is_adversarial = True

    def __init__(self, objective="loss", from_logits=None, training=False, **kwargs):
        super().__init__(**kwargs)
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.training = bool(training)
        self.objective = objective
        self._divergence = distances_lib.resolve_objective(objective)

    def _check_context(self, context):
        if context is None:
            raise ValueError(
                f"{type(self).__name__} is a search: it needs the training "
                "step's context (call it through `InvariantModel.fit`), or "
                "use `keras_invariance.evaluation.spatial_pgd_accuracy` to "
                "attack a trained model."
            )

    @property
    def output_distances(self):
        """The search's distance on the outputs, checked at `compile()`."""
        return [] if self._divergence is None else [self._divergence]

    def _scores(self, context, outputs, reference):
        """Per-row objective (float32): the loss or h(f(x), f(x̃)).

        `reference` is the clean logits view; `outputs` are raw outputs.
        """
        if self._divergence is None:
            return context.per_example_loss(outputs)
        distance = context.divergence(self._divergence, self.name)
        return ops.cast(
            distance(ops.cast(reference, "float32"), context.logits_of(outputs)),
            "float32",
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "objective": self.objective,
                "from_logits": self.from_logits,
                "training": self.training,
            }
        )
        return config


@keras_invariance_export("keras_invariance.perturbations.WorstOfKSpatial")
class WorstOfKSpatial(_SpatialSearch):
    """Worst of k random transforms, by loss or by divergence.

    Draws k transforms per row uniformly in the box, runs the model once on
    all k·N candidates (plus the N clean rows when ranking by a divergence,
    in the same pass), and keeps for each row the candidate with the largest
    per-example loss (`objective="loss"`: adversarial training) or the largest
    divergence h(f(x), f(x̃)) (`"kl"` on softmax, `"l2"` on logits: the
    paper's regularized A.T., x̃ = argmax h). The choice is one argmax and
    one `tf.gather`, with no Python loop over examples. The scoring pass is
    in inference mode by default (`training=False`, see the module notes)
    and costs a forward pass over (k + 1)·N rows, no backward.

    Example:

    >>> WorstOfKSpatial(k=10, objective="kl").is_adversarial
    True

    Args:
        k: Candidates per row, a Python int ≥ 1.
        objective: What ranks the candidates: `"loss"` (default), `"kl"` or
            `"l2"` (`rank_by=` is its deprecated name).
        translation: Box limit of |dx|, |dy| (see `RandomSpatialTransform`).
        rotation: Box limit of |angle| in degrees.
        scale: Optional `(low, high)` magnification range.
        training: `training` flag of the scoring pass (default `False`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        **kwargs: `translation_unit`, `fill_mode`, `fill_value`, `seed` and
            Keras `Layer` arguments.

    Raises:
        ValueError: For k < 1, an unknown `objective`, or inputs that are not
            a 4-D float image batch.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019)
        ("worst-of-k: worst of k randomly drawn transformations"); Engstrom et al. (2019).
    """

    def __init__(self, k=10, objective=None, **kwargs):
        objective = deprecation.renamed(
            kwargs, "rank_by", "objective", objective, "WorstOfKSpatial"
        )
        if int(k) != k or k < 1:
            raise ValueError(f"`k` must be an integer ≥ 1; received {k!r}.")
        self.k = int(k)
        super().__init__(objective=objective or "loss", **kwargs)

    def search(self, x, context):
        """Returns `(x̃, params)`: the worst candidate of each row.

        Args:
            x: Images `(N, H, W, C)` (K blocks of the batch in training).
            context: The step's `StepContext`.

        Returns:
            `x̃` (no gradient) and its float32 parameters `(N, P)`.
        """
        validation.check_image_batch(x, type(self).__name__)
        self._check_context(context)
        n = ops.shape(x)[0]
        params = self.sample_parameters(x, rows=self.k * n)  # k blocks of N
        tiled = ops.concatenate([x] * self.k, axis=0)
        candidates = self.apply_parameters(tiled, params)
        if self._divergence is None:
            outputs = context.forward(candidates, training=self.training).outputs
            reference = None
        else:
            joint = ops.concatenate([x, candidates], axis=0)
            outputs = context.forward(joint, training=self.training).outputs
            reference = ops.concatenate([context.logits_of(outputs[:n])] * self.k, axis=0)
            outputs = outputs[n:]
        scores = ops.reshape(self._scores(context, outputs, reference), (self.k, n))
        best = ops.cast(ops.argmax(scores, axis=0), "int32")  # (N,)
        rows = best * ops.cast(n, "int32") + ops.arange(n, dtype="int32")
        chosen = ops.take(candidates, rows, axis=0)
        return ops.stop_gradient(chosen), ops.stop_gradient(ops.take(params, rows, axis=0))

    def perturb(self, x, context=None):
        return self.search(x, context)[0]

    def get_config(self):
        config = super().get_config()
        config.update({"k": self.k})
        return config


@keras_invariance_export("keras_invariance.perturbations.SpatialPGD")
class SpatialPGD(_SpatialSearch):
    """S-PGD: projected gradient ascent over the transform parameters.

    Starts at a uniform draw in the box (`random_start=True`) or at the
    identity, then takes `steps` sign-gradient steps on (dx, dy, angle
    [, scale]) of every row, each followed by a projection (clip) into the
    box. The gradient with respect to the parameters flows through the
    differentiable warp `keras_invariance.spatial.apply_spatial_params`.
    The objective is the per-example compiled loss (`"loss"`: A.T.) or the
    divergence h(f(x), f(x̃)) (`"kl"`, `"l2"`); a divergence search without
    random start begins 1% of the box away from the identity, where h has a
    non-zero gradient. With `keep_best` (default) each row gets the visited
    point with the largest objective (bilinear warps have kinks at whole-pixel
    shifts where sign steps can oscillate), at the cost of one more forward
    pass. Search passes use `training=training` (default `False`); each step
    is one forward and one backward pass over N rows.

    Example:

    >>> p = SpatialPGD(steps=5)
    >>> [round(float(s), 2) for s in p.step_sizes(None)]
    [1.5, 1.5, 15.0]

    Args:
        steps: Ascent steps, a Python int ≥ 1.
        step_size: Step per parameter `(dx, dy, angle[, scale])`, or `None`
            for 2.5 × (half the box width) / steps (Madry et al.'s rule).
        translation: Box limit of |dx|, |dy| (default 3 px).
        rotation: Box limit of |angle| (default 30°).
        scale: Optional `(low, high)` magnification range.
        random_start: Start uniformly in the box (default) or at the
            identity (deterministic).
        keep_best: Return each row's best visited point (default) or the
            last iterate.
        objective: `"loss"` (default), `"kl"` or `"l2"`.
        training: `training` flag of the search passes (default `False`).
        from_logits: Whether the model returns logits; `None` (default)
            reads the model (`keras_invariance.graph.outputs`).
        **kwargs: `translation_unit`, `fill_mode`, `fill_value`, `seed` and
            Keras `Layer` arguments.

    Raises:
        ValueError: For steps < 1, a bad `step_size`, an unknown
            `objective`, or inputs that are not a 4-D float image batch.

    Reference:
        Yang et al.,
        "Invariance-inducing regularization using worst-case transformations" (NeurIPS 2019)
        ("S-PGD: Projected Gradient Descent with respect to the transformation parameters").
    """

    def __init__(
        self,
        steps=5,
        step_size=None,
        random_start=True,
        keep_best=True,
        objective="loss",
        **kwargs,
    ):
        if int(steps) != steps or steps < 1:
            raise ValueError(f"`steps` must be an integer ≥ 1; received {steps!r}.")
        self.steps = int(steps)
        self.random_start = bool(random_start)
        self.keep_best = bool(keep_best)
        super().__init__(objective=objective, **kwargs)
        if step_size is not None:
            step_size = [float(s) for s in np.ravel(step_size)]
            if len(step_size) != self.num_parameters or min(step_size) < 0:
                raise ValueError(
                    f"`step_size` must hold {self.num_parameters} non-negative "
                    "steps (dx, dy, angle[, scale]); received "
                    f"{step_size!r}."
                )
        self.step_size = step_size

    def step_sizes(self, x):
        """The float32 `(P,)` step per parameter."""
        if self.step_size is not None:
            return ops.convert_to_tensor(self.step_size, "float32")
        if x is None:
            x = np.zeros((1, 1, 1, 1), "float32")
        low, high = self.bounds(x)
        return 2.5 * (high - low) / 2.0 / float(self.steps)

    def start_parameters(self, x):
        """The start of the ascent, `(N, P)`."""
        n = ops.shape(x)[0]
        if self.random_start:
            return self.sample_parameters(x)
        start = self.identity_parameters(n)
        if self._divergence is not None:
            low, high = self.bounds(x)
            start = start + DIVERGENCE_START_FRACTION * (high - low) / 2.0
        return start

    def search(self, x, context, return_trace=False):
        """Returns `(x̃, params)` after the ascent (no gradient).

        Args:
            x: Images `(N, H, W, C)`.
            context: The step's `StepContext`.
            return_trace: Also return the evaluated `(params, outputs)`.
        """
        validation.check_image_batch(x, type(self).__name__)
        self._check_context(context)
        reference = None
        if self._divergence is not None:
            reference = ops.stop_gradient(
                context.forward(x, training=self.training).logits
            )

        def objective_fn(images):
            outputs = context.forward(images, training=self.training).outputs
            return self._scores(context, outputs, reference), outputs

        low, high = self.bounds(x)
        result = spatial_lib.spatial_pgd_search(
            x,
            self.start_parameters(x),
            low,
            high,
            self.step_sizes(x),
            self.steps,
            objective_fn,
            self.apply_parameters,
            keep_best=self.keep_best,
            return_trace=return_trace,
        )
        params = result[0] if return_trace else result
        x_adv = ops.stop_gradient(self.apply_parameters(x, params))
        if return_trace:
            return x_adv, params, result[1]
        return x_adv, params

    def perturb(self, x, context=None):
        return self.search(x, context)[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "steps": self.steps,
                "step_size": self.step_size,
                "random_start": self.random_start,
                "keep_best": self.keep_best,
            }
        )
        return config
