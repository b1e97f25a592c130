"""The InvariantModel engine: objective, Keras machinery, errors."""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from tests.engine_checks import SCCE
from tests.engine_checks import check_distribution_equivalence
from tests.engine_checks import check_fit_logs
from tests.engine_checks import check_save_load
from tests.engine_checks import mirrored_strategy
from tests.engine_checks import normalized
from tests.engine_checks import tiny_data
from tests.engine_checks import tiny_mlp


def shrink(x):
    """A deterministic perturbation, so that runs can be compared exactly."""
    return 0.8 * x + 0.05


# ------------------------------------------------------------ the objective


def _np_ce(logits, y):
    logits = logits - logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -logp[np.arange(len(y)), y]


def _np_d(u, v, lam):
    u = u.reshape(len(u), -1).astype("float64")
    v = v.reshape(len(v), -1).astype("float64")
    cos = (u * v).sum(-1) / np.sqrt((u**2).sum(-1) * (v**2).sum(-1) + 1e-12)
    return ((u - v) ** 2).sum(-1) + lam * (1.0 - cos)


@pytest.mark.parametrize("num_samples", [1, 3])
@pytest.mark.parametrize("batching", ["concat", "separate"])
def test_irl_objective_equals_hand_computation(num_samples, batching):
    x, y = tiny_data(n=5)
    sw = np.array([1.0, 0.5, 0.0, 2.0, 1.0], "float32")
    base = tiny_mlp()
    alpha, beta, gamma, lam = 0.3, 0.7, 1.7, 0.4
    gammas = {"hidden": 0.25, "logits": 2.0}
    model = ki.IRL(
        base,
        perturbation=ki.perturbations.GaussianNoise(0.3),
        alpha=alpha,
        beta=beta,
        weight=gamma,
        layers=gammas,
        distance=ki.distances.L2Cosine(cosine_weight=lam),
        scale="paper",
        num_samples=num_samples,
        batching=batching,
    )
    model.compile("sgd", SCCE)
    rng = np.random.default_rng(3)
    x_tilde = (np.tile(x, (num_samples, 1))
               + rng.normal(size=(5 * num_samples, 6))).astype("float32")
    total, terms = model.compute_objective(x, y, sw, x_perturbed=x_tilde)

    hidden = keras.Model(base.inputs, base.get_layer("hidden").output)
    h, h_t = hidden.predict(x, verbose=0), hidden.predict(x_tilde, verbose=0)
    z, z_t = base.predict(x, verbose=0), base.predict(x_tilde, verbose=0)
    clean = np.mean(sw * _np_ce(z, y))
    noisy = np.mean(np.tile(sw, num_samples) * _np_ce(z_t, np.tile(y, num_samples)))
    # L_dist = 1/K Σ_k Σ_ℓ γ_ℓ d(a_ℓ, ã_ℓ^(k)), averaged over the batch.
    dist = gammas["hidden"] * np.mean(_np_d(np.tile(h, (num_samples, 1)), h_t, lam))
    dist += gammas["logits"] * np.mean(_np_d(np.tile(z, (num_samples, 1)), z_t, lam))
    expected = alpha * clean + beta * noisy + gamma * dist
    np.testing.assert_allclose(float(terms["clean_loss"]), clean, rtol=1e-5)
    np.testing.assert_allclose(float(terms["perturbed_loss"]), noisy, rtol=1e-5)
    np.testing.assert_allclose(float(terms["irl_distance"]), dist, rtol=1e-5)
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)


def test_weight_regularizers_counted_once():
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(
        3, kernel_regularizer=keras.regularizers.L2(0.5), name="out"
    )(inputs)
    base = keras.Model(inputs, outputs)
    model = ki.IRL(base, perturbation=shrink, preset="irl_loss")
    model.compile("sgd", SCCE)
    x, y = tiny_data(n=4)
    total, terms = model.compute_objective(x, y)
    reg = 0.5 * float(np.sum(base.get_layer("out").kernel.numpy() ** 2))
    gamma = float(model.penalties[0].weight)
    without = (0.5 * terms["clean_loss"] + 0.5 * terms["perturbed_loss"]
               + gamma * terms["irl_distance"])
    np.testing.assert_allclose(float(total) - float(without), reg, rtol=1e-4)


