"""Tiny models, data and exact reference computations for derivative terms.

Shared by the tests of the Jacobian, noise-regularization, IBP, adversarial
loss and embedding-layer terms.
"""

import keras
from keras import ops
import numpy as np
import tensorflow as tf

from tests.models import derivative_mlp as tiny_mlp  # noqa: F401 - shared with importers

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def data(rows=8, inputs=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, inputs)).astype("float32")
    y = rng.integers(0, classes, rows).astype("int32")
    return x, y


def objective(model, x, y, sample_weight=None):
    """Runs the engine's objective once, as `train_step` does (no update)."""
    x = tf.constant(x)
    y = None if y is None else tf.constant(y)
    ctx = model.step_context(x, y, sample_weight)
    if model.perturbation is not None:
        ctx.x_perturbed = ops.stop_gradient(model.perturbation.perturb(x, ctx))
    total, terms = model._objective(ctx)
    return total, terms


def compiled(model, optimizer="sgd"):
    model.compile(optimizer=optimizer, loss=LOSS)
    return model


def explicit_jacobian(base, x, layer="logits"):
    """Per-row Jacobian (rows, units, inputs) via tf.GradientTape.jacobian."""
    if layer == "logits":
        f = base
    else:
        f = keras.Model(base.inputs, base.get_layer(layer).output)
    rows = []
    for i in range(x.shape[0]):
        xi = tf.constant(x[i : i + 1])
        with tf.GradientTape() as tape:
            tape.watch(xi)
            out = f(xi)
        rows.append(tape.jacobian(out, xi)[0, :, 0, :].numpy())
    return np.stack(rows)


def per_example_input_gradient(base, x, y):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        losses = keras.losses.sparse_categorical_crossentropy(
            y, base(x), from_logits=True
        )
        total = tf.reduce_sum(losses)
    return tape.gradient(total, x).numpy()


def token_model():
    inputs = keras.Input((6,), dtype="int32")
    e = keras.layers.Embedding(20, 4, name="emb")(inputs)
    h = keras.layers.Dense(5, activation="tanh", name="hid")(
        keras.layers.Flatten()(e)
    )
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
