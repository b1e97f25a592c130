"""`InvariantModel`: the one `train_step` every invariance method shares."""

import warnings

import keras
from keras import ops
from keras import tree
import tensorflow as tf

from keras_invariance.engine import clean_pass
from keras_invariance.engine import context as context_lib
from keras_invariance.engine import finite_guard
from keras_invariance.engine import objective_checks
from keras_invariance.engine import one_batch
from keras_invariance.engine import output_losses
from keras_invariance.engine import step as step_lib
from keras_invariance.engine import wrapping
from keras_invariance.engine.distribution import logs_for_reduction
from keras_invariance.engine.distribution import replica_row_positions
from keras_invariance.engine.distribution import scale_for_optimizer
from keras_invariance.engine.distribution import symbolic_build_from_local_batch
from keras_invariance.engine.distribution import unscale_for_distribution
from keras_invariance.engine.term_metrics import TermMetrics
from keras_invariance.engine.wrapping import base_model_from_arguments
from keras_invariance.graph import batchnorm
from keras_invariance.graph import taps as taps_lib
from keras_invariance.ops import random_ops
from keras_invariance.penalties.base import Penalty
from keras_invariance.perturbations import resolve as perturbation_lib
from keras_invariance.perturbations.per_input import input_names
from keras_invariance.utils import keras_compat
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter

BATCHING_MODES = ("auto", "concat", "separate", "clean_statistics")


class _Untracked:
    """Holds objects Keras must not track, save or list as sublayers.

    The tap reader's extractors share the user's layers (saving them would
    store the layers twice); the term trackers are metrics, not weights.
    """

    def __init__(self):
        self.tap_reader = None
        self.terms = None
        self.finite_names = []
        self.finite_store = None  # finite_guard.flag_store, built with fit()
        self.output_spec = None
        self.output_losses = {}
        # Whether the train function was traced with the clean pass off the
        # weight tape (keras_invariance.engine.clean_pass.follow_alpha).
        self.alpha_zero = False
        # Whether a traced clean pass added call-time losses, so it must stay
        # on the weight tape (keras_invariance.engine.clean_pass).
        self.call_losses = False


