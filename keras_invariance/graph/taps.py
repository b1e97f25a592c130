"""Reading intermediate activations a_ℓ out of any kind of Keras model.

Two routes, one result (a dict from tap name to activation):

* Sequential and Functional models (also when wrapped): a single extractor
  `keras.Model(inputs, [outputs, *tapped outputs])` returns the outputs and all
  tapped activations from one pass, so the clean and perturbed halves of a
  concatenated batch come out of one call.
* Subclassed models have no graph to read, so the user places an identity
  `Tap("name")` layer in `call`; while the engine records, each `Tap` hands
  its input over. Recording is thread-local because `MirroredStrategy` runs
  the replicas of one step in separate threads.

Nested models (a `keras.applications` backbone inside a Functional model,
the usual transfer-learning shape) are tapped by path: `"backbone"` is the
nested model's output, `"backbone/block_3"` a layer inside it (any depth).
Their extractor re-runs the outer graph with the nested model replaced by
its own extractor (`keras.models.clone_model` with the layers shared), so
the tapped activations come from the same single pass.
"""

import contextlib
import difflib
import threading

import keras

from keras_invariance.graph import outputs as outputs_lib
from keras_invariance.graph.forward_result import ForwardResult
from keras_invariance.utils import keras_compat
from keras_invariance.utils.api_export import keras_invariance_export

_INFERENCE = threading.local()


@contextlib.contextmanager
def inference_passes():
    """Runs every model pass of a step in inference mode (`training=False`).

    For the validation terms (`InvariantModel(validation_terms=True)`): the
    penalties ask for training-mode passes, which would update BatchNorm's
    moving statistics and draw dropout masks on validation data. Read at
    trace time, so a `test_step` traced inside it runs inference passes.

    Example:

    >>> with inference_passes():
    ...     pass_training(True)
    False
    """
    previous = getattr(_INFERENCE, "active", False)
    _INFERENCE.active = True
    try:
        yield
    finally:
        _INFERENCE.active = previous


def pass_training(training):
    """`training` for a model pass: `False` inside `inference_passes()`.

    Example:

    >>> pass_training(True)
    True
    """
    return bool(training) and not getattr(_INFERENCE, "active", False)


#: Tap name that selects the model's output, as its logits view (the
#: outputs of a logits model, centred log p of a softmax: `keras_invariance.graph.outputs`).
LOGITS = "logits"
_ABOVE = "above:"
#: Separates a nested model's name from a layer inside it.
SEPARATOR = "/"

_RECORDING = threading.local()


@keras_invariance_export("keras_invariance.Tap")
class Tap(keras.layers.Layer):
    """Identity layer that marks an activation a_ℓ for invariance penalties.

    Place it in a subclassed model's `call` to make an activation available to
    `ActivationDistance` (IRL) and the other layer-wise penalties under the
    tap's `name`. It also works inside Functional and Sequential models, where
    any layer name can be tapped without it.

    Example:

    >>> import keras
    >>> import keras_invariance as ki
    >>> class Net(ki.InvariantModel):
    ...     def __init__(self, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.hidden = keras.layers.Dense(8, activation="relu")
    ...         self.tap = ki.Tap("hidden_tap")
    ...         self.out = keras.layers.Dense(3)
    ...     def call(self, x):
    ...         return self.out(self.tap(self.hidden(x)))
    >>> net = Net(perturbation=ki.perturbations.GaussianNoise(0.1), alpha=0.5, beta=0.5,
    ...           penalties=[ki.penalties.ActivationDistance(layers=["hidden_tap"])])

    Args:
        name: The tap's name, used to select it in a penalty's `layers`.
        **kwargs: Keras `Layer` arguments.
    """

    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)
        self.supports_masking = True

    def call(self, inputs):
        record = getattr(_RECORDING, "taps", None)
        if record is not None:
            record[self.name] = inputs
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@contextlib.contextmanager
def record_taps():
    """Collects the inputs of every `Tap` layer called in this block.

    Yields:
        A dict, filled during the block, from tap name to activation.
    """
    previous = getattr(_RECORDING, "taps", None)
    _RECORDING.taps = {}
    try:
        yield _RECORDING.taps
    finally:
        _RECORDING.taps = previous


def is_graph_model(model):
    """Whether `model` is a Sequential or Functional model (has a graph).

    Keras 3 exports no public Functional class; `keras.Model(inputs,
    outputs)` returns an instance of this private one.
    """
    return isinstance(model, (keras_compat.functional_class(), keras.Sequential))


