"""Models with several inputs: the float inputs as one flat list of tensors.

A model's inputs may be one tensor, a list or a dict (images and token ids,
audio and side features …). Terms that differentiate with respect to the
inputs, or perturb them by a gradient, work on the dense float inputs only:
token ids have no gradient, and sparse inputs (`tf.SparseTensor`) stay as
they are (as Neural Structured Learning leaves them). `float_inputs`
flattens a structure into its float leaves (keeping their order and input
names); `replace_float_inputs` puts new float leaves back. Row norms over
such a list treat the inputs as one vector per example
(`keras_invariance.ops.numerics` accepts lists).

A float input may still have no gradient path to the outputs (an unused
feature, a mask read through a comparison): `input_gradients` gives it a
zero gradient (searches leave it unperturbed), and `check_connected` names
it for `InvariantModel(unconnected_inputs="raise")`.
"""

import collections

from keras import tree
import tensorflow as tf

from keras_invariance.utils import validation

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
        if is_perturbable(t)
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
    return tree.map_structure(lambda t: fn(t) if is_perturbable(t) else t, x)


def is_sparse(t):
    """Whether `t` is a `tf.SparseTensor` (left as it is by every perturbation).

    Example:

    >>> is_sparse(tf.sparse.from_dense([[0.0, 1.0]])), is_sparse(np.zeros(2))
    (True, False)
    """
    return isinstance(t, tf.SparseTensor)


def is_perturbable(t):
    """Whether `t` is a dense float tensor (what noise and searches move).

    Example:

    >>> is_perturbable(np.zeros(2, "float32")), is_perturbable(np.zeros(2, "int32"))
    (True, False)
    """
    return t is not None and not is_sparse(t) and validation.is_float(t)


def input_gradients(tape, target, sources):
    """∇ of `target` for each of `sources`, zero for one without a gradient path.

    Example:

    >>> a, b = tf.constant([[1.0]]), tf.constant([[2.0]])
    >>> with tf.GradientTape() as tape:
    ...     tape.watch([a, b])
    ...     y = 3.0 * a
    >>> [g.numpy().tolist() for g in input_gradients(tape, y, [a, b])]
    [[[3.0]], [[0.0]]]

    Args:
        tape: The tape that recorded `target` from `sources`.
        target: A scalar.
        sources: A list of tensors.

    Returns:
        A list of gradients, shaped like `sources`.
    """
    return tape.gradient(
        target, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO
    )


def check_connected(tape, outputs, sources, names, who="InvariantModel"):
    """Raises, naming them, for float inputs with no gradient path to `outputs`.

    Example:

    >>> a, b = tf.constant([[1.0]]), tf.constant([[2.0]])
    >>> with tf.GradientTape(persistent=True) as tape:
    ...     tape.watch([a, b])
    ...     y = 3.0 * a
    >>> check_connected(tape, y, [a, b], ["image", "mask"])
    Traceback (most recent call last):
    ...
    ValueError: InvariantModel(unconnected_inputs='raise'): the float input(s) ['mask'] ...

    Args:
        tape: A persistent tape that recorded `outputs` from `sources`
            (read at trace time: whether a gradient exists is known before
            any value).
        outputs: The model's outputs (any structure).
        sources: The float inputs (a tensor or a list).
        names: Their names.
        who: The caller, for the message.

    Raises:
        ValueError: For inputs without a gradient path.
    """
    sources = list(sources) if isinstance(sources, (list, tuple)) else [sources]
    with tape:
        total = tf.add_n(
            [tf.reduce_sum(tf.cast(t, tf.float32)) for t in tree.flatten(outputs)]
        )
    gradients = tape.gradient(total, sources)
    missing = [n for n, g in zip(names, gradients) if g is None]
    if missing:
        raise ValueError(
            f"{who}(unconnected_inputs='raise'): the float input(s) {missing} "
            "have no gradient path to the model's outputs (unused, or read "
            "only through a comparison or an integer cast), so a gradient "
            "search or penalty cannot move them. Leave the default "
            "`unconnected_inputs='zero'` to keep them unperturbed (as Neural "
            "Structured Learning does), cast such inputs to an integer "
            "dtype, or connect them to the outputs."
        )


def is_single(x):
    """Whether `x` is one tensor rather than a structure of several."""
    return len(tree.flatten(x)) == 1 and not isinstance(x, (list, tuple, dict))


def gradient_paths(forward, parts):
    """Whether each of `parts` has a gradient path to `forward(parts)`.

    Only whether a gradient exists is read (at trace time), so in a
    compiled step the probe's ops are pruned.

    Example:

    >>> gradient_paths(lambda p: 2.0 * p[0], [tf.ones((1, 2)), tf.ones((1, 1))])
    [True, False]
    """
    parts = [tf.stop_gradient(p) for p in parts]
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(parts)
        outputs = tree.flatten(forward(parts))
        total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in outputs])
    return [g is not None for g in tape.gradient(total, parts)]


def stop_gradient(x):
    """`stop_gradient` on every dense tensor of `x` (sparse inputs pass as they are).

    Example:

    >>> stop_gradient([tf.ones(1), tf.sparse.from_dense([[1.0]])])[1].values.numpy()
    array([1.], dtype=float32)
    """
    return tree.map_structure(lambda t: t if is_sparse(t) or t is None else tf.stop_gradient(t), x)
