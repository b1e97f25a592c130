"""Differentiating token models at an embedding layer's output.

Token ids are integers: there is no ∇x. Gradient-based terms (Jacobian,
Loss / Prediction IBP, VAT, FGSM/PGD) therefore take `embedding_layer=name`
and work on e = embedding(x) instead. For a Functional or Sequential model,
`split_model` cuts the graph at that layer into a head (inputs → e) and a
tail (e → outputs and tapped activations). Both share the model's layers,
so a pass through head then tail is the model's own computation, and the
term can watch, perturb or differentiate e between them.

The split pass is one extra forward pass of the model (the engine's clean
pass starts from the integer inputs and does not expose e).
"""

import keras

from keras_invariance.graph import outputs as outputs_lib
from keras_invariance.graph import taps as taps_lib
from keras_invariance.graph.forward_result import ForwardResult


class SplitModel:
    """A graph model cut at one layer: `head(x) = e`, `tail(e) = outputs`.

    Attributes:
        LOGITS: The key of the model outputs in the dict `tail_taps` returns.
        layer_name: The layer whose output is e.
    """

    LOGITS = taps_lib.LOGITS

    def __init__(self, model, layer_name):
        self.model = model
        self.layer_name = layer_name
        layer = model.get_layer(layer_name)
        self.head = keras.Model(model.inputs, layer.output, name=f"{model.name}_head")
        self._embedding_output = layer.output
        self._tails = {}

    def _tail(self, tap_names):
        key = tuple(n for n in tap_names if n != taps_lib.LOGITS)
        tail = self._tails.get(key)
        if tail is None:
            outputs = self.model.outputs
            outputs = outputs[0] if len(outputs) == 1 else outputs
            tapped = [self.model.get_layer(n).output for n in key]
            try:
                tail = keras.Model(
                    self._embedding_output,
                    [outputs] + tapped if tapped else outputs,
                    name=f"{self.model.name}_tail",
                )
            except ValueError as error:
                raise ValueError(
                    f"Cannot differentiate at {self.layer_name!r}: the layers "
                    f"{list(key)} or the outputs do not all depend on it only "
                    f"({error})."
                ) from None
            self._tails[key] = tail
        return key, tail

    def embed(self, x, training=True):
        """e = head(x), float."""
        return self.head(x, training=taps_lib.pass_training(training))

    def tail(self, embedded, training=True, taps=(), spec=None):
        """Runs the tail on e; returns its `ForwardResult`.

        `outputs` are the model's outputs, `taps` the tapped activations
        and, under `LOGITS`, the outputs' logits view for `spec` (the
        step's `StepContext.output_spec`).
        """
        key, tail = self._tail(taps)
        results = tail(embedded, training=taps_lib.pass_training(training))
        if not key:
            results = [results]
        outputs, *activations = results
        found = dict(zip(key, activations))
        found[taps_lib.LOGITS] = outputs_lib.logits_view(outputs, spec)
        return ForwardResult(outputs, found)

    def tail_taps(self, embedded, training=True, taps=(), spec=None):
        """`tail(...).taps`: {tap name or LOGITS: activation}."""
        return self.tail(embedded, training=training, taps=taps, spec=spec).taps

    def tail_forward(self, x, embedded, training=True):
        """The model outputs computed from e (x is unused; kept for clarity)."""
        del x
        return self.tail(embedded, training=training).outputs

    def forward_watched(self, x, tape, training=True, taps=(), spec=None):
        """e = head(x); watches e on `tape`; returns (e, `ForwardResult` of e).

        Call inside `with tape:` so the tail pass is recorded.
        """
        embedded = self.embed(x, training=training)
        tape.watch(embedded)
        return embedded, self.tail(embedded, training=training, taps=taps, spec=spec)


def split_model(model, layer_name, subclassed=False):
    """Cuts a Functional or Sequential `model` at `layer_name`.

    Example:

    >>> import keras
    >>> inputs = keras.Input((5,), dtype="int32")
    >>> e = keras.layers.Embedding(20, 4, name="emb")(inputs)
    >>> outputs = keras.layers.Dense(3)(keras.layers.Flatten()(e))
    >>> split = split_model(keras.Model(inputs, outputs), "emb")
    >>> split.head.output.shape
    (None, 5, 4)

    Args:
        model: The user's model.
        layer_name: The name of the (embedding) layer to differentiate at.
        subclassed: Whether the model is subclassed (no graph to cut).

    Returns:
        A `SplitModel`.

    Raises:
        ValueError: For a subclassed model or an unknown layer name.
    """
    if subclassed or not taps_lib.is_graph_model(model):
        raise ValueError(
            "`embedding_layer=` needs a Functional or Sequential model (its "
            "graph is cut at that layer); this model is a subclassed "
            f"`{type(model).__name__}`. Build the model functionally, or "
            "feed float embeddings as the model's inputs."
        )
    available = taps_lib.tappable_layer_names(model)
    if layer_name not in available:
        raise ValueError(
            f"No layer named {layer_name!r} in model {model.name!r} for "
            f"`embedding_layer`. Available layer names: {available}."
        )
    return SplitModel(model, layer_name)


def maybe_split(model, layer_name, subclassed=False):
    """`split_model(model, layer_name)`, or `None` when `layer_name` is `None`.

    The one way every gradient-based term resolves its `embedding_layer=`
    argument when the engine binds it to a model.

    Example:

    >>> import keras
    >>> maybe_split(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]),
    ...             None) is None
    True
    """
    if layer_name is None:
        return None
    return split_model(model, layer_name, subclassed=subclassed)
