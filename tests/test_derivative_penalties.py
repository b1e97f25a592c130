"""Derivative penalties: exact math, and the engine's shared checks for every
derivative / adversarial term of issue 3 (penalties and perturbations)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import keras_invariance as ki
from keras_invariance import random_ops
from keras_invariance import context as context_lib
from keras_invariance import derivative_methods as dm
from keras_invariance.penalties.derivatives import AdversarialLossPenalty
from keras_invariance.penalties.derivatives import JacobianPenalty
from keras_invariance.penalties.derivatives import LossIBPPenalty
from keras_invariance.penalties.derivatives import NoiseRegularization
from keras_invariance.penalties.derivatives import PredictionIBPPenalty
from keras_invariance.penalties.vat import VATPenalty
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from tests.engine_checks import mirrored_strategy

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def tiny_mlp(inputs=4, hidden=5, outputs=3, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    h = keras.layers.Dense(hidden, activation="tanh", name="hid")(x)
    y = keras.layers.Dense(outputs, name="out")(h)
    return keras.Model(x, y)


def data(rows=8, inputs=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, inputs)).astype("float32")
    y = rng.integers(0, classes, rows).astype("int32")
    return x, y


def objective(model, x, y, sample_weight=None):
    """Runs the engine's objective once, as `train_step` does (no update)."""
    x = tf.constant(x)
    y = None if y is None else tf.constant(y)
    ctx = context_lib.StepContext(model, x, y, sample_weight, model.num_samples)
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


# ---------------------------------------------------------------- Jacobian


@pytest.mark.parametrize("layer", ["logits", "hid"])
def test_exact_jacobian_equals_gradient_tape_jacobian(layer):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, penalties=[JacobianPenalty(layers=layer)])
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x, layer)
    expected = np.mean(np.sum(jac**2, axis=(1, 2)))
    np.testing.assert_allclose(float(terms["jacobian"]), expected, rtol=1e-5)


def test_projection_estimator_is_unbiased():
    base = tiny_mlp()
    x, y = data(rows=4)
    exact = np.mean(np.sum(explicit_jacobian(base, x) ** 2, axis=(1, 2)))
    tiled = np.tile(x, (4000, 1))
    model = compiled(
        ki.InvariantModel(
            base, penalties=[JacobianPenalty(num_projections=8, seed=3)]
        )
    )
    _, terms = objective(model, tiled, np.tile(y, 4000))
    # 32 000 draws of ‖vᵀJ‖²: relative standard error < 0.8 %.
    np.testing.assert_allclose(float(terms["jacobian"]), exact, rtol=0.02)


def test_exact_jacobian_refuses_huge_layers():
    base = tiny_mlp(hidden=300)
    model = compiled(
        ki.InvariantModel(base, penalties=[JacobianPenalty(layers="hid")])
    )
    x, y = data()
    with pytest.raises(ValueError, match="num_projections"):
        objective(model, x, y)


# ---------------------------------------------------------------- Loss IBP


@pytest.mark.parametrize("order", [1, 2])
def test_loss_ibp_equals_input_gradient_norm(order):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, penalties=[LossIBPPenalty(order=order)])
    )
    _, terms = objective(model, x, y)
    g = per_example_input_gradient(base, x, y)
    norms = np.sum(np.abs(g), 1) if order == 1 else np.sum(g**2, 1)
    np.testing.assert_allclose(float(terms["loss_ibp"]), norms.mean(), rtol=1e-5)


def test_loss_ibp_sample_weights_drop_unlabeled_rows():
    base = tiny_mlp()
    x, y = data()
    weights = np.array([1, 0, 1, 0, 1, 1, 0, 1], "float32")
    model = compiled(ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2)]))
    _, terms = objective(model, x, y, tf.constant(weights))
    g = per_example_input_gradient(base, x, y)
    expected = np.mean(weights * np.sum(g**2, 1))
    np.testing.assert_allclose(float(terms["loss_ibp"]), expected, rtol=1e-5)


