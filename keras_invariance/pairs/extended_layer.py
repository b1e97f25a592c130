"""The extended layer of Zhang & Arodz, "Learning Invariance in Deep Neural
Networks" (§4).

A dense layer followed by one element-wise nonlinearity cannot easily express
a modulus or a normalised direction, which is what shift-invariant codes such
as the DFT modulus are made of. The extended layer emits those quantities
directly, next to a skip connection.
"""

import keras
from keras import ops

from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.pairs.ExtendedLayer")
class ExtendedLayer(keras.layers.Layer):
    """Extended layer: skip connection, 2-norm and normalised (quadratic) maps.

    With `X = O1 @ W + b` (`units` columns) split into its even columns
    `X_even = X[..., 0::2]` and odd columns `X_odd = X[..., 1::2]`, the layer
    returns the concatenation `[O1, O2, O3, O4, O5]` along the last axis:

    - `O1`: the input (skip connection),
    - `O2 = sqrt(X_even**2 + X_odd**2 + epsilon)` (pairwise 2-norm),
    - `O3 = X_even / O2` and `O4 = X_odd / O2` (normalised linear maps,
      a cosine and a sine),
    - `O5 = O3 * O4` (normalised quadratic map).

    `O2` to `O5` each have `units // 2` columns, so the output has
    `input_dim + 2 * units` columns. With the default `units=None`,
    `units = input_dim` and the output is exactly 3x as wide as the input,
    as in the paper.

    Numerical safety at `O2 -> 0`: `epsilon` is added *inside* the square root
    rather than to the denominators only. This makes every output a smooth
    function of `X` everywhere, so gradients exist at `X_even = X_odd = 0`:
    there `O2 = sqrt(epsilon)`, `O3 = O4 = O5 = 0`,
    `dO2/dX = 0`, `dO3/dX_even = dO4/dX_odd = 1 / sqrt(epsilon)`
    (`1e3` for the default `epsilon=1e-6`), and `dO5/dX = 0`. Away from zero
    the bias is small: `0 <= O2 - |X| <= sqrt(epsilon)` and `|O3|, |O4| <= 1`
    always. A plain `sqrt` would give `0 * inf = NaN` gradients at the origin.
    Under a 16-bit compute dtype (`mixed_float16`, `mixed_bfloat16`) the polar
    part is computed in float32 and cast back, because `X**2` underflows and
    `epsilon` is below float16 resolution.

    Example:

    >>> layer = ExtendedLayer()
    >>> y = layer(np.ones((2, 4), dtype="float32"))
    >>> tuple(y.shape)
    (2, 12)

    Args:
        units: Positive even integer, the number of columns of `X`. `None`
            (default) uses the input width, which must then be even.
        epsilon: Positive float added to `X_even**2 + X_odd**2` before the
            square root. Defaults to `1e-6`.
        use_bias: Whether `X` includes the bias `b`. Defaults to `True`.
        kernel_initializer: Initializer for `W`.
        bias_initializer: Initializer for `b`.
        kernel_regularizer: Optional regularizer for `W`.
        bias_regularizer: Optional regularizer for `b`.
        kernel_constraint: Optional constraint for `W`.
        bias_constraint: Optional constraint for `b`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Returns:
        A tensor of shape `(..., input_dim + 2 * units)`.

    Raises:
        ValueError: If `units` is not a positive even integer, if `epsilon`
            is not positive, or if the input's last dimension is unknown, or
            odd while `units=None`.

    Reference:
        H. Zhang and T. Arodz, "Learning Invariance in Deep Neural Networks",
        §4 ("Proposed New Layer for Learning Invariances").
    """

    def __init__(
        self,
        units=None,
        epsilon=1e-6,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if units is not None:
            if (
                isinstance(units, bool)
                or not isinstance(units, int)
                or units <= 0
                or units % 2
            ):
                raise ValueError(
                    "`units` must be a positive even integer (X is split into "
                    f"even and odd columns of equal width), got units={units!r}."
                    " Pass e.g. units=2 * k, or units=None to use the input "
                    "width."
                )
        if not float(epsilon) > 0.0:
            raise ValueError(
                "`epsilon` must be > 0 so that O2 and its gradient stay finite "
                f"at X = 0, got epsilon={epsilon!r}. The default is 1e-6."
            )
        self.units = units
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def _resolved_units(self, input_dim):
        if input_dim is None:
            raise ValueError(
                "ExtendedLayer needs a known last input dimension, got None. "
                "Give the model an `keras.Input(shape=(features,))`."
            )
        if self.units is not None:
            return self.units
        if input_dim % 2:
            raise ValueError(
                f"ExtendedLayer got an input of odd width {input_dim} with "
                "units=None; X must have an even number of columns to be split "
                "into even/odd halves. Pass an even `units` (output width is "
                "then input_dim + 2 * units) or pad the input to an even width."
            )
        return input_dim

    def build(self, input_shape):
        input_dim = input_shape[-1]
        units = self._resolved_units(input_dim)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = keras.layers.InputSpec(
            min_ndim=2, axes={-1: input_dim}
        )

    def call(self, inputs):
        x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        low_precision = keras.backend.standardize_dtype(x.dtype) in (
            "float16",
            "bfloat16",
        )
        if low_precision:
            x = ops.cast(x, "float32")
        x_even = x[..., 0::2]
        x_odd = x[..., 1::2]
        o2 = ops.sqrt(
            ops.square(x_even) + ops.square(x_odd) + self.epsilon
        )
        o3 = ops.divide(x_even, o2)
        o4 = ops.divide(x_odd, o2)
        o5 = ops.multiply(o3, o4)
        polar = ops.concatenate([o2, o3, o4, o5], axis=-1)
        if low_precision:
            polar = ops.cast(polar, inputs.dtype)
        return ops.concatenate([inputs, polar], axis=-1)

    def compute_output_shape(self, input_shape):
        units = self._resolved_units(input_shape[-1])
        return tuple(input_shape[:-1]) + (input_shape[-1] + 2 * units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "epsilon": self.epsilon,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
            }
        )
        return config