def tappable_layer_names(model, nested=False):
    """The layer names a penalty may tap in a graph model, in call order.

    With `nested=True`, each layer inside a nested graph model also appears
    as `"<model>/<layer>"` (recursively), after the nested model's name.

    Example:

    >>> inner_in = keras.Input((2,))
    >>> inner = keras.Model(inner_in, keras.layers.Dense(2, name="d")(inner_in),
    ...                     name="backbone")
    >>> outer_in = keras.Input((2,))
    >>> model = keras.Model(outer_in, keras.layers.Dense(1, name="head")(inner(outer_in)))
    >>> tappable_layer_names(model, nested=True)
    ['backbone', 'backbone/d', 'head']
    """
    names = []
    for layer in model.layers:
        if _is_input_layer(layer):
            continue
        names.append(layer.name)
        if nested and is_graph_model(layer):
            names += [
                layer.name + SEPARATOR + inner
                for inner in tappable_layer_names(layer, nested=True)
            ]
    return names


def _is_input_layer(layer):
    return isinstance(layer, keras.layers.InputLayer)


def _graph_model_error(model):
    return ValueError(
        f"Layer taps need a Sequential or Functional model with known inputs, "
        f"but the model is a subclassed `{type(model).__name__}`. A subclassed "
        "model has no graph to read layers from: place "
        "`keras_invariance.Tap('my_name')` layers in its `call` and tap them "
        "by those names, or tap 'logits' (the model's output)."
    )


