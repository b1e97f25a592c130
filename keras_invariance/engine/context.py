"""The per-step context shared by perturbations and penalties.

The engine runs the forward passes once per step and hands the results to
every penalty, so that combining penalties (IRL + VAT + Jacobian) does not
repeat the clean or the perturbed pass. What the terms share is held in
typed fields (`clean`, `perturbed`, `clean_loss`, the per-example input
gradient), never in string-keyed caches.

A context does not reach into the model: whoever builds it passes the three
functions it runs (`forward`, `supervised_loss`, `per_example_loss_fn`).
`InvariantModel.train_step` passes its own; `StepContext.for_model` builds
one around a plain Keras model, so that the same searches (FGSM, PGD,
S-PGD) attack a trained model in `keras_invariance.evaluation`.
"""

import contextlib
import warnings

import keras
from keras import ops
from keras import tree
import tensorflow as tf

from keras_invariance import distances as distances_lib
from keras_invariance.graph import outputs as outputs_lib
from keras_invariance.graph import structures
from keras_invariance.graph import taps as taps_lib
from keras_invariance.graph.forward_result import ForwardResult
from keras_invariance.ops import second_order
from keras_invariance.utils import deprecation
from keras_invariance.utils import validation


def tile_batch(structure, num_samples):
    """Concatenates K copies of every tensor in `structure` along the batch.

    Example:

    >>> import numpy as np
    >>> tile_batch(np.array([[1.0], [2.0]]), 2).numpy().ravel().tolist()
    [1.0, 2.0, 1.0, 2.0]

    Args:
        structure: A tensor or nested structure of tensors (or `None`).
        num_samples: K.

    Returns:
        The structure with K blocks of rows.
    """
    if num_samples == 1 or structure is None:
        return structure
    return tree.map_structure(
        lambda t: None if t is None else ops.concatenate([t] * num_samples, axis=0),
        structure,
    )


def split_batch(structure, batch_size):
    """Splits every tensor of a concatenated pass into (first rows, rest).

    Example:

    >>> import numpy as np
    >>> head, tail = split_batch(np.arange(3.0), 1)
    >>> head.tolist(), tail.tolist()
    ([0.0], [1.0, 2.0])
    """
    head = tree.map_structure(lambda t: t[:batch_size], structure)
    tail = tree.map_structure(lambda t: t[batch_size:], structure)
    return head, tail