def test_presets_match_paper_rows():
    base = tiny_mlp()
    for preset, (a, b, g) in ki.IRL_PRESETS.items():
        model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1), preset=preset)
        assert ki.utils.hyperparameters.value_of(model.alpha) == a
        assert ki.utils.hyperparameters.value_of(model.beta) == b
        assert bool(model.penalties) == (g > 0)


# ------------------------------------------------------ three kinds of model


@keras.saving.register_keras_serializable(package="keras_invariance_tests")
class SubclassedIRL(ki.InvariantModel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.tap = ki.Tap("hidden_tap")
        self.out = keras.layers.Dense(3)

    def call(self, x):
        return self.out(self.tap(self.hidden(x)))


def _build(kind):
    irl = dict(
        alpha=0.5,
        beta=0.5,
        perturbation=ki.perturbations.GaussianNoise(0.2),
        penalties=[ki.penalties.ActivationDistance(
            layers=["hidden_tap" if kind == "subclassed" else "hidden", "logits"],
            distance="squared_l2", scale="paper")],
    )
    if kind == "wrapped":
        return ki.InvariantModel(tiny_mlp(), **irl)
    if kind == "functional":
        inputs = keras.Input((6,))
        h = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
        return ki.InvariantModel(inputs, keras.layers.Dense(3)(h), **irl)
    return SubclassedIRL(**irl)


@pytest.mark.parametrize("kind", ["wrapped", "functional", "subclassed"])
def test_three_ways_train_log_and_evaluate_plainly(kind):
    x, y = tiny_data()
    model = _build(kind)
    history = check_fit_logs(
        model, x, y, ["loss", "clean_loss", "perturbed_loss", "irl_distance", "accuracy"],
        metrics=["accuracy"],
    )
    assert history.history["irl_distance"][0] > 0
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(results) == ["accuracy", "loss"]
    logits = model.predict(x, verbose=0)
    expected = float(SCCE(y, logits))
    np.testing.assert_allclose(results["loss"], expected, rtol=1e-5)
    if kind == "subclassed":
        with pytest.raises(AttributeError, match="save or serve it directly"):
            model.base_model
    else:
        assert not isinstance(model.base_model, ki.InvariantModel)
    assert model.predict(x, verbose=0).shape == (32, 3)


def test_training_with_the_distance_shrinks_it():
    """γ·L_dist must move the quantity it targets."""
    x, y = tiny_data(n=64)
    x_tilde = shrink(x)

    def distance_after(gamma):
        keras.utils.set_random_seed(7)
        model = ki.IRL(tiny_mlp(), perturbation=shrink, alpha=1.0, beta=0.0,
                       weight=gamma, layers="logits", distance="squared_l2", scale="paper")
        model.compile(keras.optimizers.Adam(0.01), SCCE)
        model.fit(x, y, batch_size=16, epochs=15, verbose=0)
        z, z_t = model.predict(x, verbose=0), model.predict(x_tilde, verbose=0)
        return float(np.mean(np.sum((z - z_t) ** 2, -1)))

    plain, irl = distance_after(1e-9), distance_after(30.0)
    assert irl < 0.3 * plain, (irl, plain)


# -------------------------------------------------------- Keras machinery


def test_mirrored_strategy_matches_one_device():
    x, y = tiny_data(n=64)

    def build():
        return ki.IRL(tiny_mlp(), perturbation=shrink, alpha=0.5, beta=0.5,
                      weight=0.7, layers=["hidden", "logits"])

    check_distribution_equivalence(build, x, y)


def test_mirrored_strategy_matches_one_device_with_regularizer_and_weights():
    x, y = tiny_data(n=64)
    sw = np.linspace(0.0, 2.0, 64).astype("float32")

    def build():
        inputs = keras.Input((6,))
        h = keras.layers.Dense(8, activation="tanh", name="hidden",
                               kernel_regularizer=keras.regularizers.L2(0.01))(inputs)
        return ki.IRL(keras.Model(inputs, keras.layers.Dense(3)(h)),
                      perturbation=shrink, weight=0.5, layers="hidden",
                      batching="separate")

    keras.utils.set_random_seed(0)
    single = build()
    single.compile(keras.optimizers.SGD(0.1), SCCE)
    initial = single.get_weights()
    single.fit(x, y, sample_weight=sw, batch_size=16, shuffle=False, verbose=0)
    with mirrored_strategy().scope():
        mirrored = build()
        mirrored.compile(keras.optimizers.SGD(0.1), SCCE)
    mirrored.set_weights(initial)
    mirrored.fit(x, y, sample_weight=sw, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_mirrored_strategy_with_random_noise_matches_one_device():
    x, y = tiny_data(n=64)
    check_distribution_equivalence(
        lambda: ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.3),
                       layers=["hidden", "logits"], num_samples=2),
        x, y,
    )


