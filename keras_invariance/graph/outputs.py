"""What a model's outputs are: class logits, probabilities or a regression.

Every term that reads the outputs as a distribution (VAT, KL and
cross-entropy divergences, KL searches) or differentiates them (Jacobian,
Prediction IBP, TangentProp, noise regularization, IRL on the logits) reads
one view of them, the *logits view*, so that a model ending in a softmax and
the same model returning logits give the same terms at the same default
weights:

| outputs | view | distribution |
|---|---|---|
| logits (no final activation) | the outputs | softmax over the last axis |
| softmax probabilities p | log p − mean(log p) (the logits, centred: a softmax
  fixes them only up to a per-row constant) | softmax |
| sigmoid probabilities p | log(p / (1 − p)) (the logits exactly) | one Bernoulli per unit |
| binary logits (one unit, binary cross-entropy) | the outputs | Bernoulli |
| a regression (MSE, MAE, Huber … loss) | the outputs | none: squared L2 |
| several outputs (a dict or list) | each output's view, flattened and concatenated per row |
  each output's own |

A model with several outputs (`MultiOutputSpec`) is read output by output:
its final activations, and the compiled loss of each output (a dict keyed by
output name, a list, or one loss for all). Its logits view is one tensor per
row, so a term that compares or differentiates "the logits" (IRL, noise
regularization, the Jacobian) sees every output; a distance between
distributions (KL, cross-entropy, Jensen–Shannon) compares each classifier
output's own distribution and each regression output by ‖Δ‖², summed
(`keras_invariance.distances.for_outputs`).

The kind is read, in this order, from an explicit `from_logits=`
(`InvariantModel` or a term), the model's final activation (graph models:
`Dense(..., activation="softmax")`, `Softmax`, `Activation("sigmoid")` …,
also inside a nested model) and the compiled loss (its class and
`from_logits`; string losses such as `"sparse_categorical_crossentropy"`
expect probabilities, as in Keras).
"""

import dataclasses

import keras
from keras import ops
from keras import tree

from keras_invariance.graph import output_structure
from keras_invariance.graph.output_structure import MultiOutputSpec
from keras_invariance.utils import keras_compat

#: Kinds of output distribution.
CATEGORICAL = "categorical"
BERNOULLI = "bernoulli"
REGRESSION = "regression"

#: Probabilities are floored here before the log, so a class whose softmax
#: underflowed to 0 gives a finite view (and no gradient).
PROBABILITY_FLOOR = 1e-30

_CATEGORICAL_LOSSES = (
    "SparseCategoricalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "KLDivergence",
    "kl_divergence",
)
_BERNOULLI_LOSSES = (
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
)
_REGRESSION_LOSSES = (
    "MeanSquaredError",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "Huber",
    "LogCosh",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
)


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """How to read a model's outputs.

    Example:

    >>> OutputSpec(CATEGORICAL, from_logits=False).activation
    'softmax'

    Attributes:
        distribution: `"categorical"`, `"bernoulli"`, `"regression"`, or
            `None` when nothing tells (treated as categorical logits, the
            package's convention before it read the outputs).
        from_logits: Whether the outputs are logits (`True` for a
            regression).
        units: The size of the last axis, when known.
    """

    distribution: object = None
    from_logits: bool = True
    units: object = None

    @property
    def activation(self):
        """`"softmax"`, `"sigmoid"` or `None`: what the model applied last."""
        if self.from_logits:
            return None
        return "sigmoid" if self.distribution == BERNOULLI else "softmax"

    @property
    def is_regression(self):
        return self.distribution == REGRESSION

    def describe(self):
        """A phrase for error messages."""
        if self.is_regression:
            return "a regression output"
        if self.distribution is None:
            return "outputs of unknown kind (read as class logits)"
        kind = "class" if self.distribution == CATEGORICAL else "binary"
        what = "logits" if self.from_logits else f"{self.activation} probabilities"
        return f"{kind} {what}"


#: What an unknown model is taken to return: class logits.
LOGITS = OutputSpec()