def test_loss_ibp_weight_gradient_matches_finite_differences():
    base = tiny_mlp()
    x, y = data()
    model = compiled(ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2)]))
    weights = model.trainable_weights
    with tf.GradientTape() as tape:
        _, terms = objective(model, x, y)
        value = terms["loss_ibp"]
    grads = tape.gradient(value, weights)
    rng = np.random.default_rng(1)
    direction = [rng.normal(size=w.shape).astype("float32") for w in weights]
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(grads, direction))
    original = [w.numpy() for w in weights]
    h = 1e-2

    def value_at(step):
        for w, w0, d in zip(weights, original, direction):
            w.assign(w0 + step * d)
        return float(objective(model, x, y)[1]["loss_ibp"])

    numeric = (value_at(h) - value_at(-h)) / (2 * h)
    value_at(0.0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-2)


# ---------------------------------------------------------- Prediction IBP


@pytest.mark.parametrize("jvp", ["forward", "double_vjp"])
@pytest.mark.parametrize("order", [1, 2])
def test_prediction_ibp_equals_explicit_jacobian_times_gradient(order, jvp):
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[PredictionIBPPenalty(order=order, jvp=jvp)]
        )
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x)  # (rows, K, D)
    g = per_example_input_gradient(base, x, y)  # (rows, D)
    directional = np.einsum("rkd,rd->rk", jac, g)
    norms = (
        np.sum(np.abs(directional), 1) if order == 1 else np.sum(directional**2, 1)
    )
    np.testing.assert_allclose(
        float(terms["prediction_ibp"]), norms.mean(), rtol=1e-4
    )


def test_prediction_ibp_jvp_modes_give_the_same_weight_gradient():
    x, y = data()
    grads = {}
    for jvp in ("forward", "double_vjp"):
        base = tiny_mlp()
        model = compiled(
            ki.InvariantModel(
                base, penalties=[PredictionIBPPenalty(order=2, softmax=True, jvp=jvp)]
            )
        )
        with tf.GradientTape() as tape:
            total, _ = objective(model, x, y)
        grads[jvp] = tape.gradient(total, base.trainable_weights)
    for a, b in zip(grads["forward"], grads["double_vjp"]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_prediction_ibp_trains_weights_through_the_jvp():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, alpha=0.0, penalties=[PredictionIBPPenalty()])
    )
    with tf.GradientTape() as tape:
        _, terms = objective(model, x, y)
        value = terms["prediction_ibp"]
    weights = model.trainable_weights
    grads = dict(zip([w.path for w in weights], tape.gradient(value, weights)))
    # J_p·g does not depend on the output bias; every other weight trains.
    for path, g in grads.items():
        if path.endswith("out/bias"):
            assert g is None
        else:
            assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0, path


# ------------------------------------------------------ noise regularization


def test_noise_regularization_approximates_scaled_jacobian_norm():
    """seed §3.2: E‖f(x) − f(x + Δx)‖² ≈ ε²‖J‖²_F for small ε."""
    base = tiny_mlp()
    x, y = data(rows=4)
    eps = 1e-2
    exact = np.mean(np.sum(explicit_jacobian(base, x) ** 2, axis=(1, 2)))
    model = compiled(
        ki.InvariantModel(
            base, penalties=[NoiseRegularization(stddev=eps, seed=5)]
        )
    )
    _, terms = objective(model, np.tile(x, (5000, 1)), np.tile(y, 5000))
    np.testing.assert_allclose(
        float(terms["noise_regularization"]), eps**2 * exact, rtol=0.05
    )


