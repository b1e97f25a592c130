"""The base class of every perturbation: how x̃ is made from x."""

import keras

from keras_invariance.ops.seeding import SeedState
from keras_invariance.utils import validation
from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.Perturbation")
class Perturbation(SeedState, keras.layers.Layer):
    """Base class for the noise model ν_x that draws perturbed inputs x̃.

    A perturbation is a small Keras layer that owns its random state (a
    `keras.random.SeedGenerator`) and its tunable parameters (as non-trainable
    variables), so it is tracked, saved and restored with the model. It is not
    called through `Layer.__call__`: the engine calls `perturb(x, context)`
    directly, which keeps Keras' autocasting and symbolic building out of the
    training step.

    Subclasses implement `perturb`. Random perturbations read only `x`;
    adversarial ones (FGSM, PGD, worst-of-k) use `context` to run the model and
    the compiled loss, and must return a tensor with no gradient path into the
    weight update (wrap the result in `ops.stop_gradient`).

    The contract with the engine is declared here, with its defaults:

    * `requires_float_inputs` (`True`): the engine rejects integer inputs
      with a clear error before the first pass (token noise sets `False`),
      ending with `float_input_hint`, what to do instead.
    * `is_adversarial` (`False`): `perturb` runs the model through
      `context` (a search). The engine then draws x̃ outside the weight
      tape, and a search cannot serve as `global_augmentation` (which is
      applied without the model).
    * `uses_clean_pass` (`False`): x̃ is built from the engine's clean pass
      (FGSM's `reuse_clean_pass`): the engine draws it after that pass, from
      `context.input_tape` and `context.clean_loss`.
    * `single_input` (`False`): the perturbation transforms one tensor
      (images, waveforms); on a model with several inputs the engine asks
      for a per-input mapping at construction (`perturbation={"image":
      ...}`). Otherwise a structure of inputs is handled as a whole (float
      noise and searches act on every float input).
    * `output_distances` (`()`): the distances between output distributions
      the term compares (a KL, a cross-entropy); the engine checks them
      against what the model returns (`keras_invariance.graph.outputs`) before
      training, so a KL on a regression fails with a message.

    Example:

    >>> import keras
    >>> class Flip(Perturbation):
    ...     def perturb(self, x, context=None):
    ...         return -x
    >>> Flip().perturb(keras.ops.ones((1, 2)))
    <tf.Tensor: shape=(1, 2), dtype=float32, numpy=array([[-1., -1.]], dtype=float32)>

    Args:
        seed: Optional int seed of the perturbation's `SeedGenerator`.
        **kwargs: Keras `Layer` arguments such as `name`.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep
        Networks" (2018), eq. 1–2: x̃⁽ᵏ⁾ ~ ν_x.
    """

    requires_float_inputs = True
    float_input_hint = validation.TOKEN_HINT
    is_adversarial = False
    uses_clean_pass = False
    single_input = False
    output_distances = ()

    def __init__(self, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        # `seed`, `seed_generator`, the seed in the config and its saved
        # state (`keras_invariance.ops.seeding`), shared with penalties.
        self.init_seed(seed)
        # Nothing here depends on an input shape; marking it built lets
        # `load_model` restore the variables (and, through
        # `save_own_variables`, the seed states) without a call.
        self.built = True

    def bind(self, model, subclassed=False):
        """Checks model-dependent settings once, when the model is built.

        Called by `InvariantModel.__init__` with the user's graph model (or
        `None` for a subclassed model), so that e.g. a per-input mapping
        naming a missing input fails at construction. Same signature as
        `Penalty.bind`; `graph_model(model, subclassed)` is the model whose
        graph can be read, or `None`.

        Args:
            model: A Functional/Sequential model, or `None`.
            subclassed: Whether `model` is traced by recording (its graph
                cannot be read, as for `None`).
        """

    def perturb(self, x, context=None):
        """Returns x̃ for a batch `x` (same shape and dtype).

        Args:
            x: The clean input batch.
            context: The training step's `StepContext` (adversarial
                perturbations use it to run the model); may be `None` for
                random perturbations.

        Returns:
            A tensor shaped like `x`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement `perturb(x, context)`."
        )

    def call(self, inputs):
        # Lets a perturbation be used as a layer (e.g. to preview noise).
        return self.perturb(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


def graph_model(model, subclassed=False):
    """The model whose graph `bind` can read: `model`, or `None` if subclassed.

    Example:

    >>> graph_model("functional model", subclassed=True) is None
    True
    """
    return None if subclassed else model