def final_activation(model):
    """`"softmax"`, `"sigmoid"`, another activation name, or `None`.

    Reads the layer that produces a graph model's (single) output, looking
    inside nested models. `None` when the model is subclassed, has several
    outputs, or its last layer has no activation.

    Example:

    >>> import keras
    >>> final_activation(keras.Sequential(
    ...     [keras.Input((2,)), keras.layers.Dense(3, activation="softmax")]))
    'softmax'
    """
    layer = _output_layer(model)
    for _ in range(16):
        if layer is None or not isinstance(layer, keras.Model):
            break
        inner = _output_layer(layer)
        if inner is None:
            break
        layer = inner
    if layer is None:
        return None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or keras.activations.serialize(
        activation
    )
    return None if name == "linear" else name


def _output_layer(model):
    outputs = getattr(model, "outputs", None)
    try:
        if not outputs or len(outputs) != 1:
            return None
    except (AttributeError, ValueError, TypeError):
        return None
    history = keras_compat.keras_history(outputs[0])
    return None if history is None else history[0]


def _loss_name(loss):
    if isinstance(loss, str):
        return loss
    if isinstance(loss, keras.losses.Loss):
        return type(loss).__name__
    return getattr(loss, "__name__", None)


def from_loss(loss):
    """`(distribution, from_logits)` the compiled loss implies, or `None`s.

    Example:

    >>> import keras
    >>> from_loss(keras.losses.BinaryCrossentropy(from_logits=True))
    ('bernoulli', True)
    >>> from_loss("sparse_categorical_crossentropy")
    ('categorical', False)
    >>> from_loss("mse")
    ('regression', True)
    """
    name = _loss_name(loss)
    if name is None:
        return None, None
    if name in _REGRESSION_LOSSES or name in ("mse", "mae", "mape", "msle"):
        return REGRESSION, True
    if name in _CATEGORICAL_LOSSES or name in _BERNOULLI_LOSSES:
        distribution = BERNOULLI if name in _BERNOULLI_LOSSES else CATEGORICAL
        if name.startswith("kl") or name == "KLDivergence":
            return distribution, False
        from_logits = getattr(loss, "from_logits", None)
        if from_logits is None:
            from_logits = keras_compat.loss_function_kwargs(loss).get("from_logits", False)
        return distribution, bool(from_logits)
    return None, None


def resolve(model=None, loss=None, from_logits=None, units=None):
    """The `OutputSpec` of a model given what it, its loss and the user say.

    Example:

    >>> import keras
    >>> base = keras.Sequential(
    ...     [keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    >>> resolve(base, "sparse_categorical_crossentropy").describe()
    'class softmax probabilities'

    Args:
        model: The user's model (graph models are read), or `None`.
        loss: The compiled loss, or `None`.
        from_logits: An explicit `True` / `False`, or `None`.
        units: The last axis' size, when known.

    Returns:
        An `OutputSpec`.

    Raises:
        ValueError: When an explicit `from_logits` contradicts the model's
            final activation.
    """
    several = _resolve_several(model, loss, from_logits)
    if several is not None:
        return several
    activation = final_activation(model) if model is not None else None
    if units is None and model is not None:
        units = _units(model)
    distribution, loss_logits = from_loss(loss)
    if activation in ("softmax", "sigmoid"):
        if from_logits:
            raise ValueError(
                f"`from_logits=True`, but the model's last layer applies a "
                f"{activation}, so it returns probabilities. Drop "
                "`from_logits` (the package reads the activation), or remove "
                "the final activation and compile with `from_logits=True`."
            )
        if distribution == REGRESSION:
            distribution = None
        return OutputSpec(
            distribution or (BERNOULLI if activation == "sigmoid" else CATEGORICAL),
            from_logits=False,
            units=units,
        )
    if distribution == REGRESSION:
        return OutputSpec(REGRESSION, True, units)
    if from_logits is None:
        from_logits = True if loss_logits is None else loss_logits
    if distribution is None and not from_logits:
        distribution = BERNOULLI if units == 1 else CATEGORICAL
    return OutputSpec(distribution, bool(from_logits), units)


def _units(model):
    outputs = getattr(model, "outputs", None)
    try:
        if outputs and len(outputs) == 1 and outputs[0].shape:
            return outputs[0].shape[-1]
    except (AttributeError, ValueError, TypeError):
        pass
    return None