def test_jit_compile_trains():
    x, y = tiny_data(n=64)
    model = ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1),
                   layers="above:hidden")
    model.compile(keras.optimizers.Adam(0.01), SCCE, jit_compile=True)
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_mixed_bfloat16_stays_finite():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x, y = tiny_data(n=64)
    inputs = keras.Input((6,))
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(3, dtype="float32")(h)
    model = ki.IRL(keras.Model(inputs, outputs), perturbation=ki.perturbations.GaussianNoise(0.1),
                   layers=["hidden", "logits"])
    model.compile(keras.optimizers.Adam(0.01), SCCE)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    for name in ("loss", "clean_loss", "irl_distance"):
        assert np.all(np.isfinite(history.history[name])), name
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_loss_scale_optimizer_gets_scaled_loss():
    """Under a LossScaleOptimizer, updates have the size of unscaled training."""
    x, y = tiny_data(n=16)

    def step(optimizer):
        keras.utils.set_random_seed(0)
        model = ki.IRL(tiny_mlp(), perturbation=shrink)
        model.compile(optimizer, SCCE)
        initial = [w.copy() for w in model.get_weights()]
        model.fit(x, y, batch_size=16, verbose=0)
        return [b - a for a, b in zip(initial, model.get_weights())]

    plain = step(keras.optimizers.SGD(0.1))
    scaled = step(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)))
    for a, b in zip(plain, scaled):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind", ["wrapped", "functional", "subclassed"])
def test_save_load_round_trip(kind, tmp_path):
    x, y = tiny_data()
    model = _build(kind)
    model.compile(keras.optimizers.Adam(0.01), SCCE)
    model.alpha.assign(0.25)
    loaded = check_save_load(model, x, y, tmp_path)
    assert ki.utils.hyperparameters.value_of(loaded.alpha) == 0.25
    assert "irl_distance" in loaded.fit(x, y, verbose=0).history


def test_base_model_is_plain_and_saves_without_the_package(tmp_path):
    model = _build("wrapped")
    plain = model.base_model
    assert type(plain) is not ki.InvariantModel
    plain.save(str(tmp_path / "plain.keras"))
    config = normalized(plain.get_config())
    assert "keras_invariance" not in str(config)


