"""Models with dict and list inputs: perturbations, gradient terms, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import check_distribution_equivalence
from tests.engine_checks import check_save_load


def dict_model():
    """A float `image` (6 features) and token `ids` (4) → 3 logits."""
    image = keras.Input((6,), name="image")
    ids = keras.Input((4,), dtype="int32", name="ids")
    e = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 3)(ids))
    h = keras.layers.Dense(5, activation="tanh", name="hidden")(
        keras.layers.Concatenate()([image, e])
    )
    return keras.Model({"image": image, "ids": ids}, keras.layers.Dense(3, name="out")(h))


def two_float_model():
    """Two float inputs as a list: `a` (4) and `b` (2)."""
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    h = keras.layers.Dense(5, activation="tanh")(keras.layers.Concatenate()([a, b]))
    return keras.Model([a, b], keras.layers.Dense(3)(h))


def dict_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "image": rng.normal(size=(n, 6)).astype("float32"),
        "ids": rng.integers(1, 10, (n, 4)).astype("int32"),
    }
    return x, rng.integers(0, 3, n).astype("int32")


def list_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")]
    return x, rng.integers(0, 3, n).astype("int32")


def to_tensors(x):
    return tf.nest.map_structure(tf.constant, x)


# ------------------------------------------------------------ perturbations


def test_gaussian_noise_perturbs_float_inputs_and_leaves_token_ids():
    x, _ = dict_data(8)
    out = ki.perturbations.GaussianNoise(0.5, seed=0).perturb(to_tensors(x))
    assert not np.allclose(out["image"], x["image"])
    np.testing.assert_array_equal(out["ids"], x["ids"])


def test_per_input_perturbation_leaves_unnamed_inputs_clean():
    x, _ = dict_data(8)
    p = ki.perturbations.get(
        {"ids": ki.perturbations.UnigramNoise(vocabulary_size=10, p=1.0, pad_id=0)}
    )
    out = p.perturb(to_tensors(x))
    np.testing.assert_array_equal(out["image"], x["image"])
    assert (out["ids"].numpy() != x["ids"]).any()


def test_irl_with_per_input_perturbation_trains_and_logs():
    x, y = dict_data()
    model = ki.IRL(
        dict_model(),
        perturbation={
            "image": ki.perturbations.GaussianNoise(0.3),
            "ids": ki.perturbations.BlankNoise(blank_id=0, p=0.3),
        },
        layers=["hidden", "logits"],
    )
    model.compile("adam", SCCE)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["irl_distance"]).all()


def test_fgsm_moves_every_float_input_by_the_sign_of_its_gradient():
    x, y = list_data(8)
    base = two_float_model()
    model = ki.InvariantModel(base, alpha=0.5, beta=0.5, perturbation=ki.perturbations.FGSM(0.1))
    model.compile("sgd", SCCE)
    ctx = model.step_context(x, y)
    adv = model.perturbation.perturb(ctx.x, ctx)
    xs = [tf.constant(v) for v in x]
    with tf.GradientTape() as tape:
        tape.watch(xs)
        loss = SCCE(y, base(xs, training=False))
    grads = tape.gradient(loss, xs)
    for a, v, g in zip(adv, x, grads):
        np.testing.assert_allclose(a.numpy(), v + 0.1 * np.sign(g.numpy()), atol=1e-6)


def test_pgd_l2_stays_in_the_joint_ball():
    x, y = list_data(8)
    model = ki.InvariantModel(
        two_float_model(), alpha=0.5, beta=0.5,
        perturbation=ki.perturbations.PGD(0.5, norm=2, steps=3, seed=1),
    )
    model.compile("sgd", SCCE)
    ctx = model.step_context(x, y)
    adv = model.perturbation.perturb(ctx.x, ctx)
    norms = np.sqrt(sum(((a.numpy() - v) ** 2).sum(axis=1) for a, v in zip(adv, x)))
    assert norms.max() <= 0.5 + 1e-5 and norms.max() > 0.1


def test_a_search_for_one_input_holds_the_others_clean():
    x, y = dict_data(8)
    model = ki.InvariantModel(
        dict_model(), alpha=0.5, beta=0.5, perturbation={"image": ki.perturbations.FGSM(0.2)}
    )
    model.compile("sgd", SCCE)
    history = model.fit(x, y, batch_size=8, verbose=0)
    assert np.isfinite(history.history["perturbed_loss"]).all()
    ctx = model.step_context(x, y)
    adv = model.perturbation.perturb(ctx.x, ctx)
    np.testing.assert_array_equal(adv["ids"], x["ids"])
    np.testing.assert_allclose(np.abs(adv["image"].numpy() - x["image"]), 0.2, atol=1e-6)


def test_a_callable_perturbation_gets_the_whole_structure():
    x, y = dict_data()

    def swap_noise(inputs):
        return {"image": inputs["image"] * 0.9, "ids": inputs["ids"]}

    model = ki.IRL(dict_model(), perturbation=swap_noise)
    model.compile("sgd", SCCE)
    assert np.isfinite(model.fit(x, y, batch_size=8, verbose=0).history["loss"]).all()


# ------------------------------------------------------------ gradient terms


def test_loss_ibp_differentiates_the_float_inputs_only():
    x, y = dict_data(8)
    base = dict_model()
    model = ki.InvariantModel(
        base, penalties=[ki.penalties.LossIBP(weight=1.0, order=1, scale="paper")]
    )
    model.compile("sgd", SCCE)
    _, terms = model.compute_objective(x, y)
    image = tf.constant(x["image"])
    with tf.GradientTape() as tape:
        tape.watch(image)
        losses = keras.losses.sparse_categorical_crossentropy(
            y, base({"image": image, "ids": tf.constant(x["ids"])}), from_logits=True
        )
        total = tf.reduce_sum(losses)
    expected = np.abs(tape.gradient(total, image).numpy()).sum(axis=1).mean()
    np.testing.assert_allclose(float(terms["loss_ibp"]), expected, rtol=1e-5)


def test_exact_jacobian_sums_over_every_float_input():
    x, y = list_data(6)
    base = two_float_model()
    model = ki.InvariantModel(
        base,
        penalties=[ki.penalties.Jacobian(weight=1.0, num_projections=None, scale="paper")],
    )
    model.compile("sgd", SCCE)
    _, terms = model.compute_objective(x, y)
    total = 0.0
    for i in range(6):
        xs = [tf.constant(v[i:i + 1]) for v in x]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xs)
            out = base(xs)
        for part in xs:
            total += float(tf.reduce_sum(tape.jacobian(out, part) ** 2))
    np.testing.assert_allclose(float(terms["jacobian"]), total / 6, rtol=1e-4)


@pytest.mark.parametrize("penalty", ["vat", "noise_regularization", "prediction_ibp"])
def test_other_gradient_terms_train_on_multi_input_models(penalty):
    x, y = list_data()
    term = {
        "vat": lambda: ki.penalties.VAT(epsilon=0.5, xi=1e-3),
        "noise_regularization": lambda: ki.penalties.NoiseRegularization(
            stddev=0.1, adversarial=True
        ),
        "prediction_ibp": lambda: ki.penalties.PredictionIBP(weight=0.1),
    }[penalty]()
    model = ki.InvariantModel(two_float_model(), penalties=[term])
    model.compile("adam", SCCE)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history[term.name]).all()


def test_vat_direction_is_a_unit_vector_in_the_joint_input_space():
    x, y = list_data(8)
    model = ki.VAT(two_float_model(), epsilon=1.0, xi=1e-3)
    model.compile("sgd", SCCE)
    ctx = model.step_context(x, y)
    ctx.clean = ctx.forward(ctx.x)
    direction = model.penalties[0].adversarial_direction(ctx)
    norms = np.sqrt(sum((d.numpy() ** 2).sum(axis=1) for d in direction))
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


# ------------------------------------------------------------------ machinery


def test_per_input_model_saves_and_loads(tmp_path):
    x, y = dict_data()
    model = ki.IRL(
        dict_model(), perturbation={"image": ki.perturbations.GaussianNoise(0.2, seed=3)}
    )
    model.compile("sgd", SCCE)
    loaded = check_save_load(model, x, y, tmp_path)
    assert isinstance(loaded.perturbation, ki.perturbations.PerInputPerturbation)


def test_dict_inputs_on_two_replicas_match_one_device():
    x, y = dict_data(64)
    check_distribution_equivalence(
        lambda: ki.IRL(
            dict_model(),
            perturbation={
                "image": ki.perturbations.GaussianNoise(0.3),
                "ids": ki.perturbations.BlankNoise(blank_id=0, p=0.3),
            },
        ),
        x,
        y,
    )


# -------------------------------------------------------------------- errors


def test_a_missing_input_name_is_named_at_construction():
    with pytest.raises(ValueError, match=r"\['audio'\].*inputs are \['ids', 'image'\]"):
        ki.IRL(dict_model(), perturbation={"audio": ki.perturbations.GaussianNoise(0.1)})


def test_a_one_tensor_perturbation_on_several_inputs_asks_which_input():
    with pytest.raises(ValueError, match="perturbation=\\{'image'"):
        ki.IRL(dict_model(), perturbation=ki.perturbations.InDomainImageNoise())


def test_tangent_prop_on_several_inputs_fails_at_construction():
    with pytest.raises(ValueError, match="one image input"):
        ki.TangentBP(dict_model())


def test_a_per_input_perturbation_that_changes_the_shape_is_named():
    x, y = dict_data(8)
    model = ki.IRL(dict_model(), perturbation={"image": lambda t: t[:, :3]})
    model.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="input 'image' returned shape"):
        model.fit(x, y, batch_size=8, verbose=0)


def test_reusing_the_clean_pass_per_input_is_refused():
    with pytest.raises(ValueError, match="reuse_clean_pass=False"):
        ki.perturbations.get({"image": ki.perturbations.FGSM(0.1, reuse_clean_pass=True)})
