"""Tests for the synthetic invariance datasets (Zhang & Arodz, §3, §5)."""

import numpy as np
import pytest

from keras_invariance.datasets import invariance_pairs as ip


def test_uniform_features_range_shape_and_seed():
    x = ip.uniform_features(1000, dim=20, seed=0)
    assert x.shape == (1000, 20) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    # Uniform on [-1, 1]: mean 0, variance 1/3.
    assert abs(x.mean()) < 0.02 and abs(x.var() - 1 / 3) < 0.02
    np.testing.assert_array_equal(x, ip.uniform_features(1000, 20, seed=0))


def test_dft_targets_match_hand_computation():
    x = np.array([[1.0, 2.0, 3.0, 4.0]], "float32")
    # DFT of [1, 2, 3, 4]: [10, -2+2j, -2, -2-2j].
    modulus = [10.0, np.sqrt(8), 2.0, np.sqrt(8)]
    phase = [0.0, 3 * np.pi / 4, np.pi, -3 * np.pi / 4]
    np.testing.assert_allclose(
        ip.dft_targets(x, "modulus_phase")[0], modulus + phase, rtol=1e-6
    )
    np.testing.assert_allclose(
        ip.dft_targets(x, "modulus_sin_cos")[0],
        modulus + list(np.sin(phase)) + list(np.cos(phase)),
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_allclose(ip.dft_targets(x, "modulus")[0], modulus)


def test_supervised_dataset_sizes_default_to_paper():
    import inspect

    sig = inspect.signature(ip.make_supervised_dataset)
    assert sig.parameters["num_train"].default == 60000
    assert sig.parameters["num_test"].default == 10000
    (xt, zt), (xv, zv) = ip.make_supervised_dataset(50, 20, dim=10)
    assert xt.shape == (50, 10) and zt.shape == (50, 30)
    assert xv.shape == (20, 10) and zv.shape == (20, 30)
    assert not np.allclose(xt[:20], xv)


@pytest.mark.parametrize("transformation", ip.TRANSFORMATIONS)
def test_same_entity_pairs_have_zero_invariant_distance(transformation):
    train, test = ip.make_pair_dataset(transformation, 400, 100, dim=10)
    assert train[0][0].shape == (400, 10) and test[1].shape == (100,)
    for (x1, x2), d in (train, test):
        same = d == 0
        # Half the pairs are same-entity, the rest are not.
        assert 0.35 < same.mean() < 0.65
        assert np.all(d[~same] > 1e-3)
        # The recomputed invariant vectors really agree on same pairs, and
        # the transformed copy is (almost always) a different vector.
        cycle = None
        if transformation == "permutation":
            cycle = _dataset_cycle(dim=10, seed=0)
        u = ip.invariant_features(x1, transformation, cycle)
        v = ip.invariant_features(x2, transformation, cycle)
        np.testing.assert_allclose(u[same], v[same], atol=1e-4)
        np.testing.assert_allclose(
            np.linalg.norm(u - v, axis=-1)[~same], d[~same], rtol=1e-4
        )
        assert np.mean(np.any(x1[same] != x2[same], axis=-1)) > 0.5


def _dataset_cycle(dim, seed):
    # make_pair_dataset draws its cycle from the first of three spawned
    # streams; regenerating it checks d* independently of the generator.
    cycle_rng, _, _ = np.random.default_rng(seed).spawn(3)
    return ip.random_cycle(dim, cycle_rng)


def test_shift_hand_example():
    x = np.array([[1, 2, 3, 4, 5]], "float32")
    rng = np.random.default_rng(0)
    y = ip.transform(x, "shift", rng)
    shifts = [np.roll(x[0], k) for k in range(5)]
    assert any(np.array_equal(y[0], s) for s in shifts)


def test_two_part_shift_shifts_halves_independently():
    x = np.arange(10, dtype="float32")[None].repeat(200, axis=0)
    y = ip.transform(x, "two_part_shift", np.random.default_rng(0))
    assert np.all(np.sort(y[:, :5], axis=-1) == np.arange(5))
    assert np.all(np.sort(y[:, 5:], axis=-1) == np.arange(5, 10))
    left_shift = (y[:, 0] - 0) % 5
    right_shift = (y[:, 5] - 5) % 5
    assert np.mean(left_shift != right_shift) > 0.5


def test_two_part_partial_pairs_have_positive_distance():
    (x1, x2), d = ip.make_pairs(
        2000, "two_part_shift", dim=10, positive_fraction=0.0,
        partial_fraction=1.0, seed=0
    )
    u = ip.invariant_features(x1, "two_part_shift")
    v = ip.invariant_features(x2, "two_part_shift")
    per_half = np.stack(
        [np.linalg.norm(u[:, :5] - v[:, :5], axis=-1),
         np.linalg.norm(u[:, 5:] - v[:, 5:], axis=-1)], axis=-1
    )
    # Exactly one half matches in every partial pair.
    assert np.all(np.sum(per_half < 1e-4, axis=-1) == 1)
    assert np.all(d > 0)


def test_permutation_is_a_step_along_the_cycle():
    cycle = ip.random_cycle(6, seed=1)
    x = np.arange(6, dtype="float32")[None]
    y = ip.transform(x, "permutation", np.random.default_rng(2), cycle)
    # Read in cycle order, the output is a circular shift of the input.
    assert any(
        np.array_equal(y[0, cycle], np.roll(x[0, cycle], k)) for k in range(6)
    )


def test_shift_scale_scales_and_is_scale_invariant():
    x = ip.uniform_features(100, 10, seed=0)
    y = ip.transform(x, "shift_scale", np.random.default_rng(0))
    ratio = np.linalg.norm(y, axis=-1) / np.linalg.norm(x, axis=-1)
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 2.0 + 1e-5
    np.testing.assert_allclose(
        ip.invariant_features(x, "shift_scale"),
        ip.invariant_features(y, "shift_scale"),
        atol=1e-5,
    )


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown transformation"):
        ip.make_pairs(10, "rotate")
    with pytest.raises(ValueError, match="must be even"):
        ip.make_pairs(10, "two_part_shift", dim=9)
    with pytest.raises(ValueError, match="positive integer"):
        ip.uniform_features(0, 10)
    with pytest.raises(ValueError, match="Unknown representation"):
        ip.dft_targets(np.zeros((2, 4)), "polar")
    with pytest.raises(ValueError, match="shape"):
        ip.dft_targets(np.zeros(4), "modulus")
    with pytest.raises(ValueError, match="cycle"):
        ip.transform(np.zeros((2, 4)), "permutation", np.random.default_rng())
    with pytest.raises(ValueError, match="partial_fraction"):
        ip.make_pairs(10, "shift", partial_fraction=0.2)
    with pytest.raises(ValueError, match="positive_fraction"):
        ip.make_pairs(10, "shift", positive_fraction=1.5)
