"""Spatial perturbations (D.A., worst-of-k, S-PGD), presets and S-PGD attack."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import spatial
from keras_invariance.evaluation import clean_accuracy
from keras_invariance.evaluation import spatial_pgd_accuracy
from keras_invariance.perturbations.spatial import RandomSpatialTransform
from keras_invariance.perturbations.spatial import SpatialPGD
from keras_invariance.perturbations.spatial import WorstOfKSpatial
from keras_invariance.presets import SPATIAL_MODES
from keras_invariance.presets import SpatialInvariance
from tests.engine_checks import SCCE
from tests.engine_checks import check_distribution_equivalence
from tests.engine_checks import check_fit_logs
from tests.engine_checks import check_save_load
from tests.engine_checks import normalized
from tests.models import same_cnn_4 as tiny_cnn

S = 10


def blobs(n=32, seed=0, size=S):
    """Images of an off-centre bright square; the label is its quadrant."""
    rng = np.random.default_rng(seed)
    x = 0.05 * rng.random((n, size, size, 1)).astype("float32")
    y = rng.integers(0, 3, size=(n,)).astype("int32")
    for i, label in enumerate(y):
        r, c = [(1, 1), (1, 5), (5, 3)][label]
        x[i, r:r + 4, c:c + 4, 0] += 1.0
    return x, y


def context_for(base, x, y):
    model = ki.InvariantModel(base)
    model.compile("sgd", SCCE)
    return model, model.step_context(tf.convert_to_tensor(x), tf.convert_to_tensor(y))


def per_example_loss(base, images, y):
    return keras.losses.sparse_categorical_crossentropy(
        y, base(images, training=False), from_logits=True
    ).numpy()


# ------------------------------------------------------------ perturbations


def test_random_transform_stays_in_box_and_applies_params():
    x, _ = blobs(64)
    p = RandomSpatialTransform(translation=(2, 1), rotation=20, scale=(0.9, 1.1), seed=1)
    params = p.sample_parameters(tf.constant(x)).numpy()
    assert params.shape == (64, 4)
    limits = np.array([2, 1, 20, 1.1])
    assert np.all(params[:, :3] >= -limits[:3]) and np.all(params[:, :3] <= limits[:3])
    assert np.all((params[:, 3] >= 0.9) & (params[:, 3] <= 1.1))
    assert params[:, 2].std() > 5  # really spread over the box
    np.testing.assert_allclose(
        p.apply_parameters(tf.constant(x), params),
        spatial.apply_spatial_params(x, params),
    )
    assert p.perturb(tf.constant(x)).shape == x.shape


def test_box_from_keras_layers():
    layers = [
        keras.layers.RandomTranslation(0.2, 0.1),
        keras.layers.RandomRotation(1 / 12),
        keras.layers.RandomZoom(0.25),
    ]
    p = WorstOfKSpatial.from_layers(layers, k=3)
    low, high = p.bounds(tf.zeros((1, 10, 20, 1)))
    np.testing.assert_allclose(high.numpy(), [0.1 * 20, 0.2 * 10, 30.0, 1 / 0.75], rtol=1e-6)
    np.testing.assert_allclose(low.numpy(), [-2.0, -2.0, -30.0, 0.8], rtol=1e-6)
    again = WorstOfKSpatial.from_config(p.get_config())
    assert normalized(again.get_config()) == normalized(p.get_config())
    with pytest.raises(ValueError, match="RandomTranslation, RandomRotation, RandomZoom"):
        SpatialPGD.from_layers([keras.layers.RandomFlip()])


@pytest.mark.parametrize(
    "perturbation",
    [RandomSpatialTransform(), WorstOfKSpatial(k=2), SpatialPGD(steps=1)],
    ids=["random", "worst_of_k", "spgd"],
)
def test_non_image_inputs_get_clear_error(perturbation):
    base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model, ctx = context_for(base, np.zeros((2, 6), "float32"), np.zeros((2,), "int32"))
    with pytest.raises(ValueError, match="4-D float image batch"):
        perturbation.perturb(tf.zeros((2, 6)), ctx)
    with pytest.raises(ValueError, match="4-D float image batch"):
        perturbation.perturb(tf.zeros((2, 4, 4, 1), "int32"), ctx)


@pytest.mark.parametrize("rank_by", ["loss", "kl", "l2"])
def test_worst_of_k_picks_the_argmax(rank_by):
    x, y = blobs(8, seed=1)
    base = tiny_cnn()
    _, ctx = context_for(base, x, y)
    k = 5
    p = WorstOfKSpatial(k=k, objective=rank_by, seed=0)
    fixed = spatial.sample_spatial_params(k * 8, seed=3)
    p.sample_parameters = lambda images, rows=None: fixed
    chosen, params = p.search(tf.constant(x), ctx)
    candidates = spatial.apply_spatial_params(np.concatenate([x] * k), fixed)
    logits = base(candidates, training=False).numpy()
    clean = np.concatenate([base(x, training=False).numpy()] * k)
    if rank_by == "loss":
        scores = per_example_loss(base, candidates, np.tile(y, k))
    elif rank_by == "kl":
        p_c, p_t = tf.nn.softmax(clean).numpy(), tf.nn.softmax(logits).numpy()
        scores = np.sum(p_c * (np.log(p_c) - np.log(p_t)), axis=-1)
    else:
        scores = np.sum((clean - logits) ** 2, axis=-1)
    best = np.argmax(scores.reshape(k, 8), axis=0)
    expected = fixed.numpy().reshape(k, 8, 3)[best, np.arange(8)]
    np.testing.assert_allclose(params.numpy(), expected)
    np.testing.assert_allclose(
        chosen.numpy(), spatial.apply_spatial_params(x, expected).numpy(), atol=1e-6
    )


@pytest.mark.parametrize("random_start", [False, True])
def test_spgd_stays_in_box_and_increases_loss(random_start):
    x, y = blobs(32, seed=2)
    base = tiny_cnn()
    _, ctx = context_for(base, x, y)
    p = SpatialPGD(steps=6, translation=2, rotation=20, random_start=random_start, seed=0)
    x_adv, params, trace = p.search(tf.constant(x), ctx, return_trace=True)
    visited = np.stack([t[0].numpy() for t in trace] + [params.numpy()])
    limits = np.array([2.0, 2.0, 20.0])
    assert np.all(np.abs(visited) <= limits + 1e-5)
    start_loss = per_example_loss(base, spatial.apply_spatial_params(x, visited[0]), y)
    end_loss = per_example_loss(base, x_adv, y)
    assert end_loss.mean() > start_loss.mean() + 1e-3
    # keep_best: no row ends below its start, and most rows gain.
    assert np.all(end_loss >= start_loss - 1e-5)
    assert np.mean(end_loss > start_loss + 1e-4) > 0.5
    chosen = [np.isclose(visited[:, i], params.numpy()[i]).all(-1).any() for i in range(32)]
    assert all(chosen)  # the result is one of the visited points
    if not random_start:
        np.testing.assert_allclose(visited[0], 0.0)


def test_spgd_step_sizes_and_config():
    p = SpatialPGD(steps=4, step_size=[0.5, 0.5, 5.0, 0.02], scale=(0.9, 1.1), random_start=False,
                   objective="kl", training=True, seed=2, fill_mode="nearest")
    assert p.num_parameters == 4
    with pytest.raises(ValueError, match="step_size"):
        SpatialPGD(step_size=[1.0, 1.0])
    with pytest.raises(ValueError, match="objective"):
        SpatialPGD(objective="hinge")
    with pytest.raises(ValueError, match="objective"):
        WorstOfKSpatial(objective="hinge")
    with pytest.warns(DeprecationWarning, match="use `objective=`"):
        assert WorstOfKSpatial(rank_by="kl").objective == "kl"
    again = SpatialPGD.from_config(p.get_config())
    assert normalized(again.get_config()) == normalized(p.get_config())
    np.testing.assert_allclose(SpatialPGD(steps=5).step_sizes(None).numpy(), [1.5, 1.5, 15.0])
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(p))
    assert isinstance(restored, SpatialPGD) and restored.objective == "kl"


@pytest.mark.parametrize("search", ["worst_of_k", "spgd"])
def test_search_leaves_batchnorm_statistics_alone(search):
    """Search passes run in inference mode: moving statistics unchanged."""
    x, y = blobs(16, seed=3)
    base = tiny_cnn(batchnorm=True)
    _, ctx = context_for(base, x, y)
    bn = base.get_layer("bn")
    before = [w.numpy().copy() for w in bn.non_trainable_weights]
    p = WorstOfKSpatial(k=3, objective="kl") if search == "worst_of_k" else SpatialPGD(steps=2)
    p.perturb(tf.constant(x), ctx)
    for a, b in zip(before, bn.non_trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())


# ------------------------------------------------------------------ presets


def test_presets_build_the_table_columns():
    expected = {
        "std": (None, []),
        "da": ("RandomSpatialTransform", []),
        "da_kl": ("RandomSpatialTransform", ["kl"]),
        "at": ("WorstOfKSpatial", []),
        "at_kl": ("WorstOfKSpatial", ["kl"]),
        "at_l2": ("WorstOfKSpatial", ["squared_l2"]),
    }
    assert set(expected) == set(SPATIAL_MODES)
    for mode, (perturbation, distances) in expected.items():
        model = SpatialInvariance(tiny_cnn(), preset=mode, weight=0.5)
        name = type(model.perturbation).__name__ if model.perturbation else None
        assert name == perturbation, mode
        assert float(model.alpha) == 1.0
        assert float(model.beta) == (0.0 if mode == "std" else 1.0)
        got = [type(p.distance).__name__ for p in model.penalties]
        want = {"kl": "KLDivergence", "squared_l2": "SquaredL2"}
        assert got == [want[d] for d in distances], mode
        assert all(float(p.weight) == 0.5 for p in model.penalties)
    model = SpatialInvariance(tiny_cnn(), preset="at_l2", attack="spgd", steps=3)
    assert isinstance(model.perturbation, SpatialPGD)
    assert model.perturbation.objective == "l2" and model.perturbation.steps == 3
    model = SpatialInvariance(tiny_cnn(), preset="at_kl", objective="loss")
    assert model.perturbation.objective == "loss"
    model = SpatialInvariance(
        tiny_cnn(), preset="da", layers=[keras.layers.RandomRotation(0.05)]
    )
    assert float(model.perturbation.rotation) == pytest.approx(18.0)
    assert float(model.perturbation.translation_x) == 0.0
    with pytest.raises(ValueError, match="Unknown spatial preset"):
        SpatialInvariance(tiny_cnn(), preset="trades")


def test_da_kl_objective_by_hand():
    """L(x) + L(x̃) + λ·KL(f(x) ‖ f(x̃)) for a given x̃."""
    x, y = blobs(8, seed=4)
    base = tiny_cnn()
    model = SpatialInvariance(base, preset="da_kl", weight=0.7)
    model.compile("sgd", SCCE)
    x_t = spatial.apply_spatial_params(x, spatial.sample_spatial_params(8, seed=1)).numpy()
    total, terms = model.compute_objective(x, y, x_perturbed=x_t)
    z, z_t = base(x).numpy(), base(x_t).numpy()
    clean = per_example_loss(base, x, y).mean()
    pert = per_example_loss(base, x_t, y).mean()
    p, q = tf.nn.softmax(z).numpy(), tf.nn.softmax(z_t).numpy()
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))
    np.testing.assert_allclose(float(terms["output_divergence"]), kl, rtol=1e-4)
    np.testing.assert_allclose(float(total), clean + pert + 0.7 * kl, rtol=1e-5)


@pytest.mark.parametrize(
    "mode,attack", [("da_kl", "worst_of_k"), ("at_kl", "worst_of_k"), ("at_l2", "spgd")]
)
def test_fit_logs_and_jit_compile(mode, attack):
    x, y = blobs(32, seed=5)
    model = SpatialInvariance(tiny_cnn(), preset=mode, attack=attack, k=3, steps=1, seed=1)
    history = check_fit_logs(
        model, x, y, ["loss", "clean_loss", "perturbed_loss", "output_divergence"],
        jit_compile=True,
    )
    assert len(history.history["loss"]) == 2


def test_spgd_mirrored_strategy_equivalence():
    """S-PGD without random start (deterministic), A.T. + KL with KL search.

    Compared: the weights after 4 SGD steps of L(x) + L(x̃) + λ·KL with x̃
    from a 2-step S-PGD on KL started 1% off the identity, on one CPU and on
    MirroredStrategy over two CPUs (each replica searches its own rows).
    """
    x, y = blobs(64, seed=6)
    check_distribution_equivalence(
        lambda: SpatialInvariance(
            tiny_cnn(), preset="at_kl", attack="spgd", steps=2, random_start=False, weight=0.5
        ),
        x,
        y,
    )


def test_spgd_save_load(tmp_path):
    x, y = blobs(32, seed=7)
    model = SpatialInvariance(
        tiny_cnn(), preset="at_l2", attack="spgd", steps=1, translation=2, rotation=15, seed=4
    )
    model.compile(keras.optimizers.SGD(0.05), SCCE)
    loaded = check_save_load(model, x, y, tmp_path)
    assert isinstance(loaded.perturbation, SpatialPGD)
    assert float(loaded.perturbation.rotation) == 15.0


def test_box_limits_are_tunable_without_retracing():
    x, y = blobs(32, seed=8)
    model = SpatialInvariance(tiny_cnn(), preset="da", seed=0)
    model.compile(keras.optimizers.SGD(0.05), SCCE)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    function = model.train_function
    model.perturbation.rotation.assign(5.0)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.train_function is function
    low, high = model.perturbation.bounds(tf.constant(x))
    assert float(high[2]) == 5.0


# --------------------------------------------------------------- evaluation


def test_spatial_pgd_accuracy():
    x, y = blobs(48, seed=9)
    base = tiny_cnn()
    base.compile(keras.optimizers.Adam(0.02), SCCE)
    base.fit(x, y, epochs=15, verbose=0)
    clean = clean_accuracy(base, x, y)
    assert clean > 0.6
    # A zero box is no attack.
    none = spatial_pgd_accuracy(base, x, y, steps=1, translation=0, rotation=0)
    assert none == pytest.approx(clean)
    acc, flags = spatial_pgd_accuracy(base, x, y, steps=3, restarts=2, return_per_example=True)
    assert acc < clean and flags.shape == (48,)
    # A smaller box is a weaker attack (no random start: it only adds points).
    weaker = spatial_pgd_accuracy(base, x, y, steps=3, translation=0.5, rotation=3,
                                  random_start=False)
    assert acc <= weaker <= clean
    # One-hot labels give the same answer.
    onehot = np.eye(3)[y]
    assert spatial_pgd_accuracy(base, x, onehot, steps=3, restarts=2) == acc