@keras_invariance_export("keras_invariance.InvariantModel")
class InvariantModel(keras.Model):
    """A Keras model trained with invariance terms added to `fit()`.

    The objective of each training step is

        α·L(x) + β·mean_k L(x̃_k) + Σ_j λ_j·R_j + model.losses,

    where L is the loss given to `compile()`, x̃_k are K perturbed copies of
    the batch drawn by `perturbation`, and R_j are `penalties` (IRL's
    activation distance, output divergences, derivative penalties …). Only
    `train_step` changes: `evaluate()` reports the plain compiled loss and
    metrics, and `predict()` needs no labels.

    Three ways to build one:

    * wrap a built model: `InvariantModel(base_model, ...)`;
    * functional: `InvariantModel(inputs, outputs, ...)` (builds the
      Functional model and wraps it);
    * subclass `InvariantModel`, implement `call`, and pass the invariance
      arguments to `super().__init__`; tap activations with
      `keras_invariance.Tap` layers.

    α, β and every λ_j and γ_ℓ are non-trainable variables: assign to them
    between steps (callbacks, schedules) without retracing; they are saved
    with the model. `base_model` returns the plain model for deployment.

    Batching: `"concat"` (the paper's IRL batching) runs clean and perturbed
    inputs as one pass (BatchNorm normalizes over both and updates its
    moving statistics once, from both); `"separate"` runs two passes (moving
    statistics updated twice); `"clean_statistics"` runs two passes and
    keeps the moving statistics to the clean pass. `"auto"` (default) is
    `"clean_statistics"` for a model with BatchNorm (known only for graph
    and already-built subclassed models) and `"concat"` otherwise. Dropout
    draws new masks per row.
    Activity regularizers count once (from the first pass). Unlabeled rows:
    sample weight 0; they still train through label-free penalties.

    Logged metrics (also usable as Keras Tuner objectives): `loss` (the whole
    objective), `clean_loss` (L(x)), `perturbed_loss` (mean_k L(x̃_k), when
    there is a perturbation), and each penalty's unweighted value under its
    name (e.g. `irl_distance`).

    Example:

    >>> import keras
    >>> import numpy as np
    >>> import keras_invariance as ki
    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = ki.InvariantModel(
    ...     base, alpha=0.5, beta=0.5, perturbation=ki.perturbations.GaussianNoise(0.1),
    ...     penalties=[ki.penalties.ActivationDistance(layers="logits", weight=1.0)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> history = model.fit(np.zeros((8, 4)), np.zeros((8,)), verbose=0)
    >>> sorted(history.history)
    ['clean_loss', 'irl_distance', 'loss', 'perturbed_loss']

    Args:
        *args: A model to wrap, or `(inputs, outputs)`; nothing when
            subclassing.
        alpha: α ≥ 0, weight of the clean loss L(x).
        beta: β ≥ 0, weight of the perturbed loss mean_k L(x̃_k).
        perturbation: How x̃ is drawn: a `keras_invariance.Perturbation`, a
            Keras layer or list of layers, or a callable.
        num_samples: K ≥ 1, perturbed copies of each example per step.
        penalties: A list of `keras_invariance.Penalty` (distinct names).
        global_augmentation: Augmentation applied to x before it is
            perturbed (so identically to x and x̃), e.g. crops and flips: a
            perturbation, layer(s) or callable.
        batching: `"auto"` (default), `"concat"`, `"separate"` or
            `"clean_statistics"` (see above and `keras_invariance.graph.batchnorm`).
        from_logits: Whether the model returns logits; `None` (default)
            reads its final activation and, at `compile()`, the loss (see
            `keras_invariance.graph.outputs`: every term reads the same logits
            view of a softmax or logits model).
        validation_terms: Also compute every term on validation data, so
            `fit(validation_data=...)` logs `val_<term>` (e.g.
            `val_irl_distance`, `val_perturbed_loss`) and `evaluate()`
            returns them; the passes run in inference mode. Off by default:
            `evaluate()` is then exactly the plain model's.
        check_finite: Stop `fit()` with a `NonFiniteError` naming the first
            non-finite quantity (the inputs, a loss term or a penalty) at
            the step it appears, without applying that step's gradients
            (see `keras_invariance.engine.finite_guard`). `False` skips the check
            and its one host read per step.
        unconnected_inputs: A float input with no gradient path to the
            outputs gets ∇ = 0 (`"zero"`, default: searches and VAT leave it
            unperturbed, as NSL does) or an error naming it at the first
            step (`"raise"`, NSL's `raise_invalid_gradient=True`).
        **kwargs: `model=` (same as a positional model), `inputs=`,
            `outputs=`, and Keras `Model` arguments such as `name`.

    Raises:
        ValueError: For a negative weight, α = β = 0 without penalties, β > 0
            or a perturbation-based penalty without a perturbation, an unknown
            tapped layer, or an unknown `batching`.
        RuntimeError: On a Keras backend other than TensorFlow.

    Reference:
        Invariant Representation Learning (Hwang, Shrivastava et al.,
        "Learning Invariant Representations ... via IRL"), eq. 1–2 and eq. 4
        (IRL batching).
    """

    def __init__(
        self,
        *args,
        alpha=1.0,
        beta=0.0,
        perturbation=None,
        num_samples=1,
        penalties=None,
        global_augmentation=None,
        batching="auto",
        check_finite=True,
        from_logits=None,
        validation_terms=False,
        unconnected_inputs="zero",
        **kwargs,
    ):
        wrapping.check_backend()
        objective_checks.check_model_keywords(kwargs)
        base_model = base_model_from_arguments(args, kwargs)
        super().__init__(**kwargs)
        self._base_model = base_model
        self._subclassed = base_model is None
        if getattr(base_model, "output_names", None):
            # Keras names per-output losses and metrics after these (and
            # maps `compile(loss={name: ...})` by them), as for the base.
            self.output_names = list(base_model.output_names)
        if base_model is not None and base_model.built:
            # Keras saves the optimizer state only of built models.
            self.built = True
        if self._subclassed and type(self).call is InvariantModel.call:
            raise wrapping.nothing_to_wrap()
        self.alpha = add_hyperparameter(self, "alpha", alpha)
        self.beta = add_hyperparameter(self, "beta", beta)
        self.perturbation = perturbation_lib.get(perturbation)
        self.global_augmentation = perturbation_lib.get(global_augmentation)
        objective_checks.check_global_augmentation(self.global_augmentation)
        self.num_samples = objective_checks.check_num_samples(num_samples)
        self.batching = objective_checks.check_batching(batching, BATCHING_MODES)
        self._passes = batching
        self.check_finite = bool(check_finite)
        self.from_logits = None if from_logits is None else bool(from_logits)
        self.validation_terms = bool(validation_terms)
        self.unconnected_inputs = validation.check_choice(
            "unconnected_inputs", unconnected_inputs, ("zero", "raise"))
        if isinstance(penalties, Penalty):
            penalties = [penalties]
        self.penalties = list(penalties or [])
        objective_checks.check_terms(
            float(alpha), float(beta), self.perturbation, self.penalties
        )
        # Whether the objective was built with supervised terms, for a clear
        # error at the first step if compile() then gets no loss.
        self._supervised_terms = float(alpha) > 0 or float(beta) > 0
        self._taps_by_recording = self._subclassed or not taps_lib.is_graph_model(
            base_model
        )
        if batching == "auto":
            # Mixed moving statistics cost a BatchNorm CNN 13 points of clean
            # accuracy under spatial D.A.+KL (keras_invariance.graph.batchnorm).
            self._passes = "clean_statistics" if batchnorm.moving_statistics(
                self if self._subclassed else base_model
            ) else "concat"
        self._bind_terms(base_model)

    def _bind_terms(self, base_model):
        """Binds the perturbations and penalties to the model, collects the
        layers they tap, and builds the tap reader and the term trackers."""
        tap_model = self if self._subclassed else base_model
        graph_model = None if self._taps_by_recording else base_model
        for perturbation in (self.perturbation, self.global_augmentation):
            if perturbation is not None:
                perturbation.bind(graph_model)
                objective_checks.check_perturbation_inputs(perturbation, graph_model)
        for penalty in self.penalties:
            penalty.bind(tap_model, subclassed=self._taps_by_recording)
        self._tap_names = []
        for penalty in self.penalties:
            for name in penalty.tap_names:
                if name != taps_lib.LOGITS and name not in self._tap_names:
                    self._tap_names.append(name)
        self._untracked = _Untracked()
        self._untracked.tap_reader = taps_lib.TapReader(
            graph_model, self._tap_names, self._call_model
        )
        self._bind_outputs(None)
        names = ["clean_loss"]
        if self.perturbation is not None:
            names.append("perturbed_loss")
        names += [penalty.name for penalty in self.penalties]
        self._untracked.terms = TermMetrics(names)

    # ------------------------------------------------------------------ build

    @property
    def base_model(self):
        """The plain Keras model, without invariance terms, for deployment.

        It shares its layers and weights with this model, and saves and loads
        without keras_invariance installed.

        Raises:
            AttributeError: For a subclassed `InvariantModel`, which is its
                own model: save it directly (loading it needs the package and
                its class), or copy its weights into a plain model.
        """
        if self._base_model is None:
            raise AttributeError(
                f"{type(self).__name__} subclasses InvariantModel, so it has "
                "no separate base model: save or serve it directly, or copy "
                "its weights into a plain keras.Model with the same layers."
            )
        return self._base_model

    def call(self, inputs, training=None):
        return self._base_model(inputs, training=training)

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Exports the plain model for serving (`keras.Model.export`).

        The serving signature is the base model's (no invariance terms): a
        wrapped or functional model exports `base_model`, a subclassed one
        itself.
        """
        model = self if self._subclassed else self._base_model
        return keras.Model.export(model, filepath, format=format, **kwargs)

    def _bind_outputs(self, loss):
        """Reads what the outputs are (terms read their logits view), again
        once `compile()` gave the loss."""
        terms = [t for t in (self.perturbation, self.global_augmentation) if t]
        spec = objective_checks.resolve_for_terms(
            self._untracked.tap_reader.graph_model, loss, self.from_logits,
            terms + self.penalties, check=getattr(self, "compiled", False),
        )
        self._untracked.output_spec = self._untracked.tap_reader.output_spec = spec

    # --------------------------------------------------------------- forward

    def step_context(self, x, y=None, sample_weight=None):
        """The `StepContext` the engine builds for a batch, before any pass.

        `train_step` fills it; handy to test a custom term.

        Example:

        >>> import keras
        >>> import numpy as np
        >>> import keras_invariance as ki
        >>> model = ki.InvariantModel(
        ...     keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)]))
        >>> context = model.step_context(np.ones((4, 2), "float32"))
        >>> context.forward(context.x).outputs.shape
        TensorShape([4, 3])

        Args:
            x: An input batch (tensors).
            y: Its labels, or `None`.
            sample_weight: Optional sample weights.

        Returns:
            A `keras_invariance.engine.context.StepContext`.
        """
        x, y, sample_weight = tree.map_structure(
            lambda t: None if t is None else ops.convert_to_tensor(t),
            (x, y, sample_weight),
            none_is_leaf=True,
        )
        self._bind_outputs(getattr(self, "loss", None))
        ctx = context_lib.StepContext(
            x, y, sample_weight, self.num_samples, forward=self._forward,
            supervised_loss=self._supervised_loss,
            per_example_loss_fn=self._per_example_loss_fn,
            model=self, output_spec=self._untracked.output_spec,
        )
        ctx.unconnected_inputs = self.unconnected_inputs
        return ctx

    def _input_names(self):
        return input_names(self._untracked.tap_reader.graph_model)

    def _call_model(self, x, training):
        if self._base_model is not None:
            return self._base_model(x, training=training)
        if keras_compat.call_has_training_arg(self):
            return self(x, training=training)
        return self(x)

    def _forward(self, x, training=True, taps=()):
        """Runs the model once; returns its outputs and tapped activations."""
        return self._untracked.tap_reader.forward(x, training, taps)

    # ------------------------------------------------------------------ loss

    def _supervised_loss(self, y, y_pred, sample_weight):
        """The compiled loss of any pass but the clean one (scaled as Keras does).

        Its per-output trackers stay silent: `fit()` logs the clean pass's
        per-output losses, as plain Keras (`keras_invariance.engine.output_losses`).
        """
        value, self._untracked.output_losses = output_losses.call_quietly(
            keras_compat.compile_loss(self), y, y_pred, sample_weight
        )
        return value

    def _per_example_loss_fn(self):
        compiled = keras_compat.compile_loss(self)
        if output_losses.is_multi_output(compiled):
            return output_losses.per_example_function(compiled)
        return context_lib.per_example_loss_function(getattr(self, "loss", None))

    def _regularization_losses(self):
        return [keras_compat.additional_loss(self, loss) for loss in self.losses]

    def _objective(self, ctx):
        """Returns (total scaled objective, {metric name: unscaled value}).

        The step's two halves (`keras_invariance.engine.step`): run the
        passes (drawing x̃ once, unless `ctx.x_perturbed` is set), then
        assemble the objective from what they left in `ctx`.
        """
        regularization = step_lib.run_passes(self, ctx)
        return step_lib.assemble_objective(self, ctx, regularization)

    def compute_objective(self, x, y=None, sample_weight=None, x_perturbed=None):
        """`(total, terms)` of `train_step` on one batch, without training.

        Training-mode passes (see `keras_invariance.engine.one_batch`).
        """
        return one_batch.compute_objective(self, x, y, sample_weight, x_perturbed)

    def perturb_on_batch(self, x, y=None, sample_weight=None, term=None,
                         perturbation=None, targets=None):
        """The perturbed batch x̃ this model trains on at this step (NumPy).

        NSL's `perturb_on_batch` for any configuration: see
        `keras_invariance.engine.one_batch.perturb_on_batch`.
        """
        return one_batch.perturb_on_batch(
            self, x, y, sample_weight, term=term, perturbation=perturbation,
            targets=targets,
        )

    # ------------------------------------------------------------ train step

    def _keyed_draws(self, x):
        """Keys this step's random draws to (seed, step, global row)."""
        first = next(t for t in tree.flatten(x) if t is not None)
        positions, global_rows = replica_row_positions(ops.shape(first)[0])
        optimizer = getattr(self, "optimizer", None)  # None before compile()
        step = 0 if optimizer is None else random_ops.batch_counter(optimizer)
        return random_ops.step_key(step, positions, global_rows)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        validation.check_dense(x, "InvariantModel.fit", allow_sparse=True)
        with self._keyed_draws(x):
            return logs_for_reduction(self._train_step(x, y, sample_weight))

    def test_step(self, data):
        if self.validation_terms:
            self._validation_terms(data)
            return logs_for_reduction(super().test_step(data))
        logs = super().test_step(data)
        # evaluate() is a plain model's: no training-term trackers.
        logs = {k: v for k, v in logs.items() if k not in self._untracked.terms.names}
        return logs_for_reduction(logs)

    def _validation_terms(self, data):
        """The objective's terms on a validation batch, into the trackers."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with self._keyed_draws(x), taps_lib.inference_passes():
            ctx = self.step_context(x, y, sample_weight)
            _, terms = self._objective(ctx)
        self._untracked.terms.update_validation(terms, ctx.batch_size)

    @property
    def metrics(self):
        metrics = super().metrics
        terms = getattr(getattr(self, "_untracked", None), "terms", None)
        return metrics + [terms] if terms is not None else metrics

    def _train_step(self, x, y, sample_weight):
        if self.global_augmentation is not None:
            x = tree.map_structure(
                ops.stop_gradient, self.global_augmentation.perturb(x)
            )
        ctx = self.step_context(x, y, sample_weight)
        if self.perturbation is not None and self.perturbation.requires_float_inputs:
            validation.check_float(
                x,
                type(self.perturbation).__name__,
                self.perturbation.float_input_hint,
            )
        with tf.GradientTape() as tape:
            ctx.weight_tape = tape
            total, terms = self._objective(ctx)
            batch = ctx.batch_size
            keras_compat.loss_tracker(self).update_state(
                unscale_for_distribution(total), sample_weight=batch
            )
            total = scale_for_optimizer(self, total)
        trainable_weights = self.trainable_weights
        gradients = tape.gradient(total, trainable_weights) if trainable_weights else []
        if self.check_finite:
            names, flags = finite_guard.nonfinite_flags(x, terms, total, ctx.x_perturbed)
            flags = finite_guard.accumulate(self._untracked.finite_store, flags)
            self._untracked.finite_names = names
            gradients = finite_guard.hold_gradients(gradients, flags)
        if trainable_weights:
            self.optimizer.apply_gradients(zip(gradients, trainable_weights))
        else:
            # As Keras' own train_step: nothing to update, say so.
            warnings.warn("The model does not have any trainable weights.")
        # Per-output perturbed losses, known once the compiled loss is built
        # (here, at the first trace, when no strategy built it before).
        self._untracked.terms.add(list(terms))
        for name, value in terms.items():
            self._untracked.terms[name].update_state(value, sample_weight=batch)
        logs = self.compute_metrics(x, y, ctx.clean.outputs, sample_weight)
        for name in self._untracked.terms.names:
            if name not in terms:
                logs.pop(name, None)
        if self.check_finite:
            logs[finite_guard.LOG_KEY] = flags
        return logs

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self._bind_outputs(getattr(self, "loss", None))
        if self.check_finite and self._untracked.finite_store is None:
            self._untracked.finite_store = finite_guard.flag_store(self.distribute_strategy)
        super().make_train_function(force=force)
        if self.check_finite:
            store = self._untracked.finite_store
            self.train_function = finite_guard.guarded(
                self.train_function,
                lambda: self._untracked.finite_names,
                lambda: int(keras.ops.convert_to_numpy(self.optimizer.iterations)),
                reset=lambda: store.assign(keras.ops.zeros_like(store)),
                span_of=lambda: int(self.steps_per_execution),
            )
        self.train_function = clean_pass.follow_alpha(self, self.train_function)
        return self.train_function

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras' hook before the first step (`keras_compat.symbolic_build_hook_exists`).
        if keras_compat.distribute_strategy_or_none(self) is None or iterator is None:
            keras_compat.keras_symbolic_build(self, iterator, data_batch)
        else:
            symbolic_build_from_local_batch(self, iterator)
        output_losses.track_perturbed(self)

    # ---------------------------------------------------------- serialization

    def get_config(self):
        return wrapping.model_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**wrapping.deserialized_arguments(config))
