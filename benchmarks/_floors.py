"""Floors: each method's passes written directly with `tf.GradientTape`.

No keras_invariance code runs here. Each floor is a `keras.Model` whose
`train_step` does the least work the method's mathematics needs, with the
cheapest autodiff arrangement we know, so that `fit()` adds the same fixed
per-step cost as it adds to plain training. The package's ratio divided by
the floor's ratio is the implementation's overhead ("gap"); a gap above 1.2
is a defect.

* `plain`: L(x), one forward and one backward (≈ plain `fit()`).
* `irl_k1`: one forward/backward over [x, x + σε] (2B rows) with the
  L2-cosine distance of the logits.
* `loss_ibp`: ∇x ℓ kept differentiable, β‖∇x ℓ‖₁, double backpropagation.
* `loss_ibp_forward_over_reverse`: the same objective and weight gradient
  without a second backward: g = ∇x ℓ from a tape that watches only x, then
  one weight backward of ℓ under a `ForwardAccumulator` along s = sign(g);
  its jvp is ∂⟨∇x ℓ, s⟩/∂w, the penalty's weight gradient.
* `prediction_ibp`: g = ∇x ℓ, J·g by the transpose of a vjp, ‖J·g‖₁.
* `fast_at`: ∇x L from a tape that watches only x (no weight gradients of
  the clean pass), x* = x + ε/2·sign(∇x L), then L(x*) forward and backward:
  the paper's fast AT.
* `fgsm_at`: one backward of ½L(x) for both ∇x and the weight gradients,
  then ½L(x*) forward and backward.
* `jacobian_proj1`: one random projection vᵀJ of the outputs (a vjp kept
  differentiable), ‖vᵀJ‖², double backpropagation as for `loss_ibp`.
* `vat`: one power iteration (forward at x + ξd, backward to d), then
  L(x) + KL(p(x) ‖ p(x + ε d̂)).
* `tangent_bp`: the clean pass as the shared linearisation, one transposed
  vjp per tangent (what `TangentProp` does, without the engine).
* `tangent_bp_linearised` (the 16×16 digits CNN only): the tangent pass
  written by hand through the linearised network (conv → ReLU mask → max
  pool selection → conv → ReLU mask → global max selection → dense), all
  tangents batched: the floor of the paper's Tangent BP.
"""

import keras
import tensorflow as tf

from keras_invariance import spatial

_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
_CE_ROWS = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)


