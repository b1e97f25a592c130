"""Distances d(u, v): values, zero vectors, low precision, resolution."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import distances

ALL = [
    ki.distances.SquaredL2(),
    ki.distances.CosineDistance(),
    ki.distances.L2Cosine(cosine_weight=0.7),
    ki.distances.KLDivergence(from_logits=True),
    ki.distances.CrossEntropy(from_logits=True),
    ki.distances.L1Distance(),
    ki.distances.JensenShannonDivergence(from_logits=True),
]


def test_values_match_numpy():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(4, 2, 3)).astype("float32")
    v = rng.normal(size=(4, 2, 3)).astype("float32")
    uf, vf = u.reshape(4, -1), v.reshape(4, -1)
    l2 = ((uf - vf) ** 2).sum(-1)
    cos = (uf * vf).sum(-1) / np.linalg.norm(uf, axis=-1) / np.linalg.norm(vf, axis=-1)
    energy = 0.5 * ((uf**2).sum(-1) + (vf**2).sum(-1))
    np.testing.assert_allclose(ki.distances.SquaredL2().distance(u, v), l2, rtol=1e-5)
    np.testing.assert_allclose(
        ki.distances.SquaredL2().distance(u, v, l2_scale=2.0), l2 / 2, rtol=1e-5
    )
    np.testing.assert_allclose(
        ki.distances.SquaredL2(relative=True).distance(u, v), l2 / energy, rtol=1e-5
    )
    np.testing.assert_allclose(ki.distances.CosineDistance().distance(u, v), 1 - cos, rtol=1e-5)
    np.testing.assert_allclose(
        ki.distances.L2Cosine(cosine_weight=0.7).distance(u, v), l2 + 0.7 * (1 - cos), rtol=1e-5
    )
    np.testing.assert_allclose(
        ki.distances.L2Cosine(cosine_weight=0.7, relative=True).distance(u, v),
        l2 / energy + 0.7 * (1 - cos), rtol=1e-5,
    )
    p = np.exp(u[:, 0]) / np.exp(u[:, 0]).sum(-1, keepdims=True)
    q = np.exp(v[:, 0]) / np.exp(v[:, 0]).sum(-1, keepdims=True)
    np.testing.assert_allclose(
        ki.distances.KLDivergence().distance(u[:, 0], v[:, 0]),
        (p * np.log(p / q)).sum(-1),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ki.distances.CrossEntropy().distance(u[:, 0], v[:, 0]),
        -(p * np.log(q)).sum(-1),
        rtol=1e-5,
    )


def test_identical_inputs_have_minimal_distance():
    u = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(ki.distances.SquaredL2().distance(u, u), 0.0, atol=1e-6)
    np.testing.assert_allclose(ki.distances.CosineDistance().distance(u, u), 0.0, atol=1e-6)
    np.testing.assert_allclose(ki.distances.KLDivergence().distance(u, u), 0.0, atol=1e-6)


@pytest.mark.parametrize("distance", ALL, ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("zero", ["both", "one"])
def test_zero_vectors_and_low_precision_stay_finite(distance, dtype, zero):
    u = tf.zeros((2, 4), dtype)
    v = tf.zeros((2, 4), dtype) if zero == "both" else tf.ones((2, 4), dtype) * 1e-3
    with tf.GradientTape() as tape:
        tape.watch([u, v])
        d = distance.distance(u, v)
    gu, gv = tape.gradient(d, [u, v], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert d.dtype == tf.float32
    assert np.all(np.isfinite(d.numpy()))
    assert np.all(np.isfinite(tf.cast(gu, "float32").numpy()))
    assert np.all(np.isfinite(tf.cast(gv, "float32").numpy()))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_large_half_precision_activations_do_not_overflow(dtype):
    u = tf.fill((1, 4096), tf.constant(200.0, dtype))
    v = tf.fill((1, 4096), tf.constant(-200.0, dtype))
    d = ki.distances.L2Cosine().distance(u, v)
    np.testing.assert_allclose(d.numpy(), 4096 * 400.0**2 + 2.0, rtol=1e-2)
    # Relative: ‖u − v‖² = 4‖u‖², so 4 + λ·(1 − (−1)) = 6.
    np.testing.assert_allclose(
        ki.distances.L2Cosine(relative=True).distance(u, v).numpy(), 6.0, rtol=1e-2
    )


def test_get_resolves_names_and_rejects_unknown():
    assert isinstance(distances.get("irl"), ki.distances.L2Cosine)
    assert isinstance(distances.get(ki.distances.SquaredL2), ki.distances.SquaredL2)
    config = keras.saving.serialize_keras_object(ki.distances.L2Cosine(cosine_weight=0.3))
    restored = distances.get(config)
    assert ki.utils.hyperparameters.value_of(restored.cosine_weight) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="squared_l2"):
        distances.get("euclid")


def test_relative_distance_is_scale_free_and_bounded():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(5, 7)).astype("float32")
    v = rng.normal(size=(5, 7)).astype("float32")
    rel = ki.distances.SquaredL2(relative=True)
    d = rel.distance(u, v).numpy()
    np.testing.assert_allclose(rel.distance(40 * u, 40 * v), d, rtol=1e-5)
    assert (d >= 0).all() and (d <= 4 + 1e-6).all()
    np.testing.assert_allclose(rel.distance(u, -u), 4.0, rtol=1e-5)
    # Wider layers with the same per-unit behaviour give the same value.
    wide_u, wide_v = np.tile(u, 10), np.tile(v, 10)
    np.testing.assert_allclose(rel.distance(wide_u, wide_v), d, rtol=1e-5)


def test_l2_cosine_is_never_negative():
    rng = np.random.default_rng(4)
    u = rng.normal(size=(50, 3)).astype("float32")
    for relative in (True, False):
        d = ki.distances.L2Cosine(cosine_weight=2.0, relative=relative)
        assert (d.distance(u, u).numpy() >= -1e-6).all()
        assert (d.distance(u, 0.5 * u + rng.normal(size=u.shape)).numpy() >= 0).all()


def _softmax(t):
    e = np.exp(t - t.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_l1_and_weighted_or_averaged_feature_sums():
    rng = np.random.default_rng(5)
    u = rng.normal(size=(4, 2, 3)).astype("float32")
    v = rng.normal(size=(4, 2, 3)).astype("float32")
    w = np.array([1.0, 0.0, 0.5], "float32")  # one weight per last-axis feature
    diff = np.abs(u - v)
    np.testing.assert_allclose(
        ki.distances.L1Distance().distance(u, v), diff.sum((1, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        ki.distances.L1Distance(weights=w).distance(u, v), (diff * w).sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(
        ki.distances.L1Distance(reduction="mean").distance(u, v), diff.mean((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(
        ki.distances.L1Distance(weights=w, reduction="mean").distance(u, v),
        (diff * w).sum((1, 2)) / (2 * w.sum()), rtol=1e-5)
    sq = (u - v) ** 2
    np.testing.assert_allclose(
        ki.distances.SquaredL2(weights=w).distance(u, v, l2_scale=2.0),
        (sq * w).sum((1, 2)) / 2,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        ki.distances.SquaredL2(reduction="mean").distance(u, v), sq.mean((1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="scale-free"):
        ki.distances.SquaredL2(relative=True, weights=w)
    with pytest.raises(ValueError, match="reduction"):
        ki.distances.L1Distance(reduction="max")
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        ki.distances.L1Distance(weights=[-1.0])


def test_jensen_shannon_closed_form_symmetric_and_bounded():
    rng = np.random.default_rng(6)
    u = 3 * rng.normal(size=(6, 4)).astype("float32")
    v = 3 * rng.normal(size=(6, 4)).astype("float32")
    p, q = _softmax(u), _softmax(v)
    m = (p + q) / 2
    expected = 0.5 * (p * np.log(p / m)).sum(-1) + 0.5 * (q * np.log(q / m)).sum(-1)
    js = ki.distances.JensenShannonDivergence()
    np.testing.assert_allclose(js.distance(u, v), expected, rtol=1e-4)
    np.testing.assert_allclose(js.distance(v, u), expected, rtol=1e-4)
    far = np.array([[60.0, -60.0]], "float32")
    np.testing.assert_allclose(js.distance(far, -far), np.log(2.0), rtol=1e-5)
    np.testing.assert_allclose(
        ki.distances.JensenShannonDivergence(from_logits=False).distance(p, q), expected, rtol=1e-4)


def test_bernoulli_jensen_shannon_sums_the_units():
    u = np.array([[0.5, -2.0]], "float32")
    v = np.array([[-1.0, 1.0]], "float32")
    p, q = 1 / (1 + np.exp(-u)), 1 / (1 + np.exp(-v))

    def kl(a, b):
        return a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))

    m = (p + q) / 2
    expected = (0.5 * kl(p, m) + 0.5 * kl(q, m)).sum(-1)
    d = ki.distances.JensenShannonDivergence(distribution="bernoulli")
    np.testing.assert_allclose(d.distance(u, v), expected, rtol=1e-5)
    from keras_invariance.graph import outputs
    on_outputs = distances.for_outputs(d, outputs.OutputSpec("bernoulli"), "test")
    np.testing.assert_allclose(on_outputs(u, v), expected, rtol=1e-5)


def test_new_names_resolve():
    assert isinstance(distances.get("l1"), ki.distances.L1Distance)
    assert isinstance(distances.get("js"), ki.distances.JensenShannonDivergence)
    assert distances.get("jensen_shannon", from_logits=False).from_logits is False
    assert isinstance(distances.resolve_objective("js"), ki.distances.JensenShannonDivergence)
