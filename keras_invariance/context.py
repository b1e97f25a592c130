"""The per-step context shared by perturbations and penalties.

The engine runs the forward passes once per step and hands the results to
every penalty, so that combining penalties (IRL + VAT + Jacobian) does not
repeat the clean or the perturbed pass.
"""

import collections

import keras
import tensorflow as tf
from keras import ops
from keras import tree

#: The outputs and tapped activations of one forward pass.
ForwardResult = collections.namedtuple("ForwardResult", ["outputs", "taps"])


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
    """Splits every tensor of a concatenated pass into (first rows, rest)."""
    head = tree.map_structure(lambda t: t[:batch_size], structure)
    tail = tree.map_structure(lambda t: t[batch_size:], structure)
    return head, tail


class StepContext:
    """What one training step knows: the data, the passes, the loss.

    Penalties read `clean` and `perturbed`; adversarial perturbations and
    derivative penalties use `forward`, `compiled_loss` and
    `per_example_loss` for their own passes.

    Attributes:
        model: The `InvariantModel` being trained.
        x: The clean input batch (after global augmentation).
        y: The labels, or `None`.
        sample_weight: The sample weights, or `None`.
        num_samples: K, the number of perturbed copies of each example.
        x_perturbed: The K·B perturbed inputs (K blocks of B rows), or `None`.
        clean: `ForwardResult` of the clean pass (`training=True`).
        perturbed: `ForwardResult` of the perturbed pass over K·B rows.
        input_tape: When a penalty declared `requires_input_gradient`, a
            persistent `tf.GradientTape` that watched `x` during the clean
            pass (nested inside the weight-update tape, so gradients taken
            from it can themselves be differentiated).
    """

    def __init__(self, model, x, y, sample_weight, num_samples):
        self.model = model
        self.x = x
        self.y = y
        self.sample_weight = sample_weight
        self.num_samples = num_samples
        self.x_perturbed = None
        self.clean = None
        self.perturbed = None
        self.input_tape = None
        self.cache = {}

    @property
    def batch_size(self):
        """This replica's batch size, as a (possibly dynamic) scalar."""
        first = next(t for t in tree.flatten(self.x) if t is not None)
        return ops.shape(first)[0]

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
        return self.model._forward(x, training=training, tap_names=taps)

    def compiled_loss(self, y_pred, y=None, sample_weight=None):
        """The compiled loss (mean over the batch, scaled for distribution).

        Args:
            y_pred: Predictions for this step's rows (or K blocks of them).
            y: Labels; defaults to the step's labels tiled to `y_pred`.
            sample_weight: Defaults to the step's weights tiled likewise.

        Returns:
            A scalar, as Keras' `compile(loss=...)` computes it.
        """
        return self.model._supervised_loss(
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
        loss_fn = self.model._per_example_loss_fn()
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

    def input_gradient(self, loss):
        """∇x of `loss` through the clean pass, itself differentiable.

        Args:
            loss: A scalar computed from `clean` (e.g. the sum of
                `per_example_loss(clean.outputs)`).

        Returns:
            A tensor shaped like `x` whose graph connects to the weights, so
            a penalty on it (Loss IBP) trains by double backpropagation.
        """
        if self.input_tape is None:
            raise RuntimeError(
                "No input tape: the penalty must set "
                "`requires_input_gradient = True`."
            )
        return self.input_tape.gradient(loss, self.x)