def test_adversarial_noise_regularization_reaches_top_eigenvalue():
    """seed §3.4: the adversarial variant penalizes ε²·λ_max(JᵀJ)."""
    base = tiny_mlp()
    x, y = data(rows=4)
    eps = 1e-3
    model = compiled(
        ki.InvariantModel(
            base,
            penalties=[
                NoiseRegularization(
                    stddev=eps, adversarial=True, power_iterations=20, xi=1e-2
                )
            ],
        )
    )
    _, terms = objective(model, x, y)
    jac = explicit_jacobian(base, x)
    top = np.mean([np.linalg.eigvalsh(j.T @ j)[-1] for j in jac])
    np.testing.assert_allclose(
        float(terms["noise_regularization"]), eps**2 * top, rtol=0.05
    )


def test_noise_regularization_on_tapped_layer():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(
            base, penalties=[NoiseRegularization(stddev=0.0, layers=["hid"])]
        )
    )
    _, terms = objective(model, x, y)
    assert float(terms["noise_regularization"]) == 0.0
    assert model.penalties[0].tap_names == ["hid"]


# ------------------------------------------------------------------ errors


def token_model():
    inputs = keras.Input((6,), dtype="int32")
    e = keras.layers.Embedding(20, 4, name="emb")(inputs)
    h = keras.layers.Dense(5, activation="tanh", name="hid")(
        keras.layers.Flatten()(e)
    )
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(h))


TOKEN_TERMS = {
    "jacobian": lambda **kw: JacobianPenalty(**kw),
    "loss_ibp": lambda **kw: LossIBPPenalty(**kw),
    "prediction_ibp": lambda **kw: PredictionIBPPenalty(**kw),
    "prediction_ibp_forward": lambda **kw: PredictionIBPPenalty(
        jvp="forward", name="prediction_ibp_forward", **kw
    ),
    "vat": lambda **kw: VATPenalty(**kw),
    "noise_regularization": lambda **kw: NoiseRegularization(adversarial=True, **kw),
    "adversarial_loss": lambda **kw: AdversarialLossPenalty(
        PGD(0.5, norm=2, steps=1, random_start=False), **kw
    ),
}


@pytest.mark.parametrize("name", sorted(TOKEN_TERMS))
def test_integer_inputs_need_an_embedding_layer(name):
    model = compiled(
        ki.InvariantModel(token_model(), penalties=[TOKEN_TERMS[name]()])
    )
    x = np.random.default_rng(0).integers(0, 20, (8, 6)).astype("int32")
    y = np.zeros(8, "int32")
    with pytest.raises(ValueError, match="embedding_layer"):
        model.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("name", sorted(TOKEN_TERMS))
def test_token_model_trains_at_embedding_output(name):
    model = compiled(
        ki.InvariantModel(
            token_model(), penalties=[TOKEN_TERMS[name](embedding_layer="emb")]
        )
    )
    x = np.random.default_rng(0).integers(0, 20, (16, 6)).astype("int32")
    y = np.random.default_rng(1).integers(0, 3, 16).astype("int32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history[name][-1])


def test_loss_ibp_at_embedding_equals_embedding_gradient():
    base = token_model()
    model = compiled(
        ki.InvariantModel(base, penalties=[LossIBPPenalty(order=2, embedding_layer="emb")])
    )
    x = np.random.default_rng(0).integers(0, 20, (8, 6)).astype("int32")
    y = np.random.default_rng(1).integers(0, 3, 8).astype("int32")
    _, terms = objective(model, x, y)
    emb = base.get_layer("emb")
    tail = keras.Model(emb.output, base.output)
    e = emb(x)
    with tf.GradientTape() as tape:
        tape.watch(e)
        total = tf.reduce_sum(
            keras.losses.sparse_categorical_crossentropy(y, tail(e), from_logits=True)
        )
    g = tape.gradient(total, e).numpy().reshape(8, -1)
    np.testing.assert_allclose(
        float(terms["loss_ibp"]), np.mean(np.sum(g**2, 1)), rtol=1e-5
    )


def test_adversarial_loss_penalty_equals_loss_at_fgsm_point():
    base = tiny_mlp()
    x, y = data()
    model = compiled(
        ki.InvariantModel(base, penalties=[AdversarialLossPenalty(FGSM(0.1))])
    )
    _, terms = objective(model, x, y)
    g = per_example_input_gradient(base, x, y)
    x_adv = x + np.float32(0.1) * np.sign(g)
    expected = float(LOSS(y, base(x_adv)))
    np.testing.assert_allclose(float(terms["adversarial_loss"]), expected, rtol=1e-5)


def test_embedding_layer_needs_a_graph_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="Functional or Sequential"):
        ki.InvariantModel(Net(), penalties=[LossIBPPenalty(embedding_layer="emb")])


