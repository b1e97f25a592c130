"""Models with several inputs: the float inputs as one flat list of tensors.

A model's inputs may be one tensor, a list or a dict (images and token ids,
audio and side features …). Terms that differentiate with respect to the
inputs, or perturb them by a gradient, work on the float inputs only: token
ids have no gradient. `float_inputs` flattens a structure into its float
leaves (keeping their order and input names); `replace_float_inputs` puts new
float leaves back. Row norms over such a list treat the inputs as one vector
per example (`keras_invariance.numerics` accepts lists).
"""

import collections

from keras import tree

from keras_invariance import validation

#: One float input: its position among the flat leaves, its name, the tensor.
FloatInput = collections.namedtuple("FloatInput", ["index", "name", "tensor"])


def leaf_names(x, names=None):
    """Names of the flat leaves of `x`: dict keys, or the given input names.

    Example:

    >>> leaf_names({"b": 1, "a": 2})
    ['a', 'b']
    >>> leaf_names([1, 2], names=["image", "audio"])
    ['image', 'audio']
    >>> leaf_names([1, 2])
    ['0', '1']

    Args:
        x: An input structure.
        names: Optional names of the flat leaves (e.g. the model's input
            layer names), used for lists and tuples.

    Returns:
        A list of strings, one per flat leaf.
    """
    flat = tree.flatten(x)
    if isinstance(x, dict):
        return [str(k) for k in sorted(x)] if len(flat) == len(x) else [
            str(i) for i in range(len(flat))
        ]
    if names is not None and len(names) == len(flat):
        return [str(n) for n in names]
    return [str(i) for i in range(len(flat))]


def float_inputs(x, names=None):
    """The float leaves of `x`, in flat order, as `FloatInput`s.

    Example:

    >>> import numpy as np
    >>> found = float_inputs({"ids": np.zeros(2, "int32"), "px": np.zeros(2, "float32")})
    >>> [(f.index, f.name) for f in found]
    [(1, 'px')]

    Args:
        x: A tensor or a nested structure of tensors.
        names: Optional flat-leaf names (see `leaf_names`).

    Returns:
        A list of `FloatInput(index, name, tensor)`.
    """
    flat = tree.flatten(x)
    labels = leaf_names(x, names)
    return [
        FloatInput(i, labels[i], t)
        for i, t in enumerate(flat)
        if t is not None and validation.is_float(t)
    ]


def replace_float_inputs(x, tensors):
    """`x` with its float leaves replaced, in order, by `tensors`.

    Example:

    >>> import numpy as np
    >>> x = [np.zeros(2, "int32"), np.zeros(2, "float32")]
    >>> replace_float_inputs(x, [np.ones(2, "float32")])[1].tolist()
    [1.0, 1.0]
    """
    flat = list(tree.flatten(x))
    positions = [f.index for f in float_inputs(x)]
    if len(positions) != len(tensors):
        raise ValueError(
            f"Expected {len(positions)} float inputs, received {len(tensors)}."
        )
    for position, tensor in zip(positions, tensors):
        flat[position] = tensor
    return tree.pack_sequence_as(x, flat)


def map_float(fn, x):
    """Applies `fn` to every float leaf of `x`; other leaves pass through.

    Example:

    >>> import numpy as np
    >>> out = map_float(lambda t: 2 * t, [np.ones(1, "float32"), np.ones(1, "int32")])
    >>> [o.tolist() for o in out]
    [[2.0], [1]]
    """
    return tree.map_structure(
        lambda t: fn(t) if t is not None and validation.is_float(t) else t, x
    )


def is_single(x):
    """Whether `x` is one tensor rather than a structure of several."""
    return len(tree.flatten(x)) == 1 and not isinstance(x, (list, tuple, dict))
