"""Models with several outputs: which output is which, and how to split them.

`keras_invariance.graph.outputs` reads each output of a multi-output model as it
reads a single one (logits, softmax, sigmoid, regression); this module holds
the per-output bookkeeping: the `MultiOutputSpec`, the compiled loss of each
output, and splitting the joint logits view back into outputs.
"""

import dataclasses
import math

from keras import ops

from keras_invariance.utils import keras_compat


@dataclasses.dataclass(frozen=True)
class MultiOutputSpec:
    """How to read a model with several outputs: one `OutputSpec` per output.

    Outputs are in the flat order of the model's output structure (the
    sorted keys of a dict, the order of a list). Their per-row shapes are
    read from the model, or from the first outputs seen (subclassed models).

    Example:

    >>> from keras_invariance.graph.outputs import CATEGORICAL, REGRESSION, OutputSpec
    >>> spec = MultiOutputSpec((OutputSpec(REGRESSION), OutputSpec(CATEGORICAL)),
    ...                        ("price", "kind"), [(1,), (3,)])
    >>> spec.describe()
    '2 outputs (price: a regression output; kind: class logits)'
    >>> spec.sizes
    [1, 3]

    Attributes:
        outputs: A tuple of `OutputSpec`, one per output.
        names: The outputs' names (dict keys or output layer names).
        shapes: Per-row shapes (without the batch axis), once known.
    """

    outputs: tuple = ()
    names: tuple = ()
    shapes: list = dataclasses.field(default_factory=list, compare=False)

    @property
    def distribution(self):
        """The one distribution every output shares, or `None`."""
        kinds = {spec.distribution for spec in self.outputs}
        return kinds.pop() if len(kinds) == 1 else None

    @property
    def from_logits(self):
        return all(spec.from_logits for spec in self.outputs)

    @property
    def is_regression(self):
        """Whether every output is a regression (then ‖Δ‖² is the distance)."""
        return all(spec.is_regression for spec in self.outputs)

    @property
    def activation(self):
        return None

    @property
    def units(self):
        """The width of the joint logits view, once the shapes are known."""
        return sum(self.sizes) if self.shapes else None

    @property
    def sizes(self):
        """Each output's number of values per row."""
        return [math.prod(shape) for shape in self.shapes]

    def describe(self):
        """A phrase for error messages."""
        parts = "; ".join(
            f"{name}: {spec.describe()}" for name, spec in zip(self.names, self.outputs)
        )
        return f"{len(self.outputs)} outputs ({parts})"

    def learn_shapes(self, flat_outputs):
        """Records the per-row shapes of the outputs, the first time they are seen."""
        if self.shapes:
            return
        shapes = [tuple(int(d) for d in t.shape[1:]) for t in flat_outputs]
        if len(shapes) != len(self.outputs):
            raise ValueError(
                f"The model returned {len(shapes)} outputs, but the compiled "
                f"loss describes {len(self.outputs)} ({list(self.names)})."
            )
        self.shapes.extend(shapes)


def output_keys(model):
    """The names of a graph model's outputs in flat order (dict keys first)."""
    structure = keras_compat.outputs_structure(model)
    if isinstance(structure, dict):
        return [str(k) for k in sorted(structure)]
    names = getattr(model, "output_names", None) or []
    count = len(model.outputs)
    return [str(n) for n in names] if len(names) == count else [
        str(i) for i in range(count)
    ]


def losses_per_output(loss, keys):
    """The compiled loss of each output, in flat order (`None`: no loss).

    Example:

    >>> losses_per_output({"b": "mse", "a": "mae"}, ["a", "b"])
    ['mae', 'mse']
    >>> losses_per_output("mse", ["a", "b"])
    ['mse', 'mse']

    Args:
        loss: The `compile()` loss: one for every output, a list in output
            order, or a dict keyed by output name.
        keys: The outputs' names in flat order.

    Returns:
        A list with one entry per output.
    """
    if isinstance(loss, dict):
        return [loss.get(key) for key in keys]
    if isinstance(loss, (list, tuple)) and len(loss) == len(keys):
        return list(loss)
    return [loss] * len(keys)


def split_view(view, spec):
    """The joint logits view of several outputs, split back into each output's.

    Example:

    >>> from keras_invariance.graph.outputs import LOGITS
    >>> spec = MultiOutputSpec((LOGITS, LOGITS), ("a", "b"), [(1,), (2,)])
    >>> [t.shape for t in split_view(np.zeros((4, 3), "float32"), spec)]
    [TensorShape([4, 1]), TensorShape([4, 2])]

    Args:
        view: `(batch, Σ sizes)` from `logits_view`.
        spec: The `MultiOutputSpec` (its shapes known).

    Returns:
        A list of `(batch, *shape)` tensors, one per output.
    """
    if not spec.shapes:
        raise ValueError(
            "The shapes of the model's outputs are not known yet; they are "
            "read from the model or from its first outputs."
        )
    parts, start = [], 0
    view = ops.convert_to_tensor(view)
    for shape, size in zip(spec.shapes, spec.sizes):
        part = view[:, start:start + size]
        parts.append(ops.reshape(part, (ops.shape(view)[0],) + tuple(shape)))
        start += size
    return parts


def per_output_distance(distance, spec, who, single):
    """A distance between output distributions, output by output, summed.

    Each classifier output is compared over its own distribution (softmax
    classes or Bernoulli units: `single(distance, its OutputSpec, who)`), and
    each regression output by ‖Δ‖² in its own units (what
    `keras_invariance.penalties.VAT` measures on a regression); the values add
    up per example: for independent outputs this is the KL (or JS, …) of
    the joint prediction.

    Example:

    >>> from keras_invariance import distances
    >>> from keras_invariance.graph.outputs import CATEGORICAL, REGRESSION, OutputSpec
    >>> spec = MultiOutputSpec((OutputSpec(REGRESSION), OutputSpec(CATEGORICAL)),
    ...                        ("price", "kind"), [(1,), (2,)])
    >>> d = distances.for_outputs(distances.KLDivergence(), spec, "vat")
    >>> float(d(np.array([[1.0, 0.0, 0.0]]), np.array([[3.0, 0.0, 0.0]]))[0])
    4.0

    Args:
        distance: A `Distance` between output distributions.
        spec: The `MultiOutputSpec`.
        who: The term's name, for error messages.
        single: `distances.for_outputs`, applied to one output's spec.

    Returns:
        `d(u, v, l2_scale=None)` on joint logits views, `(batch,)`.

    Raises:
        ValueError: When every output is a regression (a distance between
            distributions means nothing there), or as `single` for an output.
    """
    if spec.is_regression:
        raise ValueError(
            f"{who}: {type(distance).__name__} compares class distributions, "
            f"but every output of the model is a regression ({spec.describe()}); "
            "use distance='squared_l2' (‖f(x) − f(x̃)‖² in the outputs' units)."
        )
    compares = []
    for name, one in zip(spec.names, spec.outputs):
        if one.is_regression:
            compares.append(_squared_difference)
            continue
        try:
            compares.append(single(distance, one, who))
        except ValueError as error:
            raise ValueError(f"Output {name!r}: {error}") from None

    def apply(u, v, l2_scale=None):
        del l2_scale
        pairs = zip(split_view(u, spec), split_view(v, spec), compares)
        return sum(compare(a, b) for a, b, compare in pairs)

    return apply


def _squared_difference(u, v, l2_scale=None):
    del l2_scale
    diff = ops.cast(u, "float32") - ops.cast(v, "float32")
    return ops.sum(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=-1)
