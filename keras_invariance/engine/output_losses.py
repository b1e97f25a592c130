"""The compiled loss of a model with several outputs, logged as plain Keras logs it.

Keras' `CompileLoss` logs each output's loss (`o1_loss`, `o2_loss`, …) by
updating a tracker every time it is called. The engine calls it more than
once per step: the clean pass, the perturbed pass, and every iterate of a
search (10-step PGD: 12 calls). Plain Keras logs the clean pass, so every
other call runs with the trackers silenced (`call_quietly`); the perturbed
pass's per-output values are logged under their own names,
`perturbed_<output>_loss` (`perturbed_names`).

`per_example_function` is the compiled loss of every output per example
(Σ_o w_o ℓ_o(y_o, ŷ_o) for each row), which worst-of-k, Loss IBP and
`AdversarialLoss` rank or differentiate.
"""

import keras
from keras import ops
from keras import tree

from keras_invariance.utils import keras_compat

#: Prefix of the perturbed pass's per-output losses in `fit()` logs.
PERTURBED_PREFIX = "perturbed_"


class _Capture:
    """Stands in for a per-output tracker: records the value, updates nothing."""

    def __init__(self, name, sink):
        self.name = name
        self._sink = sink

    def update_state(self, value, sample_weight=None):
        del sample_weight
        self._sink.append((self.name, value))


def _trackers(compile_loss):
    """The per-output `Mean` trackers of a built `CompileLoss` (a list), or `[]`."""
    return keras_compat.compile_loss_trackers(compile_loss)


def call_quietly(compile_loss, y, y_pred, sample_weight=None):
    """The compiled loss without updating its per-output trackers.

    Example:

    >>> import keras
    >>> inputs = keras.Input((2,))
    >>> model = keras.Model(inputs, [keras.layers.Dense(1, name="a")(inputs),
    ...                              keras.layers.Dense(1, name="b")(inputs)])
    >>> model.compile("sgd", ["mse", "mse"])
    >>> x, y = np.ones((2, 2)), [np.zeros((2, 1)), np.zeros((2, 1))]
    >>> logs = model.evaluate(x, y, verbose=0, return_dict=True)
    >>> value, per_output = call_quietly(keras_compat.compile_loss(model), y, model(x))
    >>> sorted(per_output)
    ['a_loss', 'b_loss']

    Args:
        compile_loss: Keras' `CompileLoss` (`keras_compat.compile_loss(model)`).
        y: Labels.
        y_pred: Predictions.
        sample_weight: Optional sample weights.

    Returns:
        `(value, {tracker name: unweighted value})`: the loss as Keras
        computes it, and what each per-output tracker would have recorded
        (empty for a single loss, or before the loss is built).
    """
    trackers = _trackers(compile_loss)
    if not trackers:
        return compile_loss(y, y_pred, sample_weight), {}
    captured = []
    saved = list(trackers)
    # In place: Keras iterates this very list in `CompileLoss.call`.
    trackers[:] = [_Capture(t.name, captured) for t in saved]
    try:
        value = compile_loss(y, y_pred, sample_weight)
    finally:
        trackers[:] = saved
    return value, dict(captured)


def perturbed_names(compile_loss):
    """`perturbed_<output>_loss` for every per-output tracker of the loss.

    Example:

    >>> perturbed_names(None)
    []
    """
    return [PERTURBED_PREFIX + t.name for t in _trackers(compile_loss)]


def track_perturbed(model):
    """Adds `perturbed_<output>_loss` trackers once the compiled loss is built.

    Called after Keras' symbolic build (before the train function traces),
    for a model with a perturbation.
    """
    if model.perturbation is None:
        return
    with model.distribute_strategy.scope():
        model._untracked.terms.add(perturbed_names(keras_compat.compile_loss(model)))


def is_multi_output(compile_loss):
    """Whether the built compiled loss has one loss per output (several)."""
    flat = keras_compat.flat_losses(compile_loss)
    return bool(flat and len(flat) > 1)


def _resolve(path, structure):
    for key in path:
        structure = structure[key]
    return structure


def _aligned(y_true, y_pred, output_names):
    """Labels in the structure of the predictions (Keras' own reconciliation)."""
    try:
        tree.assert_same_structure(y_true, y_pred)
        return y_true
    except (ValueError, TypeError):
        pass
    if isinstance(y_true, dict) and isinstance(y_pred, (list, tuple)) and output_names:
        y_true = [y_true[name] for name in output_names]
    return tree.pack_sequence_as(y_pred, tree.flatten(y_true))


def per_example_function(compile_loss):
    """`fn(y, y_pred) -> (rows,)`: Σ over outputs of w_o·ℓ_o per example.

    Each output's loss is averaged over its non-batch axes (as Keras
    averages it), weighted by its `loss_weights` entry, and the outputs are
    summed: row i's share of the compiled loss, times the batch size.

    Example:

    >>> import keras
    >>> inputs = keras.Input((2,))
    >>> model = keras.Model(inputs, [keras.layers.Dense(1, name="a")(inputs),
    ...                              keras.layers.Dense(1, name="b")(inputs)])
    >>> model.compile("sgd", ["mse", "mae"], loss_weights=[1.0, 2.0])
    >>> y = [np.zeros((3, 1)), np.zeros((3, 1))]
    >>> _ = model.evaluate(np.ones((3, 2)), y, verbose=0)
    >>> fn = per_example_function(keras_compat.compile_loss(model))
    >>> fn(y, model(np.ones((3, 2)))).shape
    TensorShape([3])

    Args:
        compile_loss: A built `CompileLoss`.

    Returns:
        The per-example loss function.
    """
    flat_losses = keras_compat.flat_losses(compile_loss)
    if flat_losses is None:
        raise keras_compat.KerasCompatibilityError(
            "The per-example loss of a model with several outputs needs the "
            f"built compiled loss's parts; Keras {keras.__version__} does not "
            "expose them. Compile with a single loss."
        )
    output_names = getattr(compile_loss, "output_names", None)

    def fn(y_true, y_pred):
        y_true = _aligned(y_true, y_pred, output_names)
        total = 0.0
        for path, loss_fn, weight, _ in flat_losses:
            y_t, y_p = _resolve(path, y_true), _resolve(path, y_pred)
            y_t = ops.convert_to_tensor(y_t)
            if y_t.dtype.is_floating:
                y_t = ops.cast(y_t, y_p.dtype)
            values = ops.cast(loss_fn.call(y_t, y_p), "float32")
            if len(values.shape) > 1:
                values = ops.mean(
                    ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1
                )
            if weight is not None:
                values = values * float(weight)
            total = total + values
        return total

    return fn
