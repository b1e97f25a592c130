"""What a search may be told beyond its radius: targets, masks, an extra term.

The options Neural Structured Learning's adversarial regularization offers,
in the package's searches (`FGSM`, `PGD`):

* `target=`: a targeted attack moves each row *towards* a class t, i.e.
  descends the cross-entropy −log p_t(x̃) instead of ascending the loss.
  t is a class index for every row, a rule read from the clean outputs
  (`"least_likely"`, `"second_most_likely"`, `"random"`: NSL's
  `AdvTargetType.LEAST`, `SECOND`, `RANDOM`), a callable
  `fn(logits, labels) -> indices`, or given per batch
  (`perturb_on_batch(..., targets=...)`).
* `feature_mask=`: which elements may move (NSL's
  `AdvNeighborConfig.feature_mask`): values in [0, 1] multiplying the
  gradient (and a random start), broadcast to one example's shape; 0
  leaves an element unperturbed. Several inputs: a dict `{input name:
  mask}` (inputs not named move freely).
* `objective_term=`: a term added to what the search maximizes,
  `fn(x̃, outputs, context) -> (rows,)` or a scalar (NSL lets the
  adversarial loss be any loss; e.g. a penalty on leaving a manifold).
"""

import keras
from keras import ops
import numpy as np

from keras_invariance.graph.output_structure import MultiOutputSpec
from keras_invariance.ops import random_ops

#: Targeting rules read from the clean outputs.
TARGET_RULES = ("least_likely", "second_most_likely", "random")


class SearchProblem:
    """One search's fixed data: the model's pass, the masks, the targets.

    Attributes:
        context: The step's `StepContext`.
        forward: `forward(parts) -> outputs` (the searched parts of x̃).
        rebuild: `rebuild(parts)`: x̃ in the input structure.
        masks: One feature mask (or `None`) per part.
        reference: The clean logits view (no gradient), when needed.
        targets: int32 class indices of a targeted search, or `None`.
    """

    def __init__(self, context, forward, rebuild, masks):
        self.context = context
        self.forward = forward
        self.rebuild = rebuild
        self.masks = masks
        self.reference = None
        self.targets = None


def check_target(target):
    """`target` if it is `None`, a class index, a rule or a callable.

    Example:

    >>> check_target("least_likely"), check_target(3)
    ('least_likely', 3)
    """
    if target is None or callable(target) or target in TARGET_RULES:
        return target
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and target >= 0:
        return int(target)
    raise ValueError(
        "`target` must be None (untargeted), a class index ≥ 0, one of "
        f"{TARGET_RULES}, or a callable fn(logits, labels) -> class indices; "
        f"received {target!r}."
    )


def target_indices(target, logits, labels, seed):
    """int32 class indices `(rows,)` a targeted search moves towards.

    Example:

    >>> logits = np.array([[0.0, 2.0, 1.0]], "float32")
    >>> int(target_indices("least_likely", logits, None, None)[0])
    0
    >>> int(target_indices("second_most_likely", logits, None, None)[0])
    2

    Args:
        target: A class index, a rule in `TARGET_RULES`, or a callable.
        logits: The clean logits view, `(rows, classes)`.
        labels: The labels (for a callable), or `None`.
        seed: The search's `SeedGenerator` (for `"random"`).

    Returns:
        An int32 tensor of shape `(rows,)`.
    """
    logits = ops.convert_to_tensor(logits)
    rows, classes = ops.shape(logits)[0], logits.shape[-1]
    if isinstance(target, int):
        indices = ops.full((rows,), target, "int32")
    elif target == "least_likely":
        indices = ops.argmin(logits, axis=-1)
    elif target == "second_most_likely":
        indices = ops.top_k(logits, k=2)[1][:, 1]
    elif target == "random":
        u = random_ops.uniform((rows,), dtype="float32", seed=seed)
        indices = ops.minimum(ops.floor(u * classes), classes - 1)
    else:
        indices = target(logits, labels)
    return ops.cast(indices, "int32")


def towards(logits, targets):
    """−Σ_i CE(t_i, logits_i): ascending it moves every row towards its class.

    Example:

    >>> round(float(towards(np.zeros((1, 2), "float32"), np.array([1]))), 4)
    -0.6931
    """
    return -ops.sum(
        keras.losses.sparse_categorical_crossentropy(
            ops.cast(targets, "int32"), ops.cast(logits, "float32"), from_logits=True
        )
    )


