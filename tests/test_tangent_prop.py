"""TangentProp and FastTangentProp: explicit Jacobians, invariance, training."""

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import spatial
from keras_invariance.penalties.tangent_prop import FastTangentProp
from keras_invariance.penalties.tangent_prop import TangentProp
from keras_invariance.presets import FastTangentBP
from keras_invariance.presets import TangentBP
from tests.engine_checks import SCCE
from tests.engine_checks import check_distribution_equivalence
from tests.engine_checks import check_save_load
from tests.engine_checks import normalized
from tests.models import same_cnn_3 as tiny_cnn

H = W = 6


def images(n=4, seed=0, size=H):
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 1)).astype("float32")


def labels(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 3, size=(n,)).astype("int32")


def explicit_tangent_prop(base, x, transforms, sigma, order=2, softmax=False):
    """Σ_t mean_b ‖J_b t_bt‖ from the full Jacobian (GradientTape.jacobian)."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = base(x, training=True)
        if softmax:
            out = tf.nn.softmax(out)
    jac = tape.batch_jacobian(out, x)  # (B, classes, H, W, C)
    t = spatial.tangent_vectors(x, transforms, sigma=sigma)  # (B, T, H, W, C)
    jvp = tf.einsum("bkhwc,bthwc->btk", jac, t)
    power = tf.abs(jvp) if order == 1 else tf.square(jvp)
    return tf.reduce_mean(tf.reduce_sum(power, axis=[1, 2]))


def objective_model(base, penalty):
    model = ki.InvariantModel(base, alpha=1.0, penalties=[penalty])
    model.compile("sgd", SCCE)
    return model


@pytest.mark.parametrize("jvp_method", ["forward", "double_vjp", "auto"])
@pytest.mark.parametrize(
    "transforms,sigma,order,softmax",
    [
        (spatial.IBP_TANGENTS, 0.9, 2, False),
        (spatial.IBP_TANGENTS, 0.0, 1, False),
        (
            [keras.layers.RandomTranslation(0.1, 0.2), keras.layers.RandomRotation(0.05),
             keras.layers.RandomBrightness(0.2, value_range=(0, 1))],
            0.9, 2, True,
        ),
    ],
)
def test_tangent_prop_equals_explicit_jacobian(transforms, sigma, order, softmax, jvp_method):
    x, y = images(), labels()
    base = tiny_cnn()
    penalty = TangentProp(transforms=transforms, sigma=sigma, order=order, softmax=softmax,
                          scale="paper", jvp_method=jvp_method)
    model = objective_model(base, penalty)
    _, terms = model.compute_objective(x, y)
    expected = explicit_tangent_prop(base, x, transforms, sigma, order, softmax)
    np.testing.assert_allclose(float(terms["tangent_prop"]), float(expected), rtol=1e-4)


@pytest.mark.parametrize(
    "jvp_method,training",
    [("forward", True), ("double_vjp", True), ("auto", True), ("double_vjp", False)],
)
def test_tangent_prop_weight_gradient_equals_explicit_jacobian(jvp_method, training):
    """The jvp trains: ∂R/∂w through the engine = ∂R/∂w of the explicit R.

    `training=False` takes the extra B·T-row pass (the tiny CNN has no
    BatchNorm or dropout, so both flags differentiate the same function).
    """
    x, y = images(seed=1), labels(seed=1)
    base = tiny_cnn()
    penalty = TangentProp(weight=1.0, jvp_method=jvp_method, training=training,
                          scale="paper")
    model = ki.InvariantModel(base, alpha=0.0, penalties=[penalty])
    model.compile("sgd", SCCE)
    weights = base.trainable_weights
    with tf.GradientTape() as tape:
        total, _ = model.compute_objective(x, y)
    engine = tape.gradient(total, weights)
    with tf.GradientTape() as tape:
        explicit = explicit_tangent_prop(base, x, spatial.IBP_TANGENTS, 0.9)
    reference = tape.gradient(explicit, weights)
    checked = 0
    for w, a, b in zip(weights, engine, reference):
        # R does not depend on the output bias: no gradient on either side.
        a = np.zeros(w.shape) if a is None else a.numpy()
        b = np.zeros(w.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
        checked += int(np.any(b != 0))
    assert checked >= 3


@pytest.mark.parametrize(
    "jvp_method,training,passes",
    [("auto", True, 1), ("double_vjp", True, 1), ("forward", True, 2), ("auto", False, 2)],
)
def test_clean_pass_is_the_shared_linearisation(jvp_method, training, passes):
    """With the engine's pass, no forward pass is repeated (one per step)."""
    x, y = images(), labels()
    model = objective_model(tiny_cnn(), TangentProp(jvp_method=jvp_method, training=training))
    assert model.penalties[0].requires_input_gradient == (passes == 1)
    calls = []
    original = model._forward
    model._forward = lambda inputs, **kw: calls.append(inputs.shape[0]) or original(inputs, **kw)
    model.compute_objective(x, y)
    assert len(calls) == passes
    if passes == 2:
        assert calls[1] == len(x) * len(spatial.IBP_TANGENTS)


