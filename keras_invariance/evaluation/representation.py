"""Diagnostics of the representation: activation distances, Jacobian norms.

The IRL paper's Fig. 1 explains why its methods are robust by looking
inside the network: (a) the mean L2 and (b) the mean cosine distance between
each layer's activations on clean and on noised test inputs, and (c) the
norm of each layer's Jacobian ∂a_ℓ/∂x on clean inputs. Smaller distances
mean the layer is more invariant to the noise; a smaller Jacobian means a
smoother layer (IRL's distance penalizes it, eq. 7). Both functions work on
any Sequential or Functional Keras model (layers by name, as the penalties
tap them) and on subclassed models through `keras_invariance.Tap` layers.

Every pass runs in inference mode (`training=False`).

Reference:
    Salazar et al., "Invariant Representation Learning for Robust Deep
    Networks" (2018), Fig. 1 and eq. 7.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from keras_invariance import distances
from keras_invariance.evaluation import common
from keras_invariance.graph import taps as taps_lib
from keras_invariance.utils import keras_compat
from keras_invariance.utils import validation


def _plain(model):
    """The plain network of an `InvariantModel`, or the model itself."""
    try:
        return getattr(model, "base_model", None) or model
    except AttributeError:  # a subclassed InvariantModel is its own network
        return model


def default_layers(model):
    """The layers the diagnostics read by default: those with weights.

    Every layer with trainable weights, in call order, with the output layer
    named `"logits"` (as the penalties name it). A subclassed model has no
    graph to read: its `keras_invariance.Tap` layers, then `"logits"`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(8, name="hidden"), keras.layers.Dropout(0.1),
    ...     keras.layers.Dense(3, name="out")])
    >>> default_layers(model)
    ['hidden', 'logits']

    Args:
        model: A Keras model (an `InvariantModel` reads its `base_model`).

    Returns:
        A list of tap names.
    """
    model = _plain(model)
    if not taps_lib.is_graph_model(model):
        names = [layer.name for layer in keras_compat.flatten_layers(model)
                 if isinstance(layer, taps_lib.Tap)]
        return names + [taps_lib.LOGITS]
    names = [layer.name for layer in model.layers if layer.trainable_weights
             and not isinstance(layer, keras.layers.InputLayer)]
    output_layer = taps_lib.tappable_layer_names(model)[-1]
    return [n for n in names if n != output_layer] + [taps_lib.LOGITS]


# Compiled probes per model, so that a callback reading the same model every
# epoch does not retrace. Weak keys let models be freed; the probes hold the
# model only weakly (an extractor shares its layers, not the model object).
_PROBES = weakref.WeakKeyDictionary()


def _cached(model, key, build):
    try:
        per_model = _PROBES.setdefault(model, {})
    except TypeError:  # not weak-referenceable
        return build()
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


class _Reader:
    """Runs the model once and returns `{tap name: activation}` in order."""

    def __init__(self, model, layers, who):
        self.graph = taps_lib.is_graph_model(model)
        spec = default_layers(model) if layers is None else layers
        try:
            self.names = taps_lib.resolve(spec, model, subclassed=not self.graph)
        except ValueError as error:
            raise ValueError(f"{who}: `layers`: {error}") from None
        inner = [n for n in self.names if n != taps_lib.LOGITS]
        self.extractor = None
        self.model = weakref.ref(model)
        if self.graph and inner:
            self.extractor = taps_lib.build_extractor(model, inner)
        self.inner = inner

    def __call__(self, x):
        if self.extractor is not None:
            outputs, *activations = self.extractor(x, training=False)
            found = dict(zip(self.inner, activations))
        else:
            with taps_lib.record_taps() as recorded:
                outputs = self.model()(x, training=False)
            taps_lib.check_recorded(self.inner, recorded)
            found = dict(recorded)
        found[taps_lib.LOGITS] = outputs
        return {n: found[n] for n in self.names}


def _flat32(t):
    return tf.reshape(tf.cast(t, "float32"), [tf.shape(t)[0], -1])


def _layer_key(layers):
    if layers is None or isinstance(layers, str):
        return layers
    return tuple(layers)


def _distance_probe(model, layers):
    reader = _Reader(model, layers, "activation_distances")

    @tf.function(reduce_retracing=True)
    def batch_sums(clean, noisy):
        a, b = reader(clean), reader(noisy)
        sums = {}
        for name in reader.names:
            u, v = _flat32(a[name]), _flat32(b[name])
            l2 = tf.sqrt(tf.reduce_sum(tf.square(u - v), axis=-1))
            cosine = 1.0 - distances.cosine_similarity(u, v)
            # Identical rows are at distance 0, also where cos is undefined.
            cosine = tf.where(tf.reduce_all(tf.equal(u, v), axis=-1), 0.0, cosine)
            sums[name] = (tf.reduce_sum(l2), tf.reduce_sum(cosine))
        return sums

    return reader, batch_sums


def _jacobian_probe(model, layers, num_projections):
    """`(reader, squared norms fn)` for one model and its settings."""
    reader = _Reader(model, layers, "jacobian_norms")

    @tf.function(reduce_retracing=True)
    def squared_norms(xb, vectors):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xb)
            acts = reader(xb)
            flat = {n: tf.reshape(acts[n], [tf.shape(xb)[0], -1]) for n in reader.names}
        result = {}
        for name in reader.names:
            if name in vectors:
                total = 0.0
                for v in tf.unstack(vectors[name]):
                    g = tape.gradient(acts[name], xb,
                                      output_gradients=tf.cast(v, acts[name].dtype))
                    total += tf.reduce_sum(_flat32(g) ** 2, axis=-1)
                result[name] = total / float(num_projections)
            else:
                jac = tape.batch_jacobian(flat[name], xb)
                result[name] = tf.reduce_sum(_flat32(jac) ** 2, axis=-1)
        del tape
        return result

    return reader, squared_norms


def activation_distances(model, x, x_perturbed, layers=None, batch_size=256):
    """Mean L2 and cosine distance between clean and perturbed activations.

    For every tapped layer ℓ and example i (activations flattened):
    `l2` = mean_i ‖a_ℓ(x_i) − a_ℓ(x̃_i)‖₂ and `cosine` = mean_i (1 −
    cos(a_ℓ(x_i), a_ℓ(x̃_i))), the IRL paper's Fig. 1a and 1b before their
    normalization to a baseline model (divide by the baseline's values to
    draw them; `keras_invariance.evaluation.plots.plot_per_layer` does).

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)),
    ...     keras.layers.Dense(4, name="hidden"), keras.layers.Dense(3)])
    >>> x = np.ones((4, 2), "float32")
    >>> d = activation_distances(model, x, x + 0.1)
    >>> sorted(d), sorted(d["hidden"])
    (['hidden', 'logits'], ['cosine', 'l2'])
    >>> activation_distances(model, x, x)["logits"]["l2"]
    0.0

    Args:
        model: A Keras model (an `InvariantModel` reads its `base_model`).
        x: Clean float inputs.
        x_perturbed: Perturbed inputs, one per row of `x` (e.g.
            `keras_invariance.evaluation.add_gaussian_noise(x, 0.3)`).
        layers: Tap names as the penalties take them (a name, `"logits"`,
            `"above:<name>"`, or a list); default `default_layers(model)`.
        batch_size: Rows per pass.

    Returns:
        `{layer: {"l2": float, "cosine": float}}`, in layer order.

    Raises:
        ValueError: For unknown layers, integer inputs, or inputs of
            different shapes.
    """
    who = "activation_distances"
    validation.check_float(x, who)
    validation.check_float(x_perturbed, who)
    x, x_perturbed = np.asarray(x), np.asarray(x_perturbed)
    if x.shape != x_perturbed.shape:
        raise ValueError(
            f"{who}: `x_perturbed` must have the shape of `x` {x.shape}; "
            f"received {x_perturbed.shape}."
        )
    common.check_batch_size(batch_size)
    model = _plain(model)
    key = ("distances", _layer_key(layers))
    reader, batch_sums = _cached(model, key, lambda: _distance_probe(model, layers))
    totals = {name: np.zeros(2) for name in reader.names}
    for start in range(0, len(x), batch_size):
        sums = batch_sums(tf.constant(x[start:start + batch_size]),
                          tf.constant(x_perturbed[start:start + batch_size]))
        for name in reader.names:
            totals[name] += [float(sums[name][0]), float(sums[name][1])]
    n = max(len(x), 1)
    return {name: {"l2": float(t[0] / n), "cosine": float(t[1] / n)}
            for name, t in totals.items()}


def jacobian_norms(model, x, layers=None, max_exact_size=256,
                   num_projections=16, seed=0, batch_size=64):
    """Mean Frobenius norm of each layer's Jacobian ∂a_ℓ/∂x on `x`.

    Returns mean_i ‖∂a_ℓ(x_i)/∂x_i‖_F per tapped layer (the IRL paper's
    Fig. 1c). Layers with at most `max_exact_size` units per example get the
    exact norm (one vectorized Jacobian); larger ones (convolution maps) the
    random-projection estimate ‖J‖²_F ≈ (1/n) Σ_j ‖v_jᵀ J‖² with v_j ~ N(0, I)
    (unbiased for ‖J‖²_F, since E[v vᵀ] = I), square-rooted per example.
    The projections are NumPy draws from `seed`, so the result is
    reproducible. Rows are independent in inference mode, so ∂Σ_i a(x_i)/∂x_i
    is row i's Jacobian.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
    ...     2, kernel_initializer="ones", name="out")])
    >>> round(jacobian_norms(model, np.zeros((4, 3), "float32"))["logits"], 4)
    2.4495

    Args:
        model: A Keras model (an `InvariantModel` reads its `base_model`)
            with one float input.
        x: Float inputs.
        layers: Tap names (default `default_layers(model)`).
        max_exact_size: Largest layer (units per example) computed exactly.
        num_projections: n, projections for larger layers (an int ≥ 1).
        seed: NumPy seed of the projections.
        batch_size: Rows per pass.

    Returns:
        `{layer: float}`, in layer order.

    Raises:
        ValueError: For unknown layers, integer or several inputs, or a
            `num_projections` < 1.
    """
    who = "jacobian_norms"
    validation.check_float(x, who, validation.EMBEDDING_HINT)
    validation.check_single_input(x, who)
    if int(num_projections) != num_projections or num_projections < 1:
        raise ValueError(
            f"{who}: `num_projections` must be an integer ≥ 1; received "
            f"{num_projections!r}."
        )
    common.check_batch_size(batch_size)
    x = np.asarray(x)
    model = _plain(model)
    key = ("jacobian", _layer_key(layers), int(num_projections))
    reader, squared_norms = _cached(
        model, key,
        lambda: _jacobian_probe(model, layers, int(num_projections)),
    )
    if not len(x):
        return {name: 0.0 for name in reader.names}
    shapes = {n: tuple(a.shape[1:]) for n, a in reader(tf.constant(x[:1])).items()}
    projected = [n for n in reader.names if int(np.prod(shapes[n])) > max_exact_size]
    rng = np.random.default_rng(seed)

    totals = {name: 0.0 for name in reader.names}
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        vectors = {
            n: tf.constant(rng.standard_normal(
                (int(num_projections), len(xb)) + shapes[n]
            ).astype("float32"))
            for n in projected
        }
        norms = squared_norms(tf.constant(xb), vectors)
        for name in reader.names:
            totals[name] += float(np.sum(np.sqrt(np.maximum(norms[name].numpy(), 0.0))))
    n = max(len(x), 1)
    return {name: totals[name] / n for name in reader.names}

