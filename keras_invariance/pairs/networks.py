"""Networks of the learning-from-pairs paper: deep MLPs and extended stacks.

Reference:
    H. Zhang and T. Arodz, "Learning Invariance in Deep Neural Networks",
    §3 (MLP baselines, width 8·d) and §4 (the extended layer).
"""

import keras

from keras_invariance.pairs.extended_layer import ExtendedLayer


def check_sizes(**sizes):
    """Raises unless every keyword value is a positive integer.

    Example:

    >>> check_sizes(depth=2)
    """
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"`{key}` must be a positive integer, got {value!r}."
            )


def build_mlp(input_dim, output_dim, depth=2, width=None, activation="selu",
              name=None):
    """A fully connected network: `depth` hidden layers, linear output.

    Example:

    >>> net = build_mlp(10, 4, depth=3, width=16)
    >>> net.output_shape
    (None, 4)

    Args:
        input_dim: Input width.
        output_dim: Output width.
        depth: Number of hidden `Dense(width, activation)` layers (the
            paper's depth, 2 to 20).
        width: Hidden width; defaults to `8 * input_dim` as in §3.
        activation: Hidden activation (`"selu"`, `"relu"`, `"sigmoid"`,
            `"tanh"`, ...). SELU layers use `lecun_normal` initialisation,
            which self-normalisation assumes.
        name: Optional model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: If a size is not a positive integer.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §3.
    """
    check_sizes(input_dim=input_dim, output_dim=output_dim, depth=depth)
    width = 8 * input_dim if width is None else width
    check_sizes(width=width)
    init = "lecun_normal" if activation == "selu" else "glorot_uniform"
    inputs = keras.Input(shape=(input_dim,))
    h = inputs
    for _ in range(depth):
        h = keras.layers.Dense(width, activation=activation,
                               kernel_initializer=init)(h)
    outputs = keras.layers.Dense(output_dim)(h)
    return keras.Model(inputs, outputs, name=name)


def build_extended_network(input_dim, output_dim, depth=1, width=None,
                           epsilon=1e-6, name=None):
    """A stack of `ExtendedLayer`s with a linear output.

    Each `ExtendedLayer(units=width)` triples (roughly) the width, so a
    linear `Dense(width)` maps its output back to `width` before the next
    extended layer; `depth` counts the extended layers.

    Example:

    >>> net = build_extended_network(10, 4, depth=2, width=16)
    >>> net.output_shape
    (None, 4)

    Args:
        input_dim: Input width.
        output_dim: Output width.
        depth: Number of extended layers.
        width: `units` of each extended layer (even); defaults to
            `8 * input_dim`.
        epsilon: `ExtendedLayer` epsilon.
        name: Optional model name.

    Returns:
        A functional `keras.Model`.

    Raises:
        ValueError: If a size is not a positive integer or `width` is odd.

    Reference:
        Zhang & Arodz, "Learning Invariance in Deep Neural Networks", §4.
    """
    check_sizes(input_dim=input_dim, output_dim=output_dim, depth=depth)
    width = 8 * input_dim if width is None else width
    check_sizes(width=width)
    inputs = keras.Input(shape=(input_dim,))
    h = inputs
    for i in range(depth):
        if i:
            h = keras.layers.Dense(width)(h)
        h = ExtendedLayer(units=width, epsilon=epsilon)(h)
    outputs = keras.layers.Dense(output_dim)(h)
    return keras.Model(inputs, outputs, name=name)