def check_mask(feature_mask):
    """The mask as float32 arrays (a dict of them, by input name), checked.

    Example:

    >>> check_mask([1, 0]).tolist()
    [1.0, 0.0]
    >>> sorted(check_mask({"image": [1.0]}))
    ['image']
    """
    if feature_mask is None:
        return None
    if isinstance(feature_mask, dict):
        return {str(k): check_mask(v) for k, v in feature_mask.items()}
    mask = np.asarray(feature_mask, dtype="float32")
    if not np.all((mask >= 0) & (mask <= 1)):
        raise ValueError(
            "`feature_mask` values must be in [0, 1] (0: the element stays "
            "unperturbed, 1: it moves freely)."
        )
    return mask


def serialize_mask(mask):
    """The mask for a config (nested lists), or `None`.

    Example:

    >>> serialize_mask(np.array([1.0, 0.0], "float32"))
    [1.0, 0.0]
    """
    if mask is None:
        return None
    if isinstance(mask, dict):
        return {k: serialize_mask(v) for k, v in mask.items()}
    return mask.tolist()


def part_masks(mask, names, shapes):
    """One mask (or `None`) per searched part, checked against its shape.

    Example:

    >>> [m.shape for m in part_masks(check_mask([[1.0, 0.0]]), ["x"], [(None, 2)])]
    [(1, 2)]

    Args:
        mask: From `check_mask`: an array (one part) or a dict by name.
        names: The parts' input names.
        shapes: The parts' shapes (with the batch axis).

    Returns:
        A list of float32 arrays or `None`, one per part.

    Raises:
        ValueError: For a mask that does not broadcast to its input, a
            single array for several inputs, or an unknown input name.
    """
    if mask is None:
        return [None] * len(names)
    if not isinstance(mask, dict):
        if len(names) != 1:
            raise ValueError(
                f"The model has several float inputs {list(names)}: give "
                "`feature_mask` as a dict {input name: mask}."
            )
        mask = {names[0]: mask}
    unknown = sorted(set(mask) - set(names))
    if unknown:
        raise ValueError(
            f"`feature_mask` names inputs {unknown}; the searched float "
            f"inputs are {list(names)}."
        )
    found = []
    for name, shape in zip(names, shapes):
        one = mask.get(name)
        if one is not None:
            example = tuple(1 if d is None else d for d in shape[1:])
            try:
                np.broadcast_shapes(one.shape, example)
            except ValueError:
                raise ValueError(
                    f"`feature_mask` of shape {one.shape} does not broadcast "
                    f"to one example of input {name!r}, shape {example}."
                ) from None
            one = one.reshape((1,) * max(0, len(shape) - one.ndim) + one.shape)
        found.append(one)
    return found


def apply_masks(tensors, masks):
    """Each tensor times its mask (`None`: unchanged), float32.

    Example:

    >>> apply_masks([np.ones((1, 2), "float32")], [np.array([[0.0, 1.0]])])[0].numpy()
    array([[0., 1.]], dtype=float32)
    """
    return [
        ops.cast(t, "float32") if m is None else ops.cast(t, "float32") * m
        for t, m in zip(tensors, masks)
    ]


def term_value(term, x_tilde, outputs, context):
    """Σ of a user's `objective_term(x̃, outputs, context)` as a float32 scalar.

    Example:

    >>> float(term_value(lambda x, out, ctx: x[:, 0], np.ones((3, 1)), None, None))
    3.0
    """
    return ops.sum(ops.cast(term(x_tilde, outputs, context), "float32"))


def check_targetable(spec, who):
    """Raises unless the outputs are one softmax classifier (or unknown logits).

    Example:

    >>> check_targetable(None, "PGD")
    """
    distribution = getattr(spec, "distribution", None)
    if distribution not in (None, "categorical") or isinstance(spec, MultiOutputSpec):
        raise ValueError(
            f"A targeted {who} moves rows towards a class of a softmax "
            f"classifier; the model has {spec.describe()}."
        )


def config_entries(target, feature_mask, objective_term):
    """The config entries of the options that are set (callables serialized).

    Example:

    >>> config_entries("random", None, None)
    {'target': 'random'}
    """
    config = {}
    if target is not None:
        config["target"] = (
            keras.saving.serialize_keras_object(target) if callable(target) else target
        )
    if feature_mask is not None:
        config["feature_mask"] = serialize_mask(feature_mask)
    if objective_term is not None:
        config["objective_term"] = keras.saving.serialize_keras_object(objective_term)
    return config