def test_auto_without_xla_takes_forward_mode_for_batch_norm_models():
    """The shared pass left a BatchNorm CNN's moving statistics off (87 %
    inference-mode accuracy against 98 % in training mode): `auto` keeps
    BatchNorm models on the forward-mode pass without XLA."""
    inputs = keras.Input((H, W, 1))
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3)(inputs))
    base = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    model = objective_model(base, TangentProp())
    calls = []
    original = model._forward
    model._forward = lambda inputs, **kw: calls.append(inputs.shape[0]) or original(inputs, **kw)
    model.compute_objective(images(), labels())
    assert calls == [4, 4 * len(spatial.IBP_TANGENTS)]


def test_preset_passes_jvp_method_and_keeps_it_in_its_config():
    model = TangentBP(tiny_cnn(size=8), jvp_method="double_vjp")
    assert model.penalties[0].jvp_method == "double_vjp"
    config = model.penalties[0].get_config()
    assert TangentProp.from_config(config).jvp_method == "double_vjp"


def test_the_shared_pass_of_batch_norm_models_is_exact():
    """BatchNorm, `jvp_method="double_vjp"`: one forward pass (traced, with
    the batch dimension hidden, see keras_invariance.ops.second_order), and each
    tangent's jvp is that of the whole training-mode batch moving along
    tangent t (the batch statistics follow): forward mode tangent by
    tangent, value and weight gradient."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((H, W, 1))
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3)(inputs))
    base = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    model = objective_model(base, TangentProp(scale="paper", jvp_method="double_vjp"))
    calls = []
    original = model._forward
    model._forward = lambda inputs, **kw: calls.append(inputs.shape[0]) or original(inputs, **kw)
    x, y = tf.constant(images(6)), tf.constant(labels(6))
    weights = base.trainable_weights

    @tf.function
    def engine(x, y):
        with tf.GradientTape() as tape:
            total, terms = model.compute_objective(x, y)
        return terms["tangent_prop"], tape.gradient(total, weights)

    value, grads = engine(x, y)
    assert calls == [None]
    t = spatial.tangent_vectors(x, spatial.IBP_TANGENTS, sigma=0.9)
    with tf.GradientTape() as tape:
        reference = 0.0
        for k in range(t.shape[1]):
            with tf.autodiff.ForwardAccumulator(x, t[:, k]) as accumulator:
                out = base(x, training=True)
            reference += tf.reduce_mean(tf.reduce_sum(tf.square(accumulator.jvp(out)), -1))
        total = tf.reduce_mean(SCCE(y, out)) + reference
    np.testing.assert_allclose(float(value), float(reference), rtol=1e-4)
    for w, a, b in zip(weights, grads, tape.gradient(total, weights)):
        a = np.zeros(w.shape) if a is None else a.numpy()
        b = np.zeros(w.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _mean_centered_model(size=H):
    """f(x − mean(x)): exactly invariant to brightness (tangent = 1)."""
    inputs = keras.Input((size, size, 1))
    centered = keras.layers.Lambda(
        lambda t: t - ops.mean(t, axis=(1, 2, 3), keepdims=True)
    )(inputs)
    h = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(centered)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    return keras.Model(inputs, outputs)


def test_tangent_prop_zero_for_invariant_model_positive_otherwise():
    x, y = images(8), labels(8)
    invariant = objective_model(_mean_centered_model(), TangentProp(transforms="brightness"))
    _, terms = invariant.compute_objective(x, y)
    assert abs(float(terms["tangent_prop"])) < 1e-10
    # A model that ignores the image is invariant to every tangent.
    inputs = keras.Input((H, W, 1))
    ignoring = keras.Model(
        inputs,
        keras.layers.Dense(3)(keras.layers.Lambda(lambda t: 0.0 * t[:, 0, 0, :] + 1.0)(inputs)),
    )
    _, terms = objective_model(ignoring, TangentProp()).compute_objective(x, y)
    assert abs(float(terms["tangent_prop"])) < 1e-10
    # The same architecture without the centering is not invariant.
    _, terms = objective_model(
        tiny_cnn(), TangentProp(transforms="brightness")).compute_objective(x, y)
    assert float(terms["tangent_prop"]) > 1e-2
    _, terms = objective_model(_mean_centered_model(), TangentProp()).compute_objective(x, y)
    assert float(terms["tangent_prop"]) > 1e-3


def test_fast_tangent_prop_equals_explicit_loss_gradient():
    x, y = images(), labels()
    sw = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    base = tiny_cnn()
    model = objective_model(base, FastTangentProp(sigma=0.9))
    _, terms = model.compute_objective(x, y, sw)
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        per_example = keras.losses.sparse_categorical_crossentropy(
            y, base(xt, training=True), from_logits=True
        )
        total = tf.reduce_sum(per_example)
    g = tape.gradient(total, xt)
    t = spatial.tangent_vectors(xt, spatial.IBP_TANGENTS, sigma=0.9)
    d = tf.einsum("bhwc,bthwc->bt", g, t)
    expected = np.mean(sw * np.sum(np.square(d.numpy()), axis=1))
    np.testing.assert_allclose(float(terms["fast_tangent_prop"]), expected, rtol=1e-4)


def test_num_projections_is_unbiased():
    x = images(2)
    base = tiny_cnn()
    exact = float(
        objective_model(base, TangentProp()).compute_objective(x, labels(2))[1]["tangent_prop"])
    model = objective_model(base, TangentProp(num_projections=64, seed=3))
    estimate = float(model.compute_objective(x, labels(2))[1]["tangent_prop"])
    np.testing.assert_allclose(estimate / 64.0, exact, rtol=0.35)


def test_unsupported_layer_lists_supported_ones():
    with pytest.raises(ValueError, match="RandomTranslation, RandomRotation, RandomZoom"):
        TangentProp(transforms=[keras.layers.RandomFlip()])
    with pytest.raises(ValueError, match="Supported names"):
        FastTangentProp(transforms=["shear"])
    with pytest.raises(ValueError, match="4-D float image batch"):
        model = objective_model(
            keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)]), TangentProp()
        )
        model.compute_objective(np.zeros((2, 6), "float32"), np.zeros((2,), "int32"))


def test_config_round_trip_with_layers():
    penalty = TangentProp(
        transforms=[keras.layers.RandomRotation(0.1), "translate_x"],
        sigma=0.5, weight=0.3, order=1, softmax=True, training=False,
        jvp_method="double_vjp",
    )
    with pytest.raises(ValueError, match="jvp_method"):
        TangentProp(jvp_method="reverse")
    config = penalty.get_config()
    again = TangentProp.from_config(config)
    assert normalized(again.get_config()) == normalized(config)
    assert isinstance(again.transforms[0], keras.layers.RandomRotation)
    fast = FastTangentProp(transforms="rotate", weight=0.2)
    assert normalized(FastTangentProp.from_config(fast.get_config()).get_config()) == normalized(
        fast.get_config()
    )
    # Registered for saving.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(penalty))
    assert isinstance(restored, TangentProp)


@pytest.mark.parametrize("fast", [False, True])
def test_jit_compile_training_and_logs(fast):
    x, y = images(32, seed=2, size=8), labels(32, seed=2)
    preset = FastTangentBP if fast else TangentBP
    model = preset(tiny_cnn(size=8), weight=0.1)
    model.compile(keras.optimizers.SGD(0.05), SCCE, jit_compile=True)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    name = "fast_tangent_prop" if fast else "tangent_prop"
    assert name in history.history and "clean_loss" in history.history
    assert np.all(np.isfinite(history.history[name]))
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    if not fast:
        # Under XLA, "auto" takes the double-vjp route (see TangentProp).
        assert model.penalties[0]._use_double_vjp(type("C", (), {"model": model}))


def test_tangent_prop_lowers_penalty_when_trained():
    x, y = images(32, seed=4, size=8), labels(32, seed=4)
    model = ki.InvariantModel(tiny_cnn(size=8), alpha=0.0, penalties=[TangentProp()])
    model.compile(keras.optimizers.SGD(0.05), SCCE, jit_compile=False)
    history = model.fit(x, y, batch_size=32, epochs=25, verbose=0)
    assert history.history["tangent_prop"][-1] < 0.5 * history.history["tangent_prop"][0]


@pytest.mark.parametrize("fast", [False, True])
def test_mirrored_strategy_equivalence(fast):
    """Deterministic terms (no randomness): same weights on 1 and 2 devices.

    Compared: the weights after 4 SGD steps of α·L(x) + λ·R with R the
    (fast) TangentProp penalty, on one CPU and on MirroredStrategy over two.
    """
    x, y = images(64, seed=5, size=8), labels(64, seed=5)
    preset = FastTangentBP if fast else TangentBP
    check_distribution_equivalence(lambda: preset(tiny_cnn(size=8), weight=0.5), x, y)


def test_save_load(tmp_path):
    x, y = images(32, seed=6, size=8), labels(32, seed=6)
    model = TangentBP(
        tiny_cnn(size=8),
        transforms=[keras.layers.RandomTranslation(0.1, 0.1), keras.layers.RandomRotation(0.05)],
        weight=0.1,
    )
    model.compile(keras.optimizers.SGD(0.05), SCCE)
    loaded = check_save_load(model, x, y, tmp_path)
    assert isinstance(loaded.penalties[0], TangentProp)
    assert isinstance(loaded.penalties[0].transforms[1], keras.layers.RandomRotation)
