"""Every Keras internal the package reads, behind one named function each.

Keras 3 keeps some things the engine needs private (the compiled loss
object, the raw step counter of gradient accumulation, a layer's seed
generators, the Functional class …). They are read here and nowhere else,
so a Keras release that moves one breaks one function, with an error that
names the Keras version, instead of a `fit()` deep inside the engine.

Each function's docstring says which Keras versions it was checked on and
what it does when the private attribute is missing: a public equivalent
where one exists, else a `KerasCompatibilityError` naming the Keras
version. setup.py requires `keras>=3.8`; tests/test_keras_compat.py runs
each function on the installed Keras (3.15.1 when written) and each
fallback with the private attribute removed. "Keras 3.8.0's source" means
the attribute was read in that release's `keras/src/trainers/trainer.py`;
an old Keras cannot be installed in the test environment.

Besides these reads, `InvariantModel` overrides one Keras hook,
`Trainer._maybe_symbolic_build` (Keras calls it by that name before the
first step); `symbolic_build_hook_exists` tells whether this Keras still
calls it.
"""

import functools
import importlib
import inspect

import keras

#: Oldest Keras this module was checked against (setup.py: keras>=3.8).
OLDEST_CHECKED = "3.8"
#: Newest Keras this module was checked against (installed when written).
NEWEST_CHECKED = "3.15"

_MISSING = object()


class KerasCompatibilityError(RuntimeError):
    """A Keras internal the package needs is missing in this Keras version."""


def _private(module, name):
    """`module.name` from Keras' private tree; `ImportError` when it moved."""
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError as error:
        raise ImportError(f"{module}.{name}") from error


def _unsupported(what):
    return KerasCompatibilityError(
        f"keras-invariance needs {what}, which Keras {keras.__version__} does "
        f"not provide (checked on Keras {OLDEST_CHECKED} to {NEWEST_CHECKED}). "
        f"Install a Keras between those versions, e.g. "
        f"`pip install 'keras>={OLDEST_CHECKED},<={NEWEST_CHECKED}.99'`."
    )


# ------------------------------------------------------------------ classes


@functools.lru_cache(maxsize=None)
def functional_class():
    """Keras' `Functional` model class (not exported publicly).

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `keras.src.models.functional.Functional`. Fallback: the type of a one-layer
    `keras.Model(inputs, outputs)`, which Keras builds as a `Functional`.

    Example:

    >>> import keras
    >>> inputs = keras.Input((2,))
    >>> isinstance(keras.Model(inputs, keras.layers.Dense(1)(inputs)),
    ...            functional_class())
    True

    Returns:
        A class.
    """
    try:
        return _private("keras.src.models.functional", "Functional")
    except ImportError:
        inputs = keras.Input((1,))
        return type(keras.Model(inputs, keras.layers.Identity()(inputs)))


@functools.lru_cache(maxsize=None)
def metrics_list_class():
    """The base class of a metric that holds several metrics.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `keras.src.trainers.compile_utils.MetricsList`, whose members
    `MonitorCallback` (`EarlyStopping`, `ModelCheckpoint` …) searches for a
    metric's direction. Fallback: an equivalent `keras.metrics.Metric` (the
    terms are still logged; callbacks then need an explicit `mode=`).

    Returns:
        A `keras.metrics.Metric` subclass taking `(metrics, name=...)`.
    """
    try:
        return _private("keras.src.trainers.compile_utils", "MetricsList")
    except ImportError:
        return _MetricsList


class _MetricsList(keras.metrics.Metric):
    """`MetricsList` as Keras 3.8–3.15 define it, for a Keras without it."""

    def __init__(self, metrics, name="metrics_list", output_name=None):
        super().__init__(name=name)
        self.metrics = metrics
        self.output_name = output_name

    def update_state(self, y_true, y_pred, sample_weight=None):
        for m in self.metrics:
            m.update_state(y_true, y_pred, sample_weight=sample_weight)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def result(self):
        return {m.name: m.result() for m in self.metrics}