def test_bad_arguments():
    with pytest.raises(ValueError, match="1 or 2"):
        LossIBPPenalty(order=3)
    with pytest.raises(ValueError, match="int"):
        JacobianPenalty(num_projections=0)
    with pytest.raises(ValueError, match="embedding_layer"):
        ki.InvariantModel(tiny_mlp(), penalties=[LossIBPPenalty(embedding_layer="nope")])


# ------------------------------------------------------- shared engine checks

#: Every term of issue 3, as an `InvariantModel` factory over a base model.
#: `deterministic` builds the configuration used for the MirroredStrategy
#: comparison (see `test_mirrored_strategy_equivalence`).
TERMS = {
    "noise_regularization": lambda b: dm.NoiseRegularized(b, stddev=0.1, weight=0.5),
    "noise_regularization_adversarial": lambda b: dm.NoiseRegularized(
        b, stddev=0.1, adversarial=True, layers=["hid", "logits"], xi=1e-3
    ),
    "jacobian": lambda b: dm.JacobianRegularized(b, weight=0.1),
    "jacobian_projections": lambda b: dm.JacobianRegularized(
        b, weight=0.1, num_projections=2, layers=["hid"]
    ),
    "vat": lambda b: dm.VAT(b, epsilon=0.5, xi=1e-3),
    "loss_ibp": lambda b: dm.LossIBP(b, beta=0.1),
    "prediction_ibp": lambda b: dm.PredictionIBP(b, beta=0.1),
    "fgsm": lambda b: dm.AdversarialTraining(b, kind="fgsm", epsilon=0.1),
    "pgd_linf": lambda b: dm.AdversarialTraining(
        b, kind="pgd", epsilon=0.1, steps=2, random_start=False
    ),
    "pgd_l2_kl": lambda b: dm.AdversarialTraining(
        b, kind="pgd", epsilon=0.3, norm=2, steps=2, objective="kl"
    ),
    "at_kl": lambda b: dm.RegularizedAdversarialTraining(
        b, divergence="kl", epsilon=0.1, steps=2, random_start=False
    ),
    "adversarial_loss": lambda b: ki.InvariantModel(
        b,
        penalties=[AdversarialLossPenalty(PGD(0.1, steps=2, random_start=False))],
    ),
    "combined": lambda b: ki.IRL(
        b,
        perturbation=FGSM(0.05),
        penalties=[VATPenalty(epsilon=0.5, xi=1e-3), JacobianPenalty(weight=0.1), LossIBPPenalty()],
    ),
}

METRICS = {
    "noise_regularization": ["noise_regularization"],
    "noise_regularization_adversarial": ["noise_regularization"],
    "jacobian": ["jacobian"],
    "jacobian_projections": ["jacobian"],
    "vat": ["vat"],
    "loss_ibp": ["loss_ibp"],
    "prediction_ibp": ["prediction_ibp"],
    "fgsm": ["clean_loss", "perturbed_loss"],
    "pgd_linf": ["perturbed_loss"],
    "pgd_l2_kl": ["perturbed_loss"],
    "at_kl": ["output_divergence", "perturbed_loss"],
    "adversarial_loss": ["adversarial_loss"],
    "combined": ["irl_distance", "vat", "jacobian", "loss_ibp"],
}


