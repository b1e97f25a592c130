"""The base class of every invariance penalty R_j."""

import keras

from keras_invariance.ops.seeding import SeedState
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of


@keras_invariance_export("keras_invariance.Penalty")
class Penalty(SeedState, keras.layers.Layer):
    """Base class for a weighted invariance penalty λ_j·R_j.

    The engine (`InvariantModel.train_step`) calls `compute(context)` once per
    step and adds `weight · R_j` to the objective, scaled for distribution as
    Keras scales its own loss. `R_j` itself (unweighted, float32) is logged as
    a metric under the penalty's `name`, so the name is also the Keras Tuner
    objective for it.

    A penalty is a Keras layer only to own variables: `weight` (λ_j) and any
    hyperparameter of its own are non-trainable variables that can change
    between steps without retracing, and are saved with the model.

    The contract with the engine is declared here, with its defaults;
    subclasses override what differs (as class or instance attributes, the
    latter in `bind`):

    * `requires_perturbation` (`False`): the penalty reads the perturbed pass
      (`context.perturbed`), so the model needs a perturbation; the engine
      says so at construction.
    * `requires_input_gradient` (`False`): the penalty differentiates with
      respect to the inputs through the clean pass, so the engine watches x
      on `context.input_tape` during that pass (no second clean pass).
    * `label_free` (`True`): the penalty uses no labels and averages over
      every row, unlabeled rows (sample weight 0) included. A penalty with
      `label_free = False` differentiates the per-example loss; the engine
      then requires `compile(loss=...)` and the penalty weights rows by
      their sample weights.
    * `tap_names` (`[]`): the activations every forward pass must return,
      resolved in `bind`.
    * `output_distances` (`()`): the distances between output distributions
      the term compares (a KL, a cross-entropy); the engine checks them
      against what the model returns (`keras_invariance.graph.outputs`) before
      training, so a KL on a regression fails with a message.

    Extension points: a term that draws randomness calls
    `self.init_seed(seed)` (`keras_invariance.ops.seeding.SeedState`:
    `seed` in the config, the seed state saved); a term that differentiates
    with respect to the inputs mixes in
    `keras_invariance.penalties.input_terms.EmbeddingInputs`
    (`embedding_layer=` and the float-input check); a term over tapped
    layers composes `keras_invariance.penalties.layer_selection.LayerSelection`.

    Example:

    >>> from keras import ops
    >>> class OutputNorm(Penalty):
    ...     def compute(self, context):
    ...         return ops.mean(ops.square(context.clean.outputs))
    >>> OutputNorm(weight=0.1, name="output_norm").name
    'output_norm'

    Args:
        weight: λ_j ≥ 0, the penalty's weight in the objective.
        **kwargs: Keras `Layer` arguments, e.g. `name` (the metric name).

    Raises:
        ValueError: If `weight` is negative.
    """

    requires_perturbation = False
    requires_input_gradient = False
    label_free = True
    output_distances = ()

    def __init__(self, weight=1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.weight = add_hyperparameter(self, "weight", weight)
        self.built = True

    @property
    def tap_names(self):
        """Activations the engine must return with each forward pass."""
        return []

    def bind(self, model, subclassed=False):
        """Resolves model-dependent settings (e.g. tapped layer names).

        Called once by `InvariantModel.__init__`, so that wrong names fail at
        construction with a clear message rather than inside the train step.
        `Perturbation.bind` has the same signature.

        Args:
            model: The user's model (wrapped or functional), or the
                `InvariantModel` itself when it is subclassed.
            subclassed: Whether `model` is traced by recording (a subclassed
                model, taps via `Tap`), so its graph cannot be read.
        """

    def compute(self, context):
        """Returns the unweighted penalty R_j as a float32 scalar.

        Args:
            context: The step's `StepContext`.

        Returns:
            A float32 scalar tensor, the mean over this replica's batch.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `compute(context)`."
        )

    def call(self, inputs):
        raise NotImplementedError(
            "Penalties are not called as layers; the InvariantModel engine "
            "calls `compute(context)` during `fit()`."
        )

    def get_config(self):
        config = super().get_config()
        config.update({"weight": value_of(self.weight)})
        return config