class StepContext:
    """What one training step knows: the data, the passes, the loss.

    Penalties read `clean` and `perturbed`; adversarial perturbations and
    derivative penalties use `forward`, `compiled_loss` and
    `per_example_loss` for their own passes.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> context = StepContext.for_model(model, np.ones((4, 2), "float32"),
    ...                                 np.zeros((4,), "int32"))
    >>> context.per_example_loss(context.forward(context.x).outputs).shape
    TensorShape([4])

    Args:
        x: The clean input batch (after global augmentation).
        y: The labels, or `None`.
        sample_weight: The sample weights, or `None`.
        num_samples: K, the number of perturbed copies of each example.
        forward: `forward(x, training, taps) -> ForwardResult`.
        supervised_loss: `supervised_loss(y, y_pred, sample_weight)`, the
            compiled loss (mean over the batch, scaled for distribution), or
            `None` when there is no loss.
        per_example_loss_fn: A function returning the loss function
            `fn(y, y_pred) -> (rows,)`; called only when a term needs it, so
            the error for a model without a single loss comes from there.
        model: The model being trained (read for `compute_dtype` and
            `jit_compile`).
        output_spec: What the outputs are
            (`keras_invariance.graph.outputs.OutputSpec`); `None` reads them as
            class logits.

    Attributes:
        x_perturbed: The K·B perturbed inputs (K blocks of B rows), or `None`.
        clean: `ForwardResult` of the clean pass (`training=True`).
        perturbed: `ForwardResult` of the perturbed pass over K·B rows.
        clean_loss: The compiled loss of the clean pass (scaled for
            distribution, as Keras scales it), or `None`.
        input_tape: When a term declared `requires_input_gradient` (or a
            perturbation `uses_clean_pass`), a persistent `tf.GradientTape`
            that watched `x` during the clean pass (nested inside the
            weight-update tape, so gradients taken from it can themselves be
            differentiated).
        weight_tape: The weight-update tape during `train_step`, else
            `None` (`keras_invariance.engine.clean_pass` pauses it).
        targets: Class indices a targeted search moves towards, given for
            this batch (`perturb_on_batch(..., targets=...)`), else `None`
            (a search then uses its own `target` rule).
        unconnected_inputs: `"zero"` (default): a float input with no
            gradient path to the outputs has ∇ = 0, so searches leave it
            unperturbed; `"raise"`: the engine names it in an error
            (`keras_invariance.graph.structures.check_connected`).
    """

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        num_samples=1,
        *,
        forward,
        supervised_loss=None,
        per_example_loss_fn=None,
        model=None,
        output_spec=None,
    ):
        self.model = model
        self.output_spec = output_spec
        self.x = x
        self.y = y
        self.sample_weight = sample_weight
        self.num_samples = num_samples
        self.x_perturbed = None
        self.clean = None
        self.perturbed = None
        self.clean_loss = None
        self.input_tape = None
        self.weight_tape = None
        self._forward = forward
        self._supervised_loss = supervised_loss
        self._per_example_loss_fn = per_example_loss_fn
        self._input_gradient = None
        self.targets = None
        self.unconnected_inputs = "zero"

    @classmethod
    def for_model(cls, model, x, y, from_logits=None):
        """A context around a plain model in inference mode (for attacks).

        The forward pass is `model(x, training=False)` whatever `training` a
        search asks for (an attack must not change BatchNorm statistics),
        and the loss is the sparse categorical cross-entropy of `y`.

        Args:
            model: A Keras model or a callable returning class scores.
            x: The batch to attack.
            y: Sparse integer labels.
            from_logits: Whether the model returns logits; `None` reads the
                model's final activation (a softmax or sigmoid: no).

        Returns:
            A `StepContext`.
        """
        spec = outputs_lib.resolve(
            model if isinstance(model, keras.Model) else None,
            from_logits=from_logits,
        )
        from_logits = spec.from_logits

        def forward(inputs, training=False, taps=()):
            del training
            outputs = inference_scores(model, inputs)
            names = [n for n in taps if n != taps_lib.LOGITS]
            if names:
                raise ValueError(
                    f"An attack on a plain model cannot read layer taps {names}."
                )
            return ForwardResult(
                outputs, {taps_lib.LOGITS: outputs_lib.logits_view(outputs, spec)}
            )

        def loss_fn():
            return lambda labels, scores: keras.losses.sparse_categorical_crossentropy(
                labels, scores, from_logits=from_logits
            )

        def supervised_loss(labels, scores, sample_weight=None):
            return ops.mean(loss_fn()(labels, scores))

        return cls(
            x,
            y,
            forward=forward,
            supervised_loss=supervised_loss,
            per_example_loss_fn=loss_fn,
            model=model if isinstance(model, keras.Model) else None,
            output_spec=spec,
        )

    def restricted(self, x, forward):
        """A context for a sub-problem: other inputs, same labels and losses.

        Used to search one input of a multi-input model with the others held
        clean: `forward` maps that input to the model's `ForwardResult`.

        Args:
            x: The inputs the sub-problem's terms see.
            forward: `forward(x, training, taps) -> ForwardResult`.

        Returns:
            A `StepContext` sharing this one's labels, weights and losses.
        """
        context = StepContext(
            x,
            self.y,
            self.sample_weight,
            self.num_samples,
            forward=forward,
            supervised_loss=self._supervised_loss,
            per_example_loss_fn=self._per_example_loss_fn,
            model=self.model,
            output_spec=self.output_spec,
        )
        context.targets = self.targets
        context.unconnected_inputs = self.unconnected_inputs
        return context

    @property
    def batch_size(self):
        """This replica's batch size, as a (possibly dynamic) scalar."""
        first = next(t for t in tree.flatten(self.x) if t is not None)
        return ops.shape(first)[0]

    @property
    def compute_dtype(self):
        """The model's compute dtype (float32 when unknown)."""
        return getattr(self.model, "compute_dtype", None) or "float32"

    def forward(self, x, training=True, taps=()):
        """Runs the model on `x` and returns a `ForwardResult`.

        Args:
            x: Inputs.
            training: The `training` flag of the pass. Search passes (e.g. an
                adversarial search) should document their choice.
            taps: Names of the activations to return with the outputs.

        Returns:
            `ForwardResult(outputs, taps)`.
        """
        return self._forward(x, training=training, taps=taps)

    def logits_of(self, outputs):
        """The logits view of raw model outputs (`outputs.logits_view`).

        Terms compare and differentiate this view, so a softmax model and the
        same model returning logits give the same terms.
        """
        return outputs_lib.logits_view(outputs, self.output_spec)

    def divergence(self, distance, who):
        """`d(u, v)` of `distance` on logits views, for this model's outputs.

        A distance between distributions (KL, cross-entropy) is taken over
        the model's own distribution: softmax classes, or one Bernoulli per
        sigmoid unit (`distances.for_outputs`).

        Raises:
            ValueError: For such a distance on a regression or single-unit
                softmax output (it would be meaningless or identically 0).
        """
        return distances_lib.for_outputs(distance, self.output_spec, who)

    def compiled_loss(self, y_pred, y=None, sample_weight=None):
        """The compiled loss (mean over the batch, scaled for distribution).

        Args:
            y_pred: Predictions for this step's rows (or K blocks of them).
            y: Labels; defaults to the step's labels tiled to `y_pred`.
            sample_weight: Defaults to the step's weights tiled likewise.

        Returns:
            A scalar, as Keras' `compile(loss=...)` computes it.
        """
        if self._supervised_loss is None:
            raise ValueError(
                "This term needs the compiled loss, but the model was "
                "compiled without one: pass `compile(loss=...)`."
            )
        return self._supervised_loss(
            self._match(self.y if y is None else y, y_pred),
            y_pred,
            self._match(
                self.sample_weight if sample_weight is None else sample_weight,
                y_pred,
            ),
        )

    def per_example_loss(self, y_pred, y=None):
        """The compiled loss function per example, shape `(rows,)`, float32.

        Used to rank candidates (worst-of-k) and for input gradients. Needs a
        single-output model compiled with one loss.
        """
        loss_fn = self._per_example_loss_fn()
        y = self._match(self.y if y is None else y, y_pred)
        values = ops.cast(loss_fn(y, y_pred), "float32")
        if len(values.shape) > 1:
            values = ops.mean(
                ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1
            )
        return values

    def _match(self, structure, y_pred):
        """Tiles labels/weights K times when `y_pred` has K blocks of rows."""
        if structure is None:
            return None
        first_pred = tree.flatten(y_pred)[0]
        first = tree.flatten(structure)[0]
        if first.shape[0] is not None and first_pred.shape[0] is not None:
            if first.shape[0] == first_pred.shape[0]:
                return structure
            return tile_batch(structure, first_pred.shape[0] // first.shape[0])
        # Dynamic batch: K blocks of rows is the only other shape we make.
        repeats = ops.shape(first_pred)[0] // ops.shape(first)[0]
        return tree.map_structure(
            lambda t: tf.tile(t, [repeats] + [1] * (len(t.shape) - 1)),
            structure,
        )

    @property
    def gradient_source(self):
        """What ∇x is taken with respect to: x, or the list of its float inputs.

        For a model with one input this is `x`; for several inputs, the list
        of the float ones (token ids have no gradient), which the numerics
        treat as one vector per row.

        Raises:
            ValueError: When no input is float.
        """
        if structures.is_single(self.x) and not structures.is_sparse(self.x):
            return self.x
        found = structures.float_inputs(self.x)
        if not found:
            raise ValueError(
                "This term differentiates with respect to the inputs, but "
                "none of the model's inputs is a dense float tensor (sparse "
                "inputs stay as they are). " + validation.EMBEDDING_HINT
            )
        return [f.tensor for f in found]

    def with_gradient_source(self, source):
        """`x` with its float inputs replaced by `source` (see above)."""
        if structures.is_single(self.x) and not structures.is_sparse(self.x):
            return source
        return structures.replace_float_inputs(self.x, list(source))

    @contextlib.contextmanager
    def input_tape_scope(self):
        """Records the clean pass on `input_tape`, watching the inputs.

        For a model with batch or feature means the inputs' batch dimension
        is first made unknown to the graph (`keras_invariance.ops.second_order`):
        its third derivatives then run 3× faster without XLA. The tape is
        left when the block ends, also on an error; being persistent, it can
        be entered again to record more (`per_example_input_gradient`).

        Example:

        >>> import keras
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> context = StepContext.for_model(
        ...     model, ops.ones((2, 2)), ops.zeros((2,), "int32"))
        >>> with context.input_tape_scope():
        ...     total = ops.sum(context.forward(context.x).outputs)
        >>> tuple(context.input_gradient(total).shape)
        (2, 2)

        Yields:
            The persistent `tf.GradientTape` (also `input_tape`).
        """
        with self._new_input_tape():
            self.input_tape.watch(self.gradient_source)
            yield self.input_tape

    def _new_input_tape(self):
        self.x = second_order.inputs_for(self.model, self.x)
        self.input_tape = tf.GradientTape(
            persistent=True, watch_accessed_variables=False
        )
        return self.input_tape

    def open_input_tape(self):
        """Deprecated: enters `input_tape` and leaves it to the caller to exit.

        Use `with context.input_tape_scope():`, which exits the tape also
        when the pass raises.
        """
        warnings.warn(
            "StepContext.open_input_tape() is deprecated; use "
            "`with context.input_tape_scope():` (exception-safe; the old "
            f"method stops working in keras-invariance {deprecation.REMOVAL}).",
            DeprecationWarning,
            stacklevel=2,
        )
        self._new_input_tape().__enter__()
        self.input_tape.watch(self.gradient_source)

    def input_gradient(self, loss):
        """∇x of `loss` through the clean pass, itself differentiable.

        Args:
            loss: A scalar computed from `clean` (e.g. the sum of
                `per_example_loss(clean.outputs)`).

        Returns:
            A tensor shaped like `gradient_source` whose graph connects to
            the weights, so a penalty on it (Loss IBP) trains by double
            backpropagation.
        """
        if self.input_tape is None:
            raise RuntimeError(
                "No input tape: the term must declare "
                "`requires_input_gradient = True`."
            )
        # An input without a gradient path has ∇ = 0 (NSL leaves it
        # unperturbed); `unconnected_inputs="raise"` names it before this.
        return self.input_tape.gradient(
            loss, self.gradient_source,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )

    def per_example_input_gradient(self, who):
        """g_i = ∇x_i ℓ_i for every row, from the clean pass, computed once.

        Re-enters the persistent input tape to record Σ_i ℓ_i, so the
        per-example loss (not the batch mean) is differentiated: row i of
        the result is ∇x_i ℓ(f(x_i), y_i). Loss IBP, Prediction IBP and fast
        Tangent BP share the one result, so combining them differentiates
        the loss only once.

        Args:
            who: The caller's name, for the error on integer inputs.

        Returns:
            A tensor shaped like `gradient_source`, differentiable with
            respect to the weights.
        """
        if self._input_gradient is None:
            if structures.is_single(self.x):
                validation.check_float(self.x, who, validation.EMBEDDING_HINT)
            with self.input_tape:
                total = ops.sum(self.per_example_loss(self.clean.outputs))
            self._input_gradient = self.input_gradient(total)
        return self._input_gradient


def per_example_loss_function(loss):
    """The compiled `loss` as `fn(y, y_pred) -> (rows,)`, or a clear error.

    Example:

    >>> fn = per_example_loss_function("mse")
    >>> fn(np.zeros((2, 1)), np.ones((2, 1))).numpy().tolist()
    [1.0, 1.0]
    """
    if loss is None or isinstance(loss, (list, tuple, dict)):
        raise ValueError(
            "This term needs one loss per example, so the model must be "
            "compiled with a single loss, e.g. "
            "`compile(loss=keras.losses.SparseCategoricalCrossentropy("
            f"from_logits=True))`; found loss={loss!r}."
        )
    loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    return loss


def inference_scores(model, inputs):
    if isinstance(model, keras.layers.Layer):
        out = model(inputs, training=False)
    else:
        out = model(inputs)
    if isinstance(out, (list, tuple, dict)):
        raise ValueError(
            "The model must return one tensor of class scores (logits or "
            f"probabilities) of shape (batch, num_classes); it returned "
            f"{type(out).__name__}. Wrap it so it returns the class scores."
        )
    return out