def train_data(rows=32, inputs=4, seed=0):
    x, y = data(rows=rows, inputs=inputs, seed=seed)
    return x, y


@pytest.mark.parametrize("name", sorted(TERMS))
def test_fit_logs_metric_and_save_load_round_trip(name, tmp_path):
    x, y = train_data()
    model = compiled(TERMS[name](tiny_mlp()))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for metric in METRICS[name]:
        assert metric in history.history, (metric, history.history.keys())
        assert np.isfinite(history.history[metric][-1])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    normalize = lambda c: json.loads(json.dumps(c, default=str))  # noqa: E731
    assert normalize(loaded.get_config()) == normalize(model.get_config())
    history = loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


@pytest.mark.parametrize("name", sorted(TERMS))
def test_jit_compile_and_mixed_bfloat16(name):
    x, y = train_data()
    model = TERMS[name](tiny_mlp())
    model.compile(optimizer="sgd", loss=LOSS, jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = compiled(TERMS[name](tiny_mlp()))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for metric in ["loss"] + METRICS[name]:
        assert np.isfinite(history.history[metric][-1]), metric


@pytest.mark.parametrize("name", sorted(TERMS))
def test_mirrored_strategy_equivalence(name, monkeypatch):
    """Two replicas train to the same weights as one device (to ~1e-5).

    Per-replica random streams differ from the single-device stream by
    design, so the random draws of these terms (Gaussian Δx, projection
    vectors, VAT's and the divergence searches' random starts) are replaced
    by a constant (`random_ops.normal` → 0.3·ones, `uniform` → 0.5) for
    this comparison: every other code path (the searches, the double
    backprop, the distribution scaling of each term) is the real one.
    """
    monkeypatch.setattr(
        random_ops,
        "normal",
        lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: 0.3
        * ops.ones(shape, dtype or "float32"),
    )
    monkeypatch.setattr(
        random_ops,
        "uniform",
        lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: 0.5
        * ops.ones(shape, dtype or "float32"),
    )
    x, y = train_data()
    reference = tiny_mlp(seed=2)
    initial = reference.get_weights()

    def train(strategy):
        with strategy.scope():
            base = tiny_mlp(seed=2)
            base.set_weights(initial)
            model = TERMS[name](base)
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return [w.numpy() for w in base.weights]

    single = train(tf.distribute.OneDeviceStrategy("CPU:0"))
    # One MirroredStrategy per process (see `engine_checks.mirrored_strategy`).
    mirrored = train(mirrored_strategy())
    moved = max(np.max(np.abs(s - w0)) for s, w0 in zip(single, initial))
    assert moved > 1e-4  # the terms really trained
    for s, m in zip(single, mirrored):
        np.testing.assert_allclose(s, m, atol=1e-5)


def test_jacobian_and_loss_ibp_on_a_subclassed_model_with_tap():
    class Net(ki.InvariantModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(5, activation="tanh")
            self.tap = ki.Tap("hidden_tap")
            self.out = keras.layers.Dense(3)

        def call(self, x):
            return self.out(self.tap(self.hidden(x)))

    keras.utils.set_random_seed(0)
    model = Net(
        penalties=[
            JacobianPenalty(layers=["hidden_tap"]),
            LossIBPPenalty(order=2),
        ]
    )
    x, y = data()
    model(x)
    model.compile(optimizer="sgd", loss=LOSS)
    _, terms = objective(model, x, y)
    plain = keras.Sequential([model.hidden])
    jac = explicit_jacobian(plain, x)
    np.testing.assert_allclose(
        float(terms["jacobian"]), np.mean(np.sum(jac**2, axis=(1, 2))), rtol=1e-5
    )
    g = per_example_input_gradient(model, x, y)
    np.testing.assert_allclose(
        float(terms["loss_ibp"]), np.mean(np.sum(g**2, 1)), rtol=1e-5
    )
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["jacobian"][-1])
