"""XLA against TensorFlow's own kernels, op by op, on the 16×16 digits CNN.

    python benchmarks/xla_ops.py

Times the pieces of the spatial suite's steps (the affine warp, the tangent
vectors, the network's forward pass and its double backpropagation) as
`tf.function`s with and without `jit_compile`, median of 7 × 20 calls, so
that an XLA ratio of the suite can be traced to the op that XLA compiles
slower on this CPU.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_invariance.spatial import tangents  # noqa: E402
from keras_invariance.spatial import warps  # noqa: E402


def _network():
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def _median_ms(function, x, calls=20, repeats=7):
    function(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = function(x)
        np.asarray(out)
        times.append((time.perf_counter() - start) / calls * 1e3)
    return sorted(times)[repeats // 2]


def main():
    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.rand(64, 16, 16, 1).astype("float32"))
    params = tf.constant(np.random.uniform(-1, 1, (64, 3)).astype("float32") * [3, 3, 30])
    net = _network()

    def double_backprop(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(net(x, training=True) ** 2)
            z = tf.reduce_sum(tf.square(inner.gradient(y, x)))
        return outer.gradient(z, x)

    pieces = {
        "affine warp": lambda x: warps.apply_spatial_params(x, params),
        "tangent vectors": tangents.tangent_vectors,
        "forward": lambda x: net(x, training=True),
        "double backprop": double_backprop,
    }
    print("| piece | no XLA ms | XLA ms | XLA / no XLA |\n|---|---|---|---|")
    for name, piece in pieces.items():
        plain = _median_ms(tf.function(piece), x)
        xla = _median_ms(tf.function(piece, jit_compile=True), x)
        print(f"| {name} | {plain:.2f} | {xla:.2f} | {xla / plain:.2f} |")


if __name__ == "__main__":
    main()