def test_hyperparameters_change_without_retracing():
    traces = []

    class CountingDistance(ki.penalties.ActivationDistance):
        def compute(self, context):
            traces.append(1)  # Python side effect: runs only while tracing.
            return super().compute(context)

    x, y = tiny_data()
    model = ki.InvariantModel(tiny_mlp(), alpha=0.5, beta=0.5, perturbation=shrink,
                              penalties=[CountingDistance(layers="logits")])
    model.compile("sgd", SCCE)
    first = model.fit(x, y, batch_size=32, verbose=0).history["loss"][0]
    count = len(traces)
    model.alpha.assign(5.0)
    model.penalties[0].weight.assign(0.0)
    second = model.fit(x, y, batch_size=32, verbose=0).history["loss"][0]
    assert len(traces) == count
    assert second > 2 * first


def test_unlabeled_rows_train_only_through_label_free_penalties():
    x, y = tiny_data(n=16)
    unlabeled = np.zeros(16, "float32")

    def delta(gamma):
        keras.utils.set_random_seed(0)
        model = ki.IRL(tiny_mlp(), perturbation=shrink, weight=gamma,
                       layers="logits", distance="squared_l2", scale="paper")
        model.compile(keras.optimizers.SGD(0.1), SCCE)
        before = [w.copy() for w in model.base_model.get_weights()]
        model.fit(x, y, sample_weight=unlabeled, batch_size=16, verbose=0)
        return max(float(np.max(np.abs(a - b)))
                   for a, b in zip(before, model.base_model.get_weights()))

    assert delta(gamma=1e-12) < 1e-9
    assert delta(gamma=1.0) > 1e-4


def test_semi_supervised_dataset_marks_unlabeled_rows():
    x, y = tiny_data(n=10)
    xu, _ = tiny_data(n=30, seed=1)
    ds = ki.datasets.semi_supervised_dataset(x, y, xu, batch_size=8, seed=0)
    xs, ys, ws = [], [], []
    for xb, yb, wb in ds:
        xs.append(xb.numpy()), ys.append(yb.numpy()), ws.append(wb.numpy())
    ws = np.concatenate(ws)
    assert ws.sum() == 10 and (ws == 0).sum() == 30
    model = ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1))
    model.compile("adam", SCCE)
    history = model.fit(ds, epochs=1, verbose=0)
    assert "irl_distance" in history.history


def test_balanced_labeled_weight_keeps_the_supervised_scale():
    """With weight 1/p on the labeled rows, Keras' mean over the batch of
    the weighted loss equals the mean over the labeled rows alone."""
    x, y = tiny_data(n=10)
    xu, _ = tiny_data(n=30, seed=1)
    ds = ki.datasets.semi_supervised_dataset(x, y, xu, batch_size=40, shuffle=False,
                                    labeled_weight="balanced")
    _, yb, wb = next(iter(ds))
    np.testing.assert_allclose(wb.numpy()[:10], 4.0)
    base = tiny_mlp()
    xb = np.concatenate([x, xu]).astype("float32")
    weighted = SCCE(yb, base(xb), sample_weight=wb)
    np.testing.assert_allclose(float(weighted), float(SCCE(y, base(x))), rtol=1e-5)
    with pytest.raises(ValueError, match="labeled_weight"):
        ki.datasets.semi_supervised_dataset(x, y, xu, labeled_weight=0)


@pytest.mark.parametrize("batching,updates", [("concat", 1), ("separate", 2)])
def test_batchnorm_statistics_follow_the_documented_batching(batching, updates):
    inputs = keras.Input((4,))
    bn = keras.layers.BatchNormalization(momentum=0.5, name="bn")
    outputs = keras.layers.Dense(2)(bn(inputs))
    model = ki.IRL(keras.Model(inputs, outputs), perturbation=lambda t: t + 10.0,
                   batching=batching)
    model.compile(keras.optimizers.SGD(0.0), SCCE)
    x = np.ones((8, 4), "float32")
    model.fit(x, np.zeros(8, "int32"), batch_size=8, verbose=0)
    moving = bn.moving_mean.numpy()
    if updates == 1:
        expected = 0.5 * 0.0 + 0.5 * 6.0  # one update, mean of 1 and 11
    else:
        expected = 0.5 * (0.5 * 0.0 + 0.5 * 1.0) + 0.5 * 11.0
    np.testing.assert_allclose(moving, expected, rtol=1e-5)


