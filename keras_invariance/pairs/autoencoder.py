"""The invariant autoencoder of Zhang & Arodz, "Learning Invariance in Deep
Neural Networks" (§2, §3, §5).

An encoder `f` maps `x` to a code `z = [z_inv, z_var]`; a decoder `g`
reconstructs `x` from all of `z`. The invariant part is pushed towards
invariance by an extra term, either against a known target code (§3) or from
triples `(x, x', d)` that only say how far apart two samples are as entities
(§5, eq. 2). The variant part carries what the decoder still needs (shift,
scale, ...), which keeps `z_inv` from collapsing to a constant.
"""

import copy

import keras
from keras import ops

from keras_invariance.engine.distribution import scale_for_distribution
from keras_invariance.engine.distribution import scale_for_optimizer
from keras_invariance.ops import numerics
from keras_invariance.pairs.networks import check_sizes
from keras_invariance.utils import keras_compat
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import check_non_negative
from keras_invariance.utils.hyperparameters import check_positive
from keras_invariance.utils.hyperparameters import value_of

MODES = ("pairs", "target")


def _static_width(model, attribute):
    # Only Functional/Sequential models know their shapes before a call.
    try:
        shape = getattr(model, attribute)
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return None


@keras_invariance_export("keras_invariance.pairs.InvariantAutoencoder")
class InvariantAutoencoder(keras.Model):
    """Autoencoder whose code has an invariant part, trained with `fit()`.

    The code `z = encoder(x)` is split as `z_inv = z[..., :invariant_dim]`
    and `z_var = z[..., invariant_dim:]`; `decoder(z)` reconstructs `x`.
    The training objective is

        L = ||x - g(f(x))||^2 + invariance_weight * l_inv

    where both squared norms are averaged over features (MSE, as the paper
    reports them) and over the batch, and `l_inv` depends on `mode`:

    - `mode="target"` (§3): data `(x, z_star)`,
      `l_inv = mean((z_inv - z_star)**2)`.
    - `mode="pairs"` (§5, eq. 2): data `((x, x_prime), d)`,
      `l_inv = (1 / (delta + alpha * d**2)
                - 1 / (delta + alpha * d_hat**2))**2`
      with `d_hat = ||z_inv(x) - z_inv(x_prime)||`. Only `d_hat**2` enters
      the loss, so no square root is taken and the gradient stays finite at
      `d_hat = 0`. The reconstruction term averages over `x` and `x_prime`,
      which go through the encoder as one concatenated batch (so
      BatchNormalization sees both).

    Optional `sample_weight` weights each sample's (pair's) terms, with
    Keras' `sum_over_batch_size` reduction. Regularisation losses of the
    encoder and decoder (`model.losses`) are added to the total.

    Compile with an optimizer only (`model.compile(optimizer="adam")`); the
    loss is built in, and `fit()` logs `loss`, `reconstruction_loss` and
    `invariance_loss` (the unweighted `l_inv`), which `evaluate()` returns
    too. As in Keras' TF trainer, every term is divided by the number of
    replicas in sync before the gradient, and `optimizer.scale_loss` is
    applied to the total inside the tape; the metrics get unscaled values.
    `invariance_weight`, `alpha` and `delta` live in non-trainable float32
    variables (saved with the model), so assigning e.g.
    `model.invariance_weight = 2.0` between epochs takes effect without
    retracing.

    Calling the model returns the reconstruction `g(f(x))` (for a pair
    `(x, x_prime)`, the pair of reconstructions); use `invariant_code(x)`
    for `z_inv`.

    Example:

    >>> from keras_invariance.pairs.networks import build_mlp
    >>> enc = build_mlp(4, 3, depth=1, width=8)
    >>> dec = build_mlp(3, 4, depth=1, width=8)
    >>> ae = InvariantAutoencoder(enc, dec, invariant_dim=2, mode="pairs")
    >>> ae.compile(optimizer="adam")
    >>> x = np.random.uniform(-1, 1, (16, 4)).astype("float32")
    >>> d = np.zeros((16,), "float32")
    >>> history = ae.fit((x, np.roll(x, 1, axis=1)), d, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['invariance_loss', 'loss', 'reconstruction_loss']
    >>> tuple(ae.invariant_code(x).shape)
    (16, 2)

    Args:
        encoder: A `keras.Model` (or layer) mapping `(batch, features)` to a
            code of width `>= invariant_dim`.
        decoder: A `keras.Model` (or layer) mapping the full code back to
            `(batch, features)`.
        invariant_dim: Number of leading code columns that form `z_inv`.
            May equal the code width (no variant part), as in §3 when the
            whole code is `DFT(x)`.
        mode: `"pairs"` (default) or `"target"`.
        invariance_weight: lambda >= 0, the weight of `l_inv`. The paper uses
            8 in §3.
        alpha: alpha > 0 of eq. (2).
        delta: delta > 0 of eq. (2); keeps `1 / (delta + alpha d^2)` finite at
            `d = 0`.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: For a bad `mode`, negative `invariance_weight`,
            non-positive `alpha`/`delta`, a code narrower than
            `invariant_dim`, data that does not match `mode`, a target of the
            wrong width, or a compiled `loss`.
        RuntimeError: When training on a backend other than TensorFlow.

    Reference:
        H. Zhang and T. Arodz, "Learning Invariance in Deep Neural Networks":
        eq. (1) and §2 (architecture), §3 (supervised target, lambda = 8),
        §5 eq. (2) (pairwise invariance loss).
    """

    def __init__(
        self,
        encoder,
        decoder,
        invariant_dim,
        mode="pairs",
        invariance_weight=1.0,
        alpha=1.0,
        delta=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(
                f"`mode` must be 'pairs' (triples (x, x', d), eq. 2) or "
                f"'target' (pairs (x, z_star), §3), got {mode!r}."
            )
        check_sizes(invariant_dim=invariant_dim)
        self.encoder = encoder
        self.decoder = decoder
        self.invariant_dim = invariant_dim
        self.mode = mode
        self._invariance_weight = add_hyperparameter(
            self, "invariance_weight", invariance_weight
        )
        self._alpha = add_hyperparameter(
            self, "alpha", check_positive("alpha", alpha), validate=False
        )
        self._delta = add_hyperparameter(
            self, "delta", check_positive("delta", delta), validate=False
        )
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(
            name="reconstruction_loss"
        )
        self.invariance_loss_tracker = keras.metrics.Mean(
            name="invariance_loss"
        )
        if getattr(encoder, "built", False) and \
                getattr(decoder, "built", False):
            # Training calls the encoder and decoder directly, never
            # `self`, so without this the model would stay unbuilt and
            # saving would drop the optimizer state.
            self.built = True
        code_width = self._static_code_width()
        if code_width is not None and code_width < invariant_dim:
            raise ValueError(
                f"The encoder's code has width {code_width}, smaller than "
                f"invariant_dim={invariant_dim}. Give the encoder at least "
                "invariant_dim outputs (invariant part first)."
            )
        decoder_width = _static_width(decoder, "input_shape")
        if None not in (code_width, decoder_width) and \
                code_width != decoder_width:
            raise ValueError(
                f"The encoder's code has width {code_width} but the decoder "
                f"expects inputs of width {decoder_width}. The decoder "
                "reconstructs x from the whole code [z_inv, z_var]; make "
                "their widths equal."
            )

    def _static_code_width(self):
        return _static_width(self.encoder, "output_shape")

    # Hyperparameters read as floats and assign into their variables, so the
    # traced train step sees new values without retracing.
    @property
    def invariance_weight(self):
        return value_of(self._invariance_weight)

    @invariance_weight.setter
    def invariance_weight(self, value):
        self._invariance_weight.assign(
            check_non_negative("invariance_weight", value)
        )

    @property
    def alpha(self):
        return value_of(self._alpha)

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(check_positive("alpha", value))

    @property
    def delta(self):
        return value_of(self._delta)

    @delta.setter
    def delta(self, value):
        self._delta.assign(check_positive("delta", value))

    @property
    def metrics(self):
        return [
            self.total_loss_tracker,
            self.reconstruction_loss_tracker,
            self.invariance_loss_tracker,
        ]

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and \
                isinstance(input_shape[0], (list, tuple)):
            input_shape = input_shape[0]
        if not self.encoder.built:
            self.encoder.build(input_shape)
        if not self.decoder.built:
            code_shape = self.encoder.compute_output_shape(input_shape)
            self.decoder.build(code_shape)
        self.built = True

    def encode(self, x, training=None):
        """Returns the full code `z = f(x)`."""
        z = self.encoder(x, training=training)
        width = z.shape[-1]
        if width is not None and width < self.invariant_dim:
            raise ValueError(
                f"The encoder's code has width {width}, smaller than "
                f"invariant_dim={self.invariant_dim}. Give the encoder at "
                "least invariant_dim outputs (invariant part first)."
            )
        return z

    def invariant_code(self, x, training=None):
        """Returns `z_inv(x)`, the first `invariant_dim` code columns."""
        return self.encode(x, training=training)[..., : self.invariant_dim]

    def variant_code(self, x, training=None):
        """Returns the variant part `z[..., invariant_dim:]` of the code."""
        return self.encode(x, training=training)[..., self.invariant_dim:]

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            return tuple(self.call(x, training=training) for x in inputs)
        return self.decoder(self.encode(inputs, training=training),
                            training=training)

    def _check_backend(self):
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(
                "InvariantAutoencoder's train_step/test_step are written for "
                "the TensorFlow backend, but KERAS_BACKEND is "
                f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow "
                "before importing keras."
            )
        if keras_compat.compile_loss(self) is not None:
            raise ValueError(
                "InvariantAutoencoder builds its own loss (reconstruction + "
                "invariance_weight * invariance); compile it without `loss=`, "
                "e.g. model.compile(optimizer='adam')."
            )

    def _unpack(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if self.mode == "pairs":
            if not (isinstance(x, (list, tuple)) and len(x) == 2):
                raise ValueError(
                    "mode='pairs' expects data ((x, x_prime), d): x must be a "
                    "tuple of two feature batches and y the distances d. Got "
                    f"x of type {type(x).__name__}. For (x, z_star) data use "
                    "mode='target'."
                )
            if y is None:
                raise ValueError(
                    "mode='pairs' needs the distances d as targets: fit on "
                    "((x, x_prime), d)."
                )
        else:
            if isinstance(x, (list, tuple)):
                raise ValueError(
                    "mode='target' expects data (x, z_star) with a single "
                    "feature batch x; got a tuple of inputs. For pairs "
                    "((x, x_prime), d) use mode='pairs'."
                )
            if y is None:
                raise ValueError(
                    "mode='target' needs the target code z_star: fit on "
                    "(x, z_star)."
                )
        return x, y, sample_weight

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns `(reconstruction_loss, invariance_loss)`, float32 scalars.

        Args:
            x: Features `(batch, features)` (`mode="target"`) or a pair
                `(x, x_prime)` (`mode="pairs"`).
            y: `z_star` `(batch, invariant_dim)` or distances `d` `(batch,)`.
            sample_weight: Optional per-sample weights `(batch,)`.
            training: Passed to the encoder and decoder.

        Returns:
            A tuple of two scalars, before `invariance_weight` is applied.
        """
        if self.mode == "pairs":
            x1, x2 = x
            x1 = ops.convert_to_tensor(x1)
            x2 = ops.convert_to_tensor(x2)
            n = ops.shape(x1)[0]
            both = ops.concatenate([x1, x2], axis=0)
            z = ops.cast(self.encode(both, training=training), "float32")
            recon = ops.cast(self.decoder(z, training=training), "float32")
            per_sample = ops.mean(
                ops.square(ops.cast(both, "float32") - recon), axis=-1
            )
            reconstruction = 0.5 * (per_sample[:n] + per_sample[n:])
            z_inv = z[:, : self.invariant_dim]
            d_hat_sq = ops.sum(ops.square(z_inv[:n] - z_inv[n:]), axis=-1)
            d = ops.reshape(ops.cast(y, "float32"), (-1,))
            invariance = ops.square(
                1.0 / (self._delta + self._alpha * ops.square(d))
                - 1.0 / (self._delta + self._alpha * d_hat_sq)
            )
        else:
            z = ops.cast(self.encode(x, training=training), "float32")
            recon = ops.cast(self.decoder(z, training=training), "float32")
            reconstruction = ops.mean(
                ops.square(ops.cast(x, "float32") - recon), axis=-1
            )
            target = ops.cast(y, "float32")
            if target.shape[-1] is not None and \
                    target.shape[-1] != self.invariant_dim:
                raise ValueError(
                    f"mode='target' got z_star of width {target.shape[-1]} "
                    f"but invariant_dim={self.invariant_dim}; they must be "
                    "equal (z_star is compared with z[..., :invariant_dim])."
                )
            invariance = ops.mean(
                ops.square(z[:, : self.invariant_dim] - target), axis=-1
            )
        return (
            numerics.weighted_mean(reconstruction, sample_weight),
            numerics.weighted_mean(invariance, sample_weight),
        )

    def _update_trackers(self, total, reconstruction, invariance, x):
        batch = ops.shape(x[0] if isinstance(x, (list, tuple)) else x)[0]
        self.total_loss_tracker.update_state(total, sample_weight=batch)
        self.reconstruction_loss_tracker.update_state(
            reconstruction, sample_weight=batch
        )
        self.invariance_loss_tracker.update_state(
            invariance, sample_weight=batch
        )
        return {m.name: m.result() for m in self.metrics}

    def _total(self, reconstruction, invariance):
        total = reconstruction + self._invariance_weight * invariance
        if self.losses:
            total = total + ops.cast(ops.sum(self.losses), "float32")
        return total

    def train_step(self, data):
        self._check_backend()
        import tensorflow as tf

        x, y, sample_weight = self._unpack(data)
        with tf.GradientTape() as tape:
            reconstruction, invariance = self.compute_terms(
                x, y, sample_weight, training=True
            )
            total = self._total(reconstruction, invariance)
            # The engine's scaling (InvariantModel's step uses the same two
            # helpers): gradients are summed over replicas, so each
            # replica's loss is divided by their number, then loss-scaled.
            scaled = scale_for_optimizer(self, scale_for_distribution(total))
        trainable_weights = self.trainable_weights
        gradients = tape.gradient(scaled, trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, trainable_weights))
        return self._update_trackers(total, reconstruction, invariance, x)

    def test_step(self, data):
        self._check_backend()
        x, y, sample_weight = self._unpack(data)
        reconstruction, invariance = self.compute_terms(
            x, y, sample_weight, training=False
        )
        total = self._total(reconstruction, invariance)
        return self._update_trackers(total, reconstruction, invariance, x)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "invariant_dim": self.invariant_dim,
                "mode": self.mode,
                "invariance_weight": self.invariance_weight,
                "alpha": self.alpha,
                "delta": self.delta,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Deserialization consumes nested dicts; keep the caller's intact.
        config = copy.deepcopy(config)
        config["encoder"] = keras.saving.deserialize_keras_object(
            config["encoder"]
        )
        config["decoder"] = keras.saving.deserialize_keras_object(
            config["decoder"]
        )
        return cls(**config)