def logits_view(outputs, spec):
    """The outputs as logits (see the module's table), float32 for probabilities.

    Example:

    >>> import numpy as np
    >>> spec = OutputSpec(CATEGORICAL, from_logits=False)
    >>> np.round(logits_view(np.array([[0.2, 0.8]], "float32"), spec), 4)
    array([[-0.6931,  0.6931]], dtype=float32)

    Args:
        outputs: The model's outputs (a tensor; other structures pass
            through unchanged).
        spec: An `OutputSpec`.

    Returns:
        The logits view (one float32 tensor of rows for several outputs).
    """
    if isinstance(spec, MultiOutputSpec) or (
        not hasattr(outputs, "shape") and len(tree.flatten(outputs)) > 1
    ):
        return _joint_logits_view(outputs, spec)
    if spec is None or spec.from_logits or not hasattr(outputs, "shape"):
        return outputs
    p = ops.cast(outputs, "float32")
    if spec.distribution == BERNOULLI:
        p = ops.clip(p, PROBABILITY_FLOOR, 1.0 - keras.config.epsilon())
        return ops.log(p) - ops.log1p(-p)
    log_p = ops.log(ops.maximum(p, PROBABILITY_FLOOR))
    # Centred, the view is the logits of any logits model with zero-mean
    # rows; uncentred, log p carries −logsumexp in every unit, which inflates
    # the energies that normalize the terms (5–7× weaker terms measured).
    return log_p - ops.mean(log_p, axis=-1, keepdims=True)


def model_from_logits(model, from_logits=None):
    """`from_logits` as given, or whether `model` returns logits (its activation).

    Example:

    >>> import keras
    >>> model_from_logits(keras.Sequential(
    ...     [keras.Input((2,)), keras.layers.Dense(3, activation="softmax")]))
    False
    """
    if from_logits is not None:
        return bool(from_logits)
    return final_activation(model) not in ("softmax", "sigmoid")


# ------------------------------------------------------------ several outputs


class _OneOutput:
    """One output tensor of a graph model, read like a single-output model."""

    def __init__(self, tensor):
        self.outputs = [tensor]


def _resolve_several(model, loss, from_logits):
    """A `MultiOutputSpec` for a model (or compiled loss) with several outputs.

    `None` for a single output. A graph model tells its outputs; a
    subclassed model is known to have several when its loss is a dict or a
    list of several losses.
    """
    outputs = None
    if model is not None:
        try:
            outputs = list(model.outputs)
        except (AttributeError, ValueError, TypeError):
            outputs = None
    if outputs is not None and len(outputs) > 1:
        keys = output_structure.output_keys(model)
        losses = output_structure.losses_per_output(loss, keys)
        specs = tuple(
            resolve(_OneOutput(t), one, from_logits) for t, one in zip(outputs, losses)
        )
        shapes = [tuple(t.shape[1:]) for t in outputs]
        if any(d is None for shape in shapes for d in shape):
            shapes = []
        return MultiOutputSpec(specs, tuple(keys), shapes)
    if outputs is None and isinstance(loss, (dict, list, tuple)) and len(loss) > 1:
        keys = (
            [str(k) for k in sorted(loss)]
            if isinstance(loss, dict)
            else [str(i) for i in range(len(loss))]
        )
        losses = output_structure.losses_per_output(loss, keys)
        specs = tuple(resolve(None, one, from_logits) for one in losses)
        return MultiOutputSpec(specs, tuple(keys))
    if isinstance(loss, (dict, list, tuple)) and len(loss) == 1:
        # One output compiled with a one-entry dict or list.
        only = next(iter(loss.values())) if isinstance(loss, dict) else loss[0]
        return resolve(model, only, from_logits)
    return None


def _joint_logits_view(outputs, spec):
    """Each output's logits view, flattened per row and concatenated (float32)."""
    flat = tree.flatten(outputs)
    if not isinstance(spec, MultiOutputSpec) or len(spec.outputs) != len(flat):
        # Several outputs that nothing described: each is read as logits.
        spec = MultiOutputSpec(
            tuple(LOGITS for _ in flat), tuple(str(i) for i in range(len(flat)))
        )
    spec.learn_shapes(flat)
    views = []
    for t, one in zip(flat, spec.outputs):
        view = ops.cast(logits_view(t, one), "float32")
        views.append(ops.reshape(view, (ops.shape(view)[0], -1)))
    return ops.concatenate(views, axis=-1)