def test_global_augmentation_is_shared_by_clean_and_perturbed():
    x, y = tiny_data()
    model = ki.IRL(
        tiny_mlp(),
        perturbation=lambda t: t,
        global_augmentation=ki.perturbations.GaussianNoise(1.0),
        distance="squared_l2", scale="paper",
    )
    model.compile("sgd", SCCE)
    history = model.fit(x, y, batch_size=16, verbose=0)
    assert history.history["irl_distance"][0] < 1e-10


# ------------------------------------------------------------------ errors


def test_unknown_layer_lists_available_names():
    with pytest.raises(ValueError, match=r"No layer named 'hiden'.*'hidden', 'hidden2'"):
        ki.IRL(tiny_mlp(), perturbation=ki.perturbations.GaussianNoise(0.1), layers="hiden")


def test_layer_selection_on_subclassed_model_explains_tap():
    with pytest.raises(ValueError, match="Tap"):
        SubclassedIRL(perturbation=ki.perturbations.GaussianNoise(0.1),
                      penalties=[ki.penalties.ActivationDistance(layers="above:hidden")])


def test_missing_tap_in_subclassed_model_is_explained():
    model = SubclassedIRL(perturbation=ki.perturbations.GaussianNoise(0.1),
                          penalties=[ki.penalties.ActivationDistance(layers="nowhere")])
    model.compile("sgd", SCCE)
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"not called by the model's `call`.*hidden_tap"):
        model.fit(x, y, verbose=0)


def test_wrapping_a_subclassed_model_names_the_alternative():
    class Plain(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="Tap"):
        ki.IRL(Plain(), perturbation=ki.perturbations.GaussianNoise(0.1), layers="above:dense")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(alpha=0.0, beta=0.0), "nothing to train"),
        (dict(alpha=-1.0), "`alpha` must be a finite number"),
        (dict(beta=-0.5, perturbation=ki.perturbations.GaussianNoise(0.1)), "`beta` must be"),
        (dict(beta=1.0), "no `perturbation`"),
        (dict(penalties=[ki.penalties.ActivationDistance()]), "need a `perturbation`"),
        (dict(num_samples=0), "integer ≥ 1"),
        (dict(batching="zip"), "`batching` must be one of"),
        (dict(perturbation=3.0), "Cannot use 3.0 as a perturbation"),
    ],
)
def test_bad_arguments_are_rejected_with_advice(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ki.InvariantModel(tiny_mlp(), **kwargs)


def test_negative_penalty_weights_are_rejected():
    with pytest.raises(ValueError, match="`weight` must be a finite number"):
        ki.penalties.ActivationDistance(weight=-1.0)
    with pytest.raises(ValueError, match="layers\\['hidden'\\]"):
        ki.penalties.ActivationDistance(layers={"hidden": -2.0})
    with pytest.raises(ValueError, match="`cosine_weight` must be"):
        ki.distances.L2Cosine(cosine_weight=-0.1)


def test_duplicate_penalty_names_are_rejected():
    with pytest.raises(ValueError, match="distinct"):
        ki.InvariantModel(
            tiny_mlp(),
            perturbation=shrink,
            penalties=[ki.penalties.ActivationDistance(), ki.penalties.ActivationDistance()],
        )


def test_output_distance_on_hidden_layer_is_rejected():
    with pytest.raises(ValueError, match="only be used with layers='logits'"):
        ki.IRL(tiny_mlp(), perturbation=shrink, layers="hidden", distance="kl")


def test_float_noise_on_token_ids_is_rejected():
    inputs = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4)(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(h))
    # A graph model's int32 inputs are known: rejected at construction.
    with pytest.raises(ValueError, match="UnigramNoise"):
        ki.IRL(keras.Model(inputs, outputs), perturbation=ki.perturbations.GaussianNoise(0.1))