class FloorModel(keras.Model):
    """Bare-tape training step of one method (see the module docstring)."""

    def __init__(self, base, kind, epsilon=0.1, **kwargs):
        super().__init__(**kwargs)
        self.base = base
        self.kind = kind
        self.epsilon = epsilon

    def call(self, x, training=None):
        return self.base(x, training=training)

    def train_step(self, data):
        x, y = data[0], data[1]
        weights = self.trainable_variables
        if hasattr(self, "_grads_" + self.kind):
            total, grads = getattr(self, "_grads_" + self.kind)(x, y, weights)
        else:
            with tf.GradientTape() as tape:
                total = getattr(self, "_" + self.kind)(x, y)
            grads = tape.gradient(total, weights)
        self.optimizer.apply(grads, weights)
        return {"loss": total}

    def _plain(self, x, y):
        return _CE(y, self.base(x, training=True))

    def _irl_k1(self, x, y):
        noisy = x + 0.1 * tf.random.normal(tf.shape(x))
        out = self.base(tf.concat([x, noisy], 0), training=True)
        clean, pert = tf.split(out, 2)
        d = tf.reduce_sum(tf.square(clean - pert), -1) - 0.1 * tf.reduce_sum(
            tf.math.l2_normalize(clean, -1) * tf.math.l2_normalize(pert, -1), -1
        )
        return 0.5 * _CE(y, clean) + 0.5 * _CE(y, pert) + tf.reduce_mean(d)

    def _input_gradient(self, x, y, persistent=False):
        inner = tf.GradientTape(persistent=persistent, watch_accessed_variables=False)
        with inner:
            inner.watch(x)
            out = self.base(x, training=True)
            rows = _CE_ROWS(y, out)
            total = tf.reduce_sum(rows)
        return inner, out, rows, inner.gradient(total, x)

    def _loss_ibp(self, x, y):
        _, _, rows, g = self._input_gradient(x, y)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        return tf.reduce_mean(rows) + 0.03 * tf.reduce_sum(tf.abs(g)) / batch

    def _grads_loss_ibp_forward_over_reverse(self, x, y, weights):
        _, _, _, g = self._input_gradient(x, y)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        s = tf.stop_gradient(tf.sign(g))
        with tf.autodiff.ForwardAccumulator(x, s) as acc:
            with tf.GradientTape() as tape:
                loss = _CE(y, self.base(x, training=True))
            grads = tape.gradient(loss, weights)
        # g is ∇x of the summed loss, B·∇x of the mean, so the penalty's
        # weight gradient 0.03/B · ∂⟨g, s⟩/∂w is 0.03 · jvp(∇w mean, s).
        total = loss + 0.03 * tf.reduce_sum(tf.abs(g)) / batch
        tangents = acc.jvp(grads, unconnected_gradients="zero")
        return total, [gw + 0.03 * jw for gw, jw in zip(grads, tangents)]

    def _prediction_ibp(self, x, y):
        inner, out, rows, g = self._input_gradient(x, y, persistent=True)
        u = tf.zeros_like(out)
        with tf.GradientTape(watch_accessed_variables=False) as transpose:
            transpose.watch(u)
            v = inner.gradient(out, x, output_gradients=u)
            along = tf.reduce_sum(v * g)
        jg = transpose.gradient(along, u)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        return tf.reduce_mean(rows) + tf.reduce_sum(tf.abs(jg)) / batch

    def _jacobian_proj1(self, x, y):
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(x)
            out = self.base(x, training=True)
        v = tf.sign(tf.random.uniform(tf.shape(out)) - 0.5)
        projected = inner.gradient(out, x, output_gradients=v)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        return _CE(y, out) + 0.05 * tf.reduce_sum(tf.square(projected)) / batch

    def _fast_at(self, x, y):
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(x)
            loss = _CE(y, self.base(x, training=True))
        g = tf.stop_gradient(inner.gradient(loss, x))
        return _CE(y, self.base(x + 0.5 * self.epsilon * tf.sign(g), training=True))

    def _fgsm_at(self, x, y):
        # The weight tape and the x-watching tape are one: the backward of
        # ½L(x) gives ∇x and (later, from the outer tape) the weight grads.
        with tf.GradientTape(watch_accessed_variables=False) as inner:
            inner.watch(x)
            clean = 0.5 * _CE(y, self.base(x, training=True))
        g = tf.stop_gradient(inner.gradient(clean, x))
        return clean + 0.5 * _CE(y, self.base(x + self.epsilon * tf.sign(g), training=True))

    def _vat(self, x, y):
        out = self.base(x, training=True)
        p = tf.stop_gradient(tf.nn.softmax(out))
        d = tf.random.normal(tf.shape(x))
        d = 1e-6 * tf.math.l2_normalize(d, axis=tuple(range(1, len(x.shape))))
        with tf.GradientTape(watch_accessed_variables=False) as search:
            search.watch(d)
            q = tf.nn.log_softmax(self.base(x + d, training=True))
            kl = tf.reduce_sum(p * (tf.math.log(p + 1e-12) - q))
        r = tf.stop_gradient(tf.math.l2_normalize(
            search.gradient(kl, d), axis=tuple(range(1, len(x.shape)))))
        q = tf.nn.log_softmax(self.base(x + r, training=True))
        kl = tf.reduce_mean(tf.reduce_sum(p * (tf.math.log(p + 1e-12) - q), -1))
        return _CE(y, out) + kl

    def _tangents(self, x):
        return tf.stop_gradient(spatial.tangent_vectors(x, spatial.IBP_TANGENTS, sigma=0.9))

    def _tangent_bp(self, x, y):
        t = self._tangents(x)
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as inner:
            inner.watch(x)
            out = self.base(x, training=True)
        r = 0.0
        for k in range(t.shape[1]):
            u = tf.zeros_like(out)
            with tf.GradientTape(watch_accessed_variables=False) as transpose:
                transpose.watch(u)
                along = tf.reduce_sum(inner.gradient(out, x, output_gradients=u) * t[:, k])
            r += tf.reduce_sum(tf.square(transpose.gradient(along, u)))
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        return _CE(y, out) + 0.01 * r / batch

    def _tangent_bp_linearised(self, x, y):
        conv1, _, conv2, _, dense = self.base.layers[1:]
        t = self._tangents(x)
        count, size = t.shape[1], x.shape[1]
        z1 = tf.nn.conv2d(x, conv1.kernel, 1, "SAME") + conv1.bias
        a1 = tf.nn.relu(z1)
        p1 = tf.nn.max_pool2d(a1, 2, 2, "VALID")
        z2 = tf.nn.conv2d(p1, conv2.kernel, 1, "SAME") + conv2.bias
        a2 = tf.nn.relu(z2)
        g = tf.reduce_max(a2, axis=(1, 2))
        out = tf.matmul(g, dense.kernel) + dense.bias
        # Piecewise linear: the linearised network is masks and selections.
        up = tf.repeat(tf.repeat(p1, 2, 1), 2, 2)
        m1 = tf.stop_gradient(tf.cast(z1 > 0, x.dtype) * tf.cast(tf.equal(a1, up), x.dtype))
        m2 = tf.stop_gradient(
            tf.cast(z2 > 0, x.dtype) * tf.cast(tf.equal(a2, g[:, None, None, :]), x.dtype))
        u1 = tf.nn.conv2d(tf.reshape(t, (-1, size, size, 1)), conv1.kernel, 1, "SAME")
        u1 = tf.reshape(u1, (-1, count) + tuple(u1.shape[1:])) * m1[:, None]
        pooled = 4.0 * tf.nn.avg_pool2d(tf.reshape(u1, (-1,) + tuple(u1.shape[2:])), 2, 2, "VALID")
        u2 = tf.nn.conv2d(pooled, conv2.kernel, 1, "SAME")
        u2 = tf.reshape(u2, (-1, count) + tuple(u2.shape[1:])) * m2[:, None]
        jvp = tf.matmul(tf.reshape(tf.reduce_sum(u2, axis=(2, 3)), (-1, u2.shape[-1])),
                        dense.kernel)
        batch = tf.cast(tf.shape(x)[0], tf.float32)
        return _CE(y, out) + 0.01 * tf.reduce_sum(tf.square(jvp)) / batch


#: Floors per package method name (suite method → floor kind).
FLOOR_OF = {
    "plain": "plain",
    "irl_k1": "irl_k1",
    "loss_ibp": "loss_ibp",
    "prediction_ibp": "prediction_ibp",
    "jacobian_proj1": "jacobian_proj1",
    "fast_at": "fast_at",
    "fgsm_at": "fgsm_at",
    "vat": "vat",
    "tangent_bp": "tangent_bp",
}

#: Floors of other formulations of the same method (package method → kinds):
#: the gap to each says whether another autodiff arrangement would be cheaper.
ALTERNATIVES = {
    "loss_ibp": ("loss_ibp_forward_over_reverse",),
    "tangent_bp": ("tangent_bp_linearised",),
}

#: Every floor as a suite method name (``floor_<kind>``).
FLOOR_METHODS = frozenset(
    "floor_" + kind
    for kind in (*FLOOR_OF.values(), *(k for kinds in ALTERNATIVES.values() for k in kinds))
)
