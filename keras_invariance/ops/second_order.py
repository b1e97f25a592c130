"""Graphs that differentiate a derivative: keeping TensorFlow's kernels fast.

Prediction IBP and Tangent BP differentiate, with respect to the weights, a
Jacobian-vector product taken through the clean pass (a double vjp), so
TensorFlow builds the third derivative of every op of the model. With fully
static shapes it differentiates a sum or mean over some axes (BatchNorm's
batch statistics, LayerNorm, global average pooling) with `Tile`; the
gradient of that `Tile` reshapes to rank 2n, and the next derivative is a
rank-2n `Tile` that TensorFlow's CPU kernel runs element by element. On the
benchmarks' BatchNorm ResNet-8 (batch 128, no XLA) 75 such tiles took 2.8 of
3.9 s of a Prediction IBP step: 8.0× plain `fit()`. With the batch dimension
unknown to the graph the same gradients are `BroadcastTo` and rank-n
reductions: 2.6–2.9× plain for Prediction IBP, 5.9× instead of 28× for
Tangent BP's five tangents. Values are unchanged (the same numbers, other
kernels), and XLA compiles both forms alike.

The batch dimension is hidden only for models with such means
(`has_batch_or_feature_means`) and without recurrent layers: TensorFlow's
while-loop gradients keep per-step buffers of static shape, and hiding the
batch dimension made a double vjp through an LSTM 2.8× slower. Models with
neither measured no difference (a 16×16 max-pool CNN, an MLP).
"""

import keras
import tensorflow as tf

from keras_invariance.utils import keras_compat

#: Layers whose training-mode forward pass means over static axes.
MEAN_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)


def has_batch_or_feature_means(model):
    """Whether hiding the batch dimension speeds up `model`'s third derivatives.

    True when `model` (or any nested layer) is one of `MEAN_LAYERS` and none
    is a recurrent layer (`keras.layers.RNN`: LSTM, GRU, SimpleRNN …).

    Example:

    >>> model = keras.Sequential([keras.Input((3,)),
    ...                           keras.layers.BatchNormalization()])
    >>> has_batch_or_feature_means(model)
    True

    Args:
        model: A Keras layer or model, or `None` (False).

    Returns:
        A Python bool.
    """
    if model is None or not isinstance(model, keras.layers.Layer):
        return False
    layers = keras_compat.flatten_layers(model, include_self=True)
    if any(isinstance(layer, keras.layers.RNN) for layer in layers):
        return False
    return any(isinstance(layer, MEAN_LAYERS) for layer in layers)


def unknown_batch(structure):
    """The same tensors, their batch dimension unknown to the graph.

    Eager tensors are returned as they are (eager gradients never tile).

    Example:

    >>> @tf.function
    ... def batch_dimension(x):
    ...     return unknown_batch(x).shape[0]
    >>> print(batch_dimension(tf.zeros((4, 2))))
    None

    Args:
        structure: A tensor or a nested structure of tensors (or `None`).

    Returns:
        The structure, every tensor's leading dimension unknown in a graph.
    """
    if tf.executing_eagerly():
        return structure

    def one(t):
        if not tf.is_tensor(t) or t.shape.rank in (None, 0) or t.shape[0] is None:
            return t
        return tf.raw_ops.PlaceholderWithDefault(
            input=t, shape=tf.TensorShape([None]).concatenate(t.shape[1:])
        )

    return tf.nest.map_structure(one, structure)


def inputs_for(model, structure):
    """`structure` prepared for a graph `model`'s third derivatives.

    Example:

    >>> inputs_for(None, tf.zeros((2, 3))).shape
    TensorShape([2, 3])

    Args:
        model: The differentiated model (see `has_batch_or_feature_means`).
        structure: Its inputs.

    Returns:
        `unknown_batch(structure)` for a model with means and no recurrent
        layer, else `structure` unchanged.
    """
    if has_batch_or_feature_means(model):
        return unknown_batch(structure)
    return structure