def test_float_noise_on_token_ids_of_a_subclassed_model_is_rejected_at_the_first_step():
    class Net(ki.InvariantModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embed = keras.layers.Embedding(10, 4)
            self.flat = keras.layers.Flatten()
            self.out = keras.layers.Dense(3)

        def call(self, x):
            return self.out(self.flat(self.embed(x)))

    model = Net(perturbation=ki.perturbations.GaussianNoise(0.1), alpha=0.5, beta=0.5)
    model.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="UnigramNoise"):
        model.fit(np.ones((4, 5), "int32"), np.zeros(4, "int32"), verbose=0)


def test_missing_labels_are_explained():
    model = ki.IRL(tiny_mlp(), perturbation=shrink)
    model.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="sample weight 0"):
        model.fit(tiny_data()[0], verbose=0)


def test_unknown_preset_is_rejected():
    with pytest.raises(ValueError, match="irl_batching"):
        ki.IRL(tiny_mlp(), perturbation=shrink, preset="irl")


def test_perturbation_of_the_wrong_shape_is_explained():
    model = ki.IRL(tiny_mlp(), perturbation=lambda t: t[:, :3])
    model.compile("sgd", SCCE)
    x, y = tiny_data()
    with pytest.raises(ValueError, match=r"returned shape \(\w+, 3\).*shape of x"):
        model.fit(x, y, verbose=0)


def test_supervised_weights_without_a_compiled_loss_are_rejected():
    model = ki.IRL(tiny_mlp(), perturbation=shrink)
    model.compile("sgd")
    x, y = tiny_data()
    with pytest.raises(ValueError, match="got no `loss`"):
        model.fit(x, y, verbose=0)


def test_label_free_training_without_labels_or_loss():
    model = ki.InvariantModel(
        tiny_mlp(), alpha=0.0, beta=0.0, perturbation=shrink,
        penalties=[ki.penalties.ActivationDistance(distance="squared_l2", scale="paper")],
    )
    model.compile(keras.optimizers.SGD(0.1))
    x, _ = tiny_data()
    history = model.fit(x, epochs=3, batch_size=16, verbose=0)
    assert history.history["irl_distance"][-1] < history.history["irl_distance"][0]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_irl_weight_names_the_argument(bad):
    with pytest.raises(ValueError, match="`weight` must be a finite number"):
        ki.IRL(tiny_mlp(), perturbation=shrink, weight=bad)


def test_deprecated_gamma_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match="use `weight=`"):
        model = ki.IRL(tiny_mlp(), perturbation=shrink, gamma=0.25)
    assert float(model.penalties[0].weight) == pytest.approx(0.25)
    with pytest.raises(TypeError, match="both `gamma=` and"):
        ki.IRL(tiny_mlp(), perturbation=shrink, gamma=0.25, weight=0.5)


def test_clean_statistics_keeps_batchnorm_moving_stats_to_the_clean_pass():
    inputs = keras.Input((3,))
    bn = keras.layers.BatchNormalization(momentum=0.0)  # moving = last batch
    base = keras.Model(inputs, keras.layers.Dense(2)(bn(inputs)))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.zeros(16, "int32")
    shift = ki.perturbations.FunctionPerturbation(lambda t: t + 5.0)
    moved = {}
    for batching in ("separate", "clean_statistics"):
        model = ki.IRL(base, perturbation=shift, preset="irl_batching", batching=batching)
        model.compile("sgd", SCCE)
        model.fit(x, y, batch_size=16, verbose=0)
        moved[batching] = bn.moving_mean.numpy().copy()
    np.testing.assert_allclose(moved["clean_statistics"], x.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(moved["separate"], x.mean(axis=0) + 5.0, atol=1e-5)
