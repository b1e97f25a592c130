"""Models with several outputs: logs as plain Keras, and every term reads them.

A two-output model (a regression head `price` and a 3-class head `kind`)
must log, evaluate and compile exactly as the same plain Keras model; the
per-output losses `fit()` logs are the clean pass's (a search's iterates and
the perturbed pass must not leak into them), the perturbed pass's are logged
under their own names; and IRL, VAT, output divergences and the searches
read the outputs one by one (each classifier over its own distribution,
each regression by ‖Δ‖²).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import distances
from keras_invariance.engine import output_losses
from keras_invariance.graph import outputs as outputs_lib

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
LOSSES = {"price": "mse", "kind": SCCE}
METRICS = {"price": ["mae"], "kind": ["accuracy"]}


def two_heads(kind="dict", seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(6, activation="tanh", name="hidden")(x)
    price = keras.layers.Dense(1, name="price")(h)
    kind_ = keras.layers.Dense(3, name="kind")(h)
    outputs = {"price": price, "kind": kind_} if kind == "dict" else [price, kind_]
    return keras.Model(x, outputs)


def data(n=16, seed=0, kind="dict"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    price = rng.normal(size=(n, 1)).astype("float32")
    classes = rng.integers(0, 3, n).astype("int32")
    y = {"price": price, "kind": classes} if kind == "dict" else [price, classes]
    return x, y


@pytest.mark.parametrize("kind", ["dict", "list"])
def test_logs_and_evaluate_are_the_plain_models(kind):
    x, y = data(kind=kind)
    plain = two_heads(kind)
    plain.compile("sgd", LOSSES, metrics=METRICS, loss_weights={"price": 0.5, "kind": 2.0})
    model = ki.InvariantModel(
        two_heads(kind), perturbation=ki.perturbations.GaussianNoise(0.1), beta=0.5
    )
    model.compile("sgd", LOSSES, metrics=METRICS, loss_weights={"price": 0.5, "kind": 2.0})
    # Same weights, not trained: evaluate() must be the plain model's.
    model.base_model.set_weights(plain.get_weights())
    expected = plain.evaluate(x, y, verbose=0, return_dict=True)
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(expected) == [
        "kind_accuracy", "kind_loss", "loss", "price_loss", "price_mae"]
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, err_msg=key)
    logs = model.fit(x, y, epochs=1, verbose=0).history
    plain_logs = plain.fit(x, y, epochs=1, verbose=0).history
    assert set(plain_logs) <= set(logs)
    assert {"perturbed_price_loss", "perturbed_kind_loss", "clean_loss"} <= set(logs)


def test_logged_output_losses_are_the_clean_pass_and_perturbed_ones_their_own():
    x, y = data(8)
    model = ki.InvariantModel(
        two_heads(), alpha=0.5, beta=0.5, perturbation=ki.perturbations.PGD(0.5, steps=10, seed=1),
        batching="separate")
    model.compile(keras.optimizers.SGD(0.0), LOSSES)
    # The x̃ of the first step (same keyed draws), before fit() moves the step.
    x_adv = model.perturb_on_batch(x, y)
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    base = model.base_model
    clean, perturbed = base(x), base(x_adv)
    mse = lambda a, b: float(np.mean((np.asarray(a) - b) ** 2))  # noqa: E731
    ce = lambda out, t: float(np.mean(SCCE(t, out)))  # noqa: E731
    np.testing.assert_allclose(logs["price_loss"][0], mse(clean["price"], y["price"]), rtol=1e-5)
    np.testing.assert_allclose(logs["kind_loss"][0], ce(clean["kind"], y["kind"]), rtol=1e-5)
    np.testing.assert_allclose(
        logs["perturbed_price_loss"][0], mse(perturbed["price"], y["price"]), rtol=1e-5)
    np.testing.assert_allclose(
        logs["perturbed_kind_loss"][0], ce(perturbed["kind"], y["kind"]), rtol=1e-5)
    # The search really moved the outputs, so a mixture would have shown.
    assert logs["perturbed_loss"][0] > logs["clean_loss"][0] + 0.1


def test_a_dict_loss_compiles_on_list_outputs():
    x, y = data(kind="list")
    model = ki.IRL(two_heads("list"), perturbation=ki.perturbations.GaussianNoise(0.1))
    model.compile("sgd", {"price": "mse", "kind": SCCE})
    logs = model.fit(x, y, verbose=0).history
    assert {"price_loss", "kind_loss", "irl_distance"} <= set(logs)


def test_irl_on_the_outputs_is_the_distance_between_the_joint_views():
    x, y = data(8)
    x_tilde = x + np.float32(0.3)
    model = ki.InvariantModel(
        two_heads(), perturbation=ki.perturbations.GaussianNoise(0.1), beta=0.5,
        penalties=[ki.penalties.ActivationDistance(layers="logits", distance="l2_cosine")])
    model.compile("sgd", LOSSES)
    _, terms = model.compute_objective(x, y, x_perturbed=x_tilde)
    # The joint view: each output flattened, concatenated (dict: sorted keys).
    joint = lambda out: np.concatenate([out["kind"], out["price"]], axis=-1)  # noqa: E731
    u, v = joint(model.base_model(x)), joint(model.base_model(x_tilde))
    energy = np.mean(np.sum(u ** 2, -1))
    cos = np.sum(u * v, -1) / np.sqrt(np.sum(u ** 2, -1) * np.sum(v ** 2, -1))
    expected = np.mean(np.sum((u - v) ** 2, -1) / energy + (1 - cos))
    np.testing.assert_allclose(terms["irl_distance"], expected, rtol=1e-4)


@pytest.mark.parametrize("layers", ["hidden", "kind", "above:hidden"])
def test_irl_taps_a_hidden_or_output_layer_of_a_two_output_model(layers):
    x, y = data()
    model = ki.IRL(two_heads(), perturbation=ki.perturbations.GaussianNoise(0.2), layers=layers)
    model.compile("adam", LOSSES)
    logs = model.fit(x, y, epochs=1, verbose=0).history
    assert np.all(np.isfinite(logs["irl_distance"]))
    if layers == "above:hidden":
        assert model.penalties[0].tap_names == ["hidden", "logits"]


def test_a_distribution_distance_compares_each_output_over_its_own():
    spec = outputs_lib.MultiOutputSpec(
        (outputs_lib.OutputSpec("categorical"), outputs_lib.OutputSpec("regression")),
        ("kind", "price"), [(3,), (1,)])
    u = np.array([[1.0, 0.0, -1.0, 2.0]], "float32")
    v = np.array([[0.0, 0.5, 0.0, -1.0]], "float32")
    d = distances.for_outputs(ki.distances.KLDivergence(), spec, "test")(u, v)
    p, q = tf.nn.softmax(u[:, :3]).numpy(), tf.nn.softmax(v[:, :3]).numpy()
    kl = np.sum(p * (np.log(p) - np.log(q)))
    np.testing.assert_allclose(d, [kl + 9.0], rtol=1e-5)


def test_vat_trains_a_two_output_model_and_reads_both_heads():
    x, y = data(32)
    model = ki.VAT(two_heads())
    model.compile("adam", LOSSES)
    spec = model.step_context(x).output_spec
    assert isinstance(spec, outputs_lib.MultiOutputSpec)
    assert [s.distribution for s in spec.outputs] == ["categorical", "regression"]
    logs = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    assert np.all(np.isfinite(logs["vat"])) and logs["vat"][0] > 0


def test_a_kl_on_outputs_that_are_all_regressions_is_refused():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,))
    base = keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(2)(x)])
    model = ki.InvariantModel(
        base,
        perturbation=ki.perturbations.GaussianNoise(0.1),
        penalties=[ki.penalties.OutputDivergence("kl")],
    )
    with pytest.raises(ValueError, match="every output of the model is a regression"):
        model.compile("sgd", ["mse", "mse"])
        model.step_context(np.zeros((2, 4), "float32"))


def test_the_per_example_loss_sums_the_weighted_outputs():
    x, y = data(4)
    model = ki.InvariantModel(two_heads(), penalties=[ki.penalties.LossIBP()])
    model.compile("sgd", LOSSES, loss_weights={"price": 0.5, "kind": 2.0})
    model.fit(x, y, verbose=0)
    fn = output_losses.per_example_function(model._compile_loss)
    out = model.base_model(x)
    expected = 0.5 * np.mean((out["price"] - y["price"]) ** 2, -1) + 2.0 * np.asarray(
        keras.losses.sparse_categorical_crossentropy(y["kind"], out["kind"], from_logits=True))
    np.testing.assert_allclose(fn(y, out), expected, rtol=1e-5)


def test_a_targeted_search_on_two_outputs_is_refused():
    x, y = data(4)
    model = ki.InvariantModel(
        two_heads(), beta=1.0, perturbation=ki.perturbations.FGSM(0.1, target=0)
    )
    model.compile("sgd", LOSSES)
    with pytest.raises(ValueError, match="towards a class of a softmax classifier"):
        model.perturb_on_batch(x, y)


def test_two_replicas_train_a_two_output_model_as_one_device():
    from tests.engine_checks import mirrored_strategy

    x, y = data(32)

    def build():
        return ki.InvariantModel(
            two_heads(),
            alpha=0.5,
            beta=0.5,
            perturbation=ki.perturbations.PGD(0.2, steps=2, seed=3),
            penalties=[ki.penalties.VAT(xi=1e-2, seed=1)],
        )

    keras.utils.set_random_seed(0)
    single = build()
    single.compile(keras.optimizers.SGD(0.1), LOSSES)
    initial = single.get_weights()
    logs = single.fit(x, y, batch_size=16, shuffle=False, verbose=0).history
    with mirrored_strategy().scope():
        keras.utils.set_random_seed(0)
        mirrored = build()
        mirrored.compile(keras.optimizers.SGD(0.1), LOSSES)
    mirrored.set_weights(initial)
    mirrored_logs = mirrored.fit(x, y, batch_size=16, shuffle=False, verbose=0).history
    assert max(np.abs(a - b).max() for a, b in zip(single.get_weights(), initial)) > 1e-3
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    for key in ("price_loss", "perturbed_kind_loss", "vat"):
        np.testing.assert_allclose(mirrored_logs[key], logs[key], rtol=1e-4, err_msg=key)


def test_jit_and_mixed_bfloat16_train_a_two_output_model():
    x, y = data(16)
    model = ki.IRL(two_heads(), perturbation=ki.perturbations.PGD(0.1, norm=1, steps=2))
    model.compile("sgd", LOSSES, jit_compile=True)
    assert np.isfinite(model.fit(x, y, verbose=0).history["irl_distance"][0])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = ki.VAT(two_heads())
    model.compile("sgd", LOSSES)
    assert np.isfinite(model.fit(x, y, verbose=0).history["vat"][0])


def test_a_two_output_model_saves_loads_and_keeps_its_names(tmp_path):
    x, y = data(16, kind="list")
    model = ki.IRL(two_heads("list"), perturbation=ki.perturbations.GaussianNoise(0.1))
    model.compile("sgd", {"price": "mse", "kind": SCCE})
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "two.keras")
    loaded = keras.models.load_model(tmp_path / "two.keras")
    assert loaded.output_names == ["price", "kind"]
    for a, b in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert {"price_loss", "perturbed_kind_loss"} <= set(loaded.fit(x, y, verbose=0).history)


def test_a_subclassed_model_returning_a_dict_is_read_from_its_loss():
    class Heads(ki.InvariantModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(6, activation="tanh")
            self.tap = ki.Tap("hidden")
            self.price = keras.layers.Dense(1)
            self.kind = keras.layers.Dense(3)

        def call(self, x):
            h = self.tap(self.hidden(x))
            return {"price": self.price(h), "kind": self.kind(h)}

    x, y = data()
    model = Heads(
        perturbation=ki.perturbations.GaussianNoise(0.1),
        beta=0.5,
        penalties=[
            ki.penalties.VAT(),
            ki.penalties.ActivationDistance(layers=["hidden", "logits"]),
        ],
    )
    model.compile("sgd", LOSSES)
    spec = model.step_context(x).output_spec
    assert [s.distribution for s in spec.outputs] == ["categorical", "regression"]
    logs = model.fit(x, y, verbose=0).history
    assert {"vat", "irl_distance", "price_loss", "perturbed_kind_loss"} <= set(logs)