def set_direction(metric, direction):
    """Marks `metric` as better when lower (`"down"`) or higher (`"up"`).

    Checked on Keras 3.15.1 (tested; 3.8 not re-read): `MonitorCallback` reads
    `metric._direction` for `mode="auto"`. Setting an attribute cannot fail; on
    a Keras that does not read it, callbacks need an explicit `mode=`.

    Example:

    >>> import keras
    >>> tracker = keras.metrics.Mean(name="vat")
    >>> set_direction(tracker, "down")
    >>> tracker._direction
    'down'
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}.")
    metric._direction = direction


# ------------------------------------------------------------------- layers


def flatten_layers(layer, include_self=True):
    """`layer` and all its sublayers, recursively, each once.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `Layer._flatten_layers(include_self=...)`. Fallback: a walk over
    `layer.layers` (models) and the layer's attributes that hold layers or
    lists of layers (a model's `InputLayer`s, which `layer.layers` leaves
    out, are then missing).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> [type(l).__name__ for l in flatten_layers(model, include_self=False)]
    ['InputLayer', 'Dense']

    Args:
        layer: A Keras layer or model.
        include_self: Whether `layer` itself comes first.

    Returns:
        A list of layers.
    """
    method = getattr(layer, "_flatten_layers", None)
    if method is not None:
        return list(method(include_self=include_self))
    found, seen, queue = [], {id(layer)}, list(_sublayers(layer))
    if include_self:
        found.append(layer)
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        queue[:0] = _sublayers(current)
    return found


def _sublayers(layer):
    if isinstance(getattr(layer, "layers", None), (list, tuple)):
        return list(layer.layers)
    children = []
    for value in vars(layer).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        children += [v for v in items if isinstance(v, keras.layers.Layer)]
    return children


def seed_generators(layer):
    """The `keras.random.SeedGenerator`s a layer draws from (its own only).

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `Layer._seed_generators`. Fallback: the layer's attributes that are seed
    generators, in attribute order.

    Example:

    >>> import keras
    >>> len(seed_generators(keras.layers.Dropout(0.5, seed=1)))
    1
    """
    found = getattr(layer, "_seed_generators", _MISSING)
    if found is not _MISSING:
        return list(found)
    return [
        v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)
    ]


def call_losses(model):
    """The losses `model`'s layers added while being called (not weight
    regularization): activity regularizers and `add_loss` in `call()`.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read): `Layer._get_own_losses()`
    of every layer, the call-time part of `Layer.losses`. Fallback: `losses`
    of each layer minus its weights' regularization (an upper bound that may
    include those, so a caller errs towards keeping gradients).

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(
    ...     2, activity_regularizer="l2")])
    >>> _ = model(np.ones((1, 2), "float32"))
    >>> len(call_losses(model))
    1
    """
    found = []
    for layer in flatten_layers(model):
        own = getattr(layer, "_get_own_losses", None)
        found.extend(own() if own is not None else getattr(layer, "losses", []))
    return found


def own_variables(layer):
    """The variables a layer created itself (not its sublayers'), in save order.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read): `_trainable_variables +
    _non_trainable_variables`, the list `save_own_variables` stores. Fallback:
    the layer's weights that no sublayer holds.
    """
    trainable = getattr(layer, "_trainable_variables", _MISSING)
    non_trainable = getattr(layer, "_non_trainable_variables", _MISSING)
    if trainable is not _MISSING and non_trainable is not _MISSING:
        return list(trainable) + list(non_trainable)
    nested = {
        id(v) for sub in flatten_layers(layer, include_self=False) for v in sub.weights
    }
    return [v for v in layer.weights if id(v) not in nested]


def call_has_training_arg(layer):
    """Whether `layer.call` takes a `training` argument.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `Layer._call_has_training_arg`. Fallback: the signature of `layer.call`.

    Example:

    >>> import keras
    >>> call_has_training_arg(keras.layers.Dropout(0.5))
    True
    """
    found = getattr(layer, "_call_has_training_arg", _MISSING)
    if found is not _MISSING:
        return bool(found)
    return "training" in inspect.signature(layer.call).parameters


# ------------------------------------------------------------------ tensors


def keras_history(tensor):
    """`(layer, node_index, tensor_index)` of a symbolic Keras tensor, or `None`.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `KerasTensor._keras_history`. Fallback: `None` (the caller then reads the
    model without its output layer).
    """
    return getattr(tensor, "_keras_history", None)


def outputs_structure(model):
    """The outputs of a Functional model, nested as it was built, or `None`.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `Functional._outputs_struct`. Fallback: the flat list `model.outputs`
    (`None` for a model without outputs).
    """
    found = getattr(model, "_outputs_struct", None)
    return getattr(model, "outputs", None) if found is None else found


def graph_structure(model):
    """`(inputs, outputs)` of a Functional model, nested as it was built.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `Functional._inputs_struct` and `_outputs_struct`. Fallback: the flat lists
    `model.inputs` and `model.outputs` (dict outputs are then in `output_names`
    order).
    """
    inputs = getattr(model, "_inputs_struct", None)
    outputs = getattr(model, "_outputs_struct", None)
    return (
        model.inputs if inputs is None else inputs,
        model.outputs if outputs is None else outputs,
    )


# ------------------------------------------------------------------- losses


def loss_function_kwargs(loss):
    """The keyword arguments a `keras.losses` wrapper passes to its function.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `LossFunctionWrapper._fn_kwargs` (e.g. `from_logits`). Fallback:
    `loss.get_config()`, which holds them too.

    Example:

    >>> import keras
    >>> loss_function_kwargs(keras.losses.MeanSquaredError())
    {}
    """
    found = getattr(loss, "_fn_kwargs", _MISSING)
    if found is not _MISSING:
        return dict(found)
    try:
        return dict(loss.get_config())
    except (AttributeError, NotImplementedError, TypeError):
        return {}


def compile_loss(model):
    """The loss object `compile(loss=...)` built (`CompileLoss`), or `None`.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `Trainer._compile_loss` (`None` until compiled with a loss). Fallback:
    `None` for a model not compiled with a loss; a model compiled with one
    raises `KerasCompatibilityError` (the objective would otherwise silently
    lose its supervised terms).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> compile_loss(model) is None
    True
    >>> model.compile("sgd", "mse")
    >>> compile_loss(model) is not None
    True
    """
    found = getattr(model, "_compile_loss", _MISSING)
    if found is not _MISSING:
        return found
    if getattr(model, "compiled", False) and getattr(model, "loss", None) is not None:
        raise _unsupported("the compiled loss object (`Model._compile_loss`)")
    return None


def compile_loss_trackers(loss):
    """The per-output `Mean` trackers of a built `CompileLoss` (a list), or `[]`.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read): `CompileLoss._metrics`,
    the list `CompileLoss.call` updates. Fallback: `[]` (each call of the
    compiled loss then updates the per-output losses Keras logs).
    """
    if loss is None or not getattr(loss, "built", False):
        return []
    trackers = getattr(loss, "_metrics", None)
    return trackers if isinstance(trackers, list) else []


def flat_losses(loss):
    """`[(path, loss_fn, weight, name), ...]` of a built `CompileLoss`, or `None`.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read):
    `CompileLoss._flat_losses`. Fallback: `None` (terms that need one loss per
    example then ask for a single loss).
    """
    if loss is None or not getattr(loss, "built", False):
        return None
    found = getattr(loss, "_flat_losses", None)
    return None if found is None else list(found)


def additional_loss(model, loss):
    """One entry of `model.losses` as Keras adds it to the objective.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `Trainer._aggregate_additional_loss` (a float sum). Fallback: the same
    arithmetic (cast to `floatx()` unless float, then summed).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> float(additional_loss(model, keras.ops.ones((2,))))
    2.0
    """
    method = getattr(model, "_aggregate_additional_loss", None)
    if method is not None:
        return method(loss)
    if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(loss.dtype)):
        loss = keras.ops.cast(loss, keras.backend.floatx())
    return keras.ops.sum(loss)


def loss_tracker(model):
    """The `Mean` tracker `fit()` logs as `loss`.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `Trainer._loss_tracker` (built at `compile()`). Fallback: the metric named
    `"loss"` in `model.metrics`; `KerasCompatibilityError` when there is none.
    """
    found = getattr(model, "_loss_tracker", _MISSING)
    if found is not _MISSING and found is not None:
        return found
    for metric in getattr(model, "metrics", []):
        if metric.name == "loss":
            return metric
    raise _unsupported("the tracker of the logged loss (`Model._loss_tracker`)")


# --------------------------------------------------------------- optimizers


def raw_iterations(optimizer):
    """The optimizer's counter of batches seen (not of weight updates).

    With `gradient_accumulation_steps=k`, `optimizer.iterations` advances once
    per k batches. Checked on Keras 3.15.1 (tested; 3.8 not re-read): the
    per-batch counter is `BaseOptimizer._iterations`. Fallback:
    `optimizer.iterations` when there is no accumulation (the two agree);
    `KerasCompatibilityError` otherwise.

    Example:

    >>> import keras
    >>> int(raw_iterations(keras.optimizers.SGD()))
    0
    """
    found = getattr(optimizer, "_iterations", _MISSING)
    if found is not _MISSING:
        return found
    if not getattr(optimizer, "gradient_accumulation_steps", None):
        return optimizer.iterations
    raise _unsupported(
        "the per-batch step counter of gradient accumulation "
        "(`optimizer._iterations`)"
    )


# ---------------------------------------------------------------- training


def distribute_strategy_or_none(model):
    """The strategy a model was built under, or `None` outside any.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `TensorFlowTrainer._distribute_strategy`. Fallback:
    `model.distribute_strategy` (the current strategy when none was set:
    callers must work with the default strategy too).
    """
    found = getattr(model, "_distribute_strategy", _MISSING)
    if found is not _MISSING:
        return found
    return model.distribute_strategy


def symbolic_build_hook_exists():
    """Whether Keras calls `Trainer._maybe_symbolic_build` before a step.

    Checked on Keras 3.15.1 (tested; 3.8 not re-read) (TensorFlow trainer:
    before `fit`, `evaluate`, `train_on_batch`). Without it, models build at
    their first step and the override in `InvariantModel` is simply not called.
    """
    return callable(getattr(keras.Model, "_maybe_symbolic_build", None))


def keras_symbolic_build(model, iterator=None, data_batch=None):
    """Keras' own `_maybe_symbolic_build` for `model` (what `super()` runs).

    Checked on Keras 3.15.1 (tested; 3.8 not re-read). Fallback: nothing (Keras
    without the hook builds the model at its first step).
    """
    if symbolic_build_hook_exists():
        keras.Model._maybe_symbolic_build(model, iterator=iterator, data_batch=data_batch)


def symbolic_build(model, data_batch):
    """Builds a model, its compiled loss and metrics from one batch.

    Checked on Keras 3.15.1 (tested) and 3.8.0 (source read):
    `Trainer._symbolic_build(data_batch=...)`. Fallback:
    `KerasCompatibilityError` (there is no public equivalent).
    """
    method = getattr(model, "_symbolic_build", None)
    if method is None:
        raise _unsupported("the symbolic build of a model (`Model._symbolic_build`)")
    method(data_batch=data_batch)
