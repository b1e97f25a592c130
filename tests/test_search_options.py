"""NSL's attack options, from closed forms on linear models.

A linear regression f(x) = w·x + b under a mean absolute error with labels
far below the predictions has ∇x L = w/B on every row, whatever x: every
FGSM and PGD step is then known exactly (ℓ∞: sign(w), ℓ2: w/‖w‖, ℓ1: the
largest |w_j|), and so are masked steps and steps with an extra objective
term. A linear classifier gives the targeted step in closed form:
∇x CE(t) = Wᵀ(p − e_t).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.perturbations import norm_balls

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
W = np.array([0.5, -2.0, 1.0, 0.25], "float32")
ROWS = 6


def linear_regression():
    x = keras.Input((4,), name="x")
    dense = keras.layers.Dense(1, name="out")
    base = keras.Model(x, dense(x))
    dense.set_weights([W[:, None], np.array([0.3], "float32")])
    return base


def batch(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, 4)).astype("float32"), np.full((rows, 1), -100.0, "float32")


def perturbed(perturbation, x=None, y=None, **kwargs):
    model = ki.InvariantModel(linear_regression(), beta=1.0, perturbation=perturbation)
    model.compile("sgd", "mae")
    if x is None:
        x, y = batch()
    return x, model.perturb_on_batch(x, y, **kwargs)


def rows_of(direction, rows=ROWS):
    return np.tile(np.asarray(direction, "float32")[None], (rows, 1))


@pytest.mark.parametrize(
    "norm, direction",
    [
        ("inf", np.sign(W)),
        (2, W / np.linalg.norm(W)),
        (1, [0.0, -1.0, 0.0, 0.0]),
    ],
)
def test_fgsm_steps_along_the_norms_steepest_direction(norm, direction):
    x, x_adv = perturbed(ki.perturbations.FGSM(0.3, norm=norm))
    np.testing.assert_allclose(x_adv - x, 0.3 * rows_of(direction), atol=1e-6)


def test_the_l1_step_splits_evenly_between_tied_coordinates():
    g = np.array([[1.0, -3.0, 3.0, 0.5]], "float32")
    np.testing.assert_allclose(
        norm_balls.steepest_direction(g, 1), [[0.0, -0.5, 0.5, 0.0]])


@pytest.mark.parametrize("norm", ["inf", 2, 1])
@pytest.mark.parametrize("steps, step_size, length", [(2, 0.09, 0.18), (3, 0.2, 0.3)])
def test_pgd_from_x_walks_then_stops_at_the_ball(norm, steps, step_size, length):
    direction = {"inf": np.sign(W), 2: W / np.linalg.norm(W), 1: [0.0, -1.0, 0.0, 0.0]}
    x, x_adv = perturbed(ki.perturbations.PGD(0.3, norm=norm, steps=steps, step_size=step_size,
                                random_start=False))
    np.testing.assert_allclose(x_adv - x, length * rows_of(direction[norm]), atol=1e-6)


def test_pgd_l1_from_a_random_start_reaches_the_corner_inside_the_ball():
    x, x_adv = perturbed(ki.perturbations.PGD(0.3, norm=1, steps=30, step_size=0.1, seed=3))
    delta = x_adv - x
    assert np.all(np.sum(np.abs(delta), -1) <= 0.3 + 1e-5)
    np.testing.assert_allclose(delta, 0.3 * rows_of([0.0, -1.0, 0.0, 0.0]), atol=1e-5)


def test_the_l1_projection_is_the_soft_threshold_onto_the_ball():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 7)).astype("float32") * rng.uniform(0.1, 2.0, (50, 1))
    radius = 1.0
    projected = norm_balls.project_to_ball(v, radius, 1).numpy()
    inside = np.sum(np.abs(v), -1) <= radius
    np.testing.assert_allclose(projected[inside], v[inside], rtol=1e-6)
    # Outside: on the sphere, sign-preserving, and v − Π(v) ∈ θ·∂‖·‖₁ (KKT).
    out = projected[~inside]
    np.testing.assert_allclose(np.sum(np.abs(out), -1), radius, rtol=1e-5)
    moved = v[~inside] - out
    theta = np.max(np.abs(moved), -1, keepdims=True)
    support = out != 0
    np.testing.assert_allclose(np.abs(moved)[support], np.broadcast_to(theta, out.shape)[support],
                               rtol=1e-4)
    assert np.all(
        np.abs(v[~inside])[~support] <= np.broadcast_to(theta, out.shape)[~support] + 1e-6)


def test_projections_of_several_inputs_are_joint():
    a, b = np.array([[3.0, 0.0]], "float32"), np.array([[4.0]], "float32")
    joint = norm_balls.project_to_ball([a, b], 1.0, 2)
    np.testing.assert_allclose(np.concatenate([t.numpy() for t in joint], -1), [[0.6, 0.0, 0.8]],
                               rtol=1e-6)
    joint = norm_balls.project_to_ball([a, b], 3.0, 1)
    np.testing.assert_allclose(np.concatenate([t.numpy() for t in joint], -1), [[1.0, 0.0, 2.0]],
                               rtol=1e-6)


@pytest.mark.parametrize("norm", ["inf", 2, 1])
def test_random_points_fill_the_ball_uniformly(norm):
    seed = keras.random.SeedGenerator(1)
    dims, radius = 3, 0.5
    delta = norm_balls.random_in_ball([tf.zeros((4000, dims))], radius, norm, seed)
    r = norm_balls.ball_norm(delta, norm).numpy() / radius
    assert r.max() <= 1.0 + 1e-6
    # Uniform in a d-ball: P(‖δ‖ ≤ rε) = r^d, so (‖δ‖/ε)^d is uniform on [0, 1].
    assert abs(np.mean(r ** dims) - 0.5) < 0.02
    assert abs(np.mean(np.sign(delta[0].numpy()))) < 0.05


def linear_classifier():
    x = keras.Input((4,))
    dense = keras.layers.Dense(3)
    base = keras.Model(x, dense(x))
    weights = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0], [0.3, -0.2, 0.6], [-1.0, 0.0, 1.0]],
                       "float32")
    dense.set_weights([weights, np.zeros(3, "float32")])
    return base, weights


@pytest.mark.parametrize("target", [2, "least_likely", "second_most_likely", "given"])
def test_a_targeted_fgsm_descends_the_cross_entropy_towards_the_target(target):
    base, weights = linear_classifier()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)).astype("float32")
    y = rng.integers(0, 3, 5).astype("int32")
    model = ki.InvariantModel(base, beta=1.0, perturbation=ki.perturbations.FGSM(
        0.2, target=None if target == "given" else target))
    model.compile("sgd", SCCE)
    logits = x @ weights
    p = np.exp(logits) / np.sum(np.exp(logits), -1, keepdims=True)
    t = {2: np.full(5, 2), "least_likely": np.argmin(logits, -1),
         "second_most_likely": np.argsort(-logits, -1)[:, 1],
         "given": np.array([0, 1, 2, 0, 1])}[target]
    x_adv = model.perturb_on_batch(x, y, targets=t if target == "given" else None)
    gradient = (p - np.eye(3)[t]) @ weights.T
    np.testing.assert_allclose(x_adv, x - 0.2 * np.sign(gradient), atol=1e-6)
    before = p[np.arange(5), t]
    after = tf.nn.softmax(base(x_adv)).numpy()[np.arange(5), t]
    assert np.all(after > before)


def test_a_random_target_is_a_class_and_a_targeted_search_needs_no_labels():
    base, _ = linear_classifier()
    model = ki.InvariantModel(
        base, beta=1.0, perturbation=ki.perturbations.PGD(0.1, steps=2, target="random")
    )
    model.compile("sgd", SCCE)
    x_adv = model.perturb_on_batch(np.zeros((8, 4), "float32"))
    assert x_adv.shape == (8, 4)
    with pytest.raises(ValueError, match="replaces `objective`"):
        ki.perturbations.PGD(0.1, target=1, objective="kl")


def test_a_feature_mask_keeps_masked_elements_and_renormalizes_the_rest():
    mask = np.array([1.0, 0.0, 1.0, 0.0], "float32")
    x, x_adv = perturbed(ki.perturbations.FGSM(0.3, norm=2, feature_mask=mask))
    direction = mask * W / np.linalg.norm(mask * W)
    np.testing.assert_allclose(x_adv - x, 0.3 * rows_of(direction), atol=1e-6)
    x, x_adv = perturbed(ki.perturbations.PGD(0.3, steps=3, feature_mask=mask, seed=2))
    np.testing.assert_array_equal((x_adv - x)[:, [1, 3]], 0.0)
    assert np.all(np.abs(x_adv - x) <= 0.3 + 1e-6)


def test_a_feature_mask_by_input_name():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    base = keras.Model([a, b], keras.layers.Dense(3)(keras.layers.Concatenate()([a, b])))
    model = ki.InvariantModel(base, beta=1.0, perturbation=ki.perturbations.FGSM(
        0.1, feature_mask={"b": [0.0, 1.0]}))
    model.compile("sgd", SCCE)
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 2)).astype("float32") for _ in range(2)]
    x_adv = model.perturb_on_batch(x, np.zeros(4, "int32"))
    assert np.all(np.abs(x_adv[0] - x[0]) > 0.09)
    np.testing.assert_array_equal(x_adv[1][:, 0], x[1][:, 0])
    wrong = ki.InvariantModel(base, beta=1.0, perturbation=ki.perturbations.FGSM(
        0.1, feature_mask={"c": [1.0]}))
    wrong.compile("sgd", SCCE)
    with pytest.raises(ValueError, match="names inputs"):
        wrong.perturb_on_batch(x, np.zeros(4, "int32"))


def test_an_objective_term_is_added_to_what_the_search_maximizes():
    c = np.float32(0.5)
    term = lambda x_tilde, outputs, context: c * x_tilde[:, 0]  # noqa: E731
    x, x_adv = perturbed(ki.perturbations.FGSM(0.3, norm=2, objective_term=term))
    g = W / ROWS + np.array([c, 0.0, 0.0, 0.0], "float32")
    np.testing.assert_allclose(x_adv - x, 0.3 * rows_of(g / np.linalg.norm(g)), atol=1e-6)


def test_options_round_trip_in_the_config():
    pgd = ki.perturbations.PGD(0.2, norm=1, target="least_likely", feature_mask=[[1.0, 0.0]])
    restored = ki.perturbations.PGD.from_config(pgd.get_config())
    assert restored.norm == "1" and restored.target == "least_likely"
    np.testing.assert_array_equal(restored.feature_mask, [[1.0, 0.0]])
    with pytest.raises(ValueError, match=r"values must be in \[0, 1\]"):
        ki.perturbations.FGSM(0.1, feature_mask=[2.0])