def resolve(spec, model, subclassed=False):
    """Turns a tap specification into a list of tap names.

    Args:
        spec: A layer name, `"logits"`, `"above:<bottleneck>"` (IRL-C: the
            bottleneck and every layer after it, plus the logits), or a list
            of these.
        model: The model whose layers are tapped, or `None` for a subclassed
            model (only `Tap` names and `"logits"` can be checked at trace).
        subclassed: Whether `model` is a subclassed model read through `Tap`
            layers.

    Returns:
        A list of tap names (layer names or `"logits"`), without repeats.

    Raises:
        ValueError: For an unknown layer name (the message lists the
            available names) or an `"above:"` selection on a subclassed model.
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    names = []
    for item in specs:
        if not isinstance(item, str):
            raise ValueError(
                f"A tap must be a layer name string; received {item!r}."
            )
        if item == LOGITS:
            resolved = [LOGITS]
        elif subclassed:
            if item.startswith(_ABOVE):
                raise _graph_model_error(model)
            resolved = [item]
        else:
            available = tappable_layer_names(model)
            outputs = _output_layer_names(model)
            if item.startswith(_ABOVE):
                bottleneck = item[len(_ABOVE):]
                _check_name(bottleneck, available, model, above=True)
                start = available.index(bottleneck)
                if len(outputs) > 1:
                    # Several outputs: "logits" is all of them, jointly.
                    resolved = [n for n in available[start:] if n not in outputs]
                    resolved.append(LOGITS)
                else:
                    resolved = available[start:-1] + [LOGITS]
            else:
                _check_name(item, tappable_layer_names(model, nested=True), model)
                # The output layer is the logits; one tap is enough.
                single = len(outputs) <= 1 and item == available[-1]
                resolved = [LOGITS if single else item]
        for name in resolved:
            if name not in names:
                names.append(name)
    return names


def _output_layer_names(model):
    names = getattr(model, "output_names", None)
    try:
        return list(names) if names else []
    except TypeError:
        return []


def _check_name(name, available, model, above=False):
    if name in available:
        return
    nested = [n for n in tappable_layer_names(model, nested=True) if SEPARATOR in n]
    top = [n for n in available if SEPARATOR not in n]
    if above and name in nested:
        raise ValueError(
            f"'above:' takes a layer of model {model.name!r} itself; "
            f"{name!r} is inside a nested model. Tap it and the layers you "
            f"want by name, or use 'above:' with one of {top}."
        )
    close = [n for n in nested if n.endswith(SEPARATOR + name)]
    close += [
        n for n in difflib.get_close_matches(name, top + nested, n=3, cutoff=0.6)
        if n not in close
    ]
    hint = f" Did you mean {close[:3]}?" if close else ""
    listing = f"Available layer names: {top}"
    if nested:
        shown = nested[:8] + (["…"] if len(nested) > 8 else [])
        listing += (
            f", and {len(nested)} inside nested models, tapped by path "
            f"'<model>{SEPARATOR}<layer>': {shown}"
        )
    raise ValueError(
        f"No layer named {name!r} in model {model.name!r}.{hint} {listing}. "
        "(Use 'logits' for the model output or 'above:<name>' for every "
        "layer from <name> up.)"
    )


def check_recorded(requested, recorded):
    """Raises a clear error if a requested `Tap` was not called in `call`."""
    missing = [n for n in requested if n != LOGITS and n not in recorded]
    if missing:
        raise ValueError(
            f"Tap(s) {missing} were requested but not called by the model's "
            f"`call`. Tap layers called: {sorted(recorded)}. Add "
            "`keras_invariance.Tap(name)` layers to `call` under those names."
        )


def build_extractor(model, tap_names):
    """One Functional model returning `[outputs, *tapped activations]`.

    The outputs keep the model's structure (a dict stays a dict). Layers
    of the model itself are read from its graph; a nested model, or a path
    into one (`"backbone/block_3"`), through a re-run of the graph
    (`_rerun_extractor`). Either way the layers are shared.

    Args:
        model: A Sequential or Functional model.
        tap_names: Names of its layers or paths into nested models (not
            `"logits"`).

    Returns:
        A `keras.Model` sharing `model`'s layers.
    """
    try:
        inputs = model.inputs
        outputs = model.outputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} has no defined inputs yet, so its layers "
            "cannot be tapped. Build it with a `keras.Input` (or give the "
            "first layer an `input_shape`) before wrapping it."
        )
    inputs, outputs = _graph_structure(model)
    if any(_needs_rerun(model, name) for name in tap_names):
        return _rerun_extractor(model, inputs, tap_names)
    tapped = [model.get_layer(name).output for name in tap_names]
    return keras.Model(inputs, [outputs] + tapped, name=f"{model.name}_taps")


def _graph_structure(model):
    """(inputs, outputs) of a graph model, in their structures."""
    inputs, outputs = model.inputs, model.outputs
    if isinstance(model, keras_compat.functional_class()):
        inputs, outputs = keras_compat.graph_structure(model)
    inputs = inputs[0] if isinstance(inputs, list) and len(inputs) == 1 else inputs
    outputs = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs
    return inputs, outputs


def _needs_rerun(model, name):
    """A nested path, or a nested model (its `.output` is its inner graph's)."""
    return SEPARATOR in name or is_graph_model(model.get_layer(name))


def _rerun_extractor(model, inputs, tap_names):
    """The extractor of taps inside (or of) nested models, by re-running the graph.

    `keras.models.clone_model` re-runs the outer graph with every layer
    shared; at the nested model's call, its own extractor (built the same
    way, so any depth works) returns its outputs and the inner taps.
    """
    wanted = {}
    for name in tap_names:
        head, _, rest = name.partition(SEPARATOR)
        wanted.setdefault(head, []).append(rest)
    recorded = {}

    def call_function(layer, *args, **kwargs):
        paths = wanted.get(layer.name)
        if paths is None:
            return layer(*args, **kwargs)
        inner = [p for p in paths if p]
        if inner:
            outputs, *activations = build_extractor(layer, inner)(*args, **kwargs)
            for path, activation in zip(inner, activations):
                recorded[layer.name + SEPARATOR + path] = activation
        else:
            outputs = layer(*args, **kwargs)
        recorded[layer.name] = outputs
        return outputs

    graph = keras.Model(inputs, _graph_structure(model)[1])
    clone = keras.models.clone_model(
        graph, clone_function=lambda layer: layer, call_function=call_function
    )
    clone_inputs, clone_outputs = _graph_structure(clone)
    return keras.Model(
        clone_inputs,
        [clone_outputs] + [recorded[name] for name in tap_names],
        name=f"{model.name}_taps",
    )


class TapReader:
    """Runs a model once and returns its outputs with the tapped activations.

    A graph model is read through one cached extractor per set of taps (all
    the engine's taps by default, so every pass shares one extractor); a
    subclassed model through its `Tap` layers while `call` runs.

    Example:

    >>> inputs = keras.Input((2,))
    >>> h = keras.layers.Dense(3, name="h")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(h))
    >>> reader = TapReader(model, ["h"], lambda x, training: model(x))
    >>> sorted(reader.forward(np.ones((1, 2)), True, ["h"]).taps)
    ['h', 'logits']

    Args:
        graph_model: The Sequential/Functional model, or `None` when taps are
            recorded from `Tap` layers.
        tap_names: The taps the engine reads on every pass.
        call: `call(x, training)` running the model (for recording).
        output_spec: What the outputs are (`keras_invariance.graph.outputs`), for
            the logits view under `"logits"`; the engine sets it again at
            `compile()`, when the loss is known.
    """

    def __init__(self, graph_model, tap_names, call, output_spec=None):
        self.graph_model = graph_model
        self.tap_names = list(tap_names)
        self.call = call
        self.output_spec = output_spec
        self._extractors = {}

    def forward(self, x, training=True, taps=()):
        """`ForwardResult(outputs, {tap: activation, "logits": logits view})`."""
        training = pass_training(training)
        from_layers = [n for n in taps if n != LOGITS]
        if from_layers and self.graph_model is not None:
            key = (
                tuple(self.tap_names)
                if set(from_layers) <= set(self.tap_names)
                else tuple(from_layers)
            )
            extractor = self._extractors.get(key)
            if extractor is None:
                extractor = build_extractor(self.graph_model, list(key))
                self._extractors[key] = extractor
            outputs, *activations = extractor(x, training=training)
            found = dict(zip(key, activations))
        else:
            with record_taps() as recorded:
                outputs = self.call(x, training)
            check_recorded(from_layers, recorded)
            found = dict(recorded)
        found[LOGITS] = outputs_lib.logits_view(outputs, self.output_spec)
        return ForwardResult(outputs, found)
