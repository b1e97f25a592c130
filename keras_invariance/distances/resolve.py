"""Resolving a distance from its name: `get`, `resolve_objective`, `for_outputs`.

Every `distance=` / `objective=` argument of the package goes through here,
so a name means the same `Distance` everywhere.
"""

import keras

from keras_invariance.distances.base import Distance
from keras_invariance.distances.core import CosineDistance
from keras_invariance.distances.core import CrossEntropy
from keras_invariance.distances.core import KLDivergence
from keras_invariance.distances.core import L2Cosine
from keras_invariance.distances.core import SquaredL2
from keras_invariance.distances.more import JensenShannonDivergence
from keras_invariance.distances.more import L1Distance
from keras_invariance.graph import output_structure

_ALIASES = {
    "squared_l2": SquaredL2,
    "l2": SquaredL2,
    "mse": SquaredL2,
    "cosine": CosineDistance,
    "l2_cosine": L2Cosine,
    "irl": L2Cosine,
    "kl": KLDivergence,
    "kl_divergence": KLDivergence,
    "cross_entropy": CrossEntropy,
    "model_risk": CrossEntropy,
    "l1": L1Distance,
    "abs": L1Distance,
    "js": JensenShannonDivergence,
    "jensen_shannon": JensenShannonDivergence,
    "jensen_shannon_divergence": JensenShannonDivergence,
}


#: Distances that compare output distributions and take `from_logits`.
_ON_OUTPUTS = (KLDivergence, CrossEntropy, JensenShannonDivergence)
#: The search objective that is the compiled loss rather than a distance.
LOSS_OBJECTIVE = "loss"


def get(identifier, from_logits=None):
    """Resolves a distance from a string, config dict, class or instance.

    The one resolver of the package: penalties (`distance=`), searches
    (`objective=`) and presets all turn names into distances here.

    Example:

    >>> type(get("l2_cosine")).__name__
    'L2Cosine'
    >>> get("kl", from_logits=False).from_logits
    False

    Args:
        identifier: One of `"squared_l2"`, `"cosine"`, `"l2_cosine"`, `"kl"`,
            `"cross_entropy"`, `"l1"`, `"js"` (aliases `"l2"`, `"mse"`,
            `"irl"`, `"kl_divergence"`, `"model_risk"`, `"abs"`,
            `"jensen_shannon"`), a serialized config, a `Distance` subclass
            or instance.
        from_logits: For names of output distances (`"kl"`,
            `"cross_entropy"`): whether the model outputs logits. `None`
            keeps the class default (`True`). Ignored for instances.

    Returns:
        A `Distance` instance.

    Raises:
        ValueError: For an unknown identifier; the message lists the names.
    """
    if isinstance(identifier, Distance):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    cls = None
    if isinstance(identifier, type) and issubclass(identifier, Distance):
        cls = identifier
    elif isinstance(identifier, str) and identifier.lower() in _ALIASES:
        cls = _ALIASES[identifier.lower()]
    if cls is None:
        raise ValueError(
            f"Unknown distance {identifier!r}. Use one of "
            f"{sorted(_ALIASES)} or a `keras_invariance.distances.Distance`."
        )
    if from_logits is not None and issubclass(cls, _ON_OUTPUTS):
        return cls(from_logits=from_logits)
    return cls()


def resolve_objective(objective, from_logits=True, argument="objective"):
    """What a search maximises: `None` for the compiled loss, else a distance.

    Example:

    >>> resolve_objective("loss") is None
    True
    >>> type(resolve_objective("kl")).__name__
    'KLDivergence'

    Args:
        objective: `"loss"`, a distance name (`"kl"` on softmax outputs,
            `"l2"` / `"squared_l2"` on logits, …), a config or a `Distance`.
        from_logits: Whether the model outputs logits (for `"kl"`).
        argument: The caller's argument name, for the error message.

    Returns:
        `None` or a `Distance`.

    Raises:
        ValueError: For anything else, naming `argument`.
    """
    if isinstance(objective, str) and objective.lower() == LOSS_OBJECTIVE:
        return None
    try:
        return get(objective, from_logits=from_logits)
    except ValueError:
        raise ValueError(
            f"`{argument}` must be 'loss' (the compiled loss) or a distance "
            f"between clean and perturbed outputs ({sorted(_ALIASES)}); "
            f"received {objective!r}."
        ) from None


def for_outputs(distance, spec, who):
    """The function `d(u, v, l2_scale=None)` a term applies to logits views.

    Inside training every term compares the model's logits view
    (`keras_invariance.graph.outputs.logits_view`), so a distance between output
    distributions is taken on logits, over the model's own distribution
    (softmax classes or Bernoulli units); other distances are unchanged.

    Example:

    >>> from keras_invariance.graph import outputs
    >>> d = for_outputs(KLDivergence(), outputs.OutputSpec("bernoulli"), "vat")
    >>> round(float(d([[0.0]], [[0.0]])[0]), 6)
    0.0

    Args:
        distance: A `Distance`.
        spec: The model's `keras_invariance.graph.outputs.OutputSpec` (or `None`).
        who: The term's name, for the error message.

    Returns:
        A function of `(u, v, l2_scale=None)` returning `(batch,)` values.

    Raises:
        ValueError: For a distance between distributions on a regression
            output, or a softmax over a single unit (identically zero).

    Several outputs (`output_structure.MultiOutputSpec`): each output is
    compared over its own distribution, a regression output by ‖Δ‖², and
    the values are summed per example (`output_structure.per_output_distance`).
    """
    if not distance.on_outputs_only:
        return distance.distance
    if isinstance(spec, output_structure.MultiOutputSpec):
        return output_structure.per_output_distance(distance, spec, who, for_outputs)
    distribution = None if spec is None else spec.distribution
    if distribution == "regression":
        raise ValueError(
            f"{who}: {type(distance).__name__} compares class distributions, "
            "but the model is compiled with a regression loss; use "
            "distance='squared_l2' (‖f(x) − f(x̃)‖² in the outputs' units)."
        )
    if distribution is None:
        distribution = "categorical"
    if distribution == "categorical" and spec is not None and spec.units == 1:
        raise ValueError(
            f"{who}: the model has a single output unit, and a softmax over "
            f"one unit is 1 for every input, so {type(distance).__name__} "
            "would be identically 0. For a binary classifier compile with "
            "`keras.losses.BinaryCrossentropy(from_logits=...)` (the KL is "
            "then Bernoulli's); for a regression use distance='squared_l2'."
        )
    compare = distance.on_distribution(distribution)

    def apply(u, v, l2_scale=None):
        del l2_scale
        return compare(u, v)

    return apply


def serialize(distance):
    """Serializes a `Distance` for a config.

    Example:

    >>> serialize(SquaredL2())["registered_name"]
    'keras_invariance>SquaredL2'

    Args:
        distance: A `Distance`.

    Returns:
        Its Keras serialization (a dict `keras.saving` deserializes).
    """
    return keras.saving.serialize_keras_object(distance)
