"""Device-count independence: N replicas draw and train what one device does.

Every random draw is keyed to (seed, step, position of the example in the
global batch), so `MirroredStrategy` over two logical CPUs must give the
one-device weights to 1e-5 with every perturbation's randomness on. The
keyed draws themselves are checked for the properties that make this hold
and for their distribution.
"""

import keras
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.ops import random_ops
from tests.engine_checks import check_distribution_equivalence
from tests.models import valid_cnn_8x8 as tiny_cnn

# ------------------------------------------------------------- keyed draws


def draw(positions, global_rows, shape_rest=(3,), step=0, seed=5, calls=1):
    gen = keras.random.SeedGenerator(seed)
    with random_ops.step_key(step, tf.constant(positions), global_rows):
        out = [random_ops.normal((len(positions),) + shape_rest, seed=gen)
               for _ in range(calls)]
    return [o.numpy() for o in out]


def test_a_row_draws_the_same_numbers_wherever_it_sits():
    whole = draw(list(range(8)), 8)[0]
    np.testing.assert_array_equal(draw([4, 5, 6, 7], 8)[0], whole[4:])
    np.testing.assert_array_equal(draw([0, 1, 2, 3], 8)[0], whole[:4])


def test_blocks_of_rows_are_keyed_by_block_and_position():
    gen = keras.random.SeedGenerator(2)
    with random_ops.step_key(3, tf.range(4), 4):
        whole = random_ops.uniform((8, 2), seed=gen).numpy()  # K = 2 copies
    with random_ops.step_key(3, tf.constant([2, 3]), 4):
        half = random_ops.uniform((4, 2), seed=keras.random.SeedGenerator(2)).numpy()
    np.testing.assert_array_equal(half[:2], whole[2:4])
    np.testing.assert_array_equal(half[2:], whole[6:8])


def test_draws_change_with_step_seed_and_call():
    a = draw(range(4), 4)[0]
    assert not np.allclose(a, draw(range(4), 4, step=1)[0])
    assert not np.allclose(a, draw(range(4), 4, seed=6)[0])
    first, second = draw(range(4), 4, calls=2)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(a, draw(range(4), 4)[0])  # reproducible


def test_keyed_draws_have_the_right_distribution():
    gen = keras.random.SeedGenerator(0)
    with random_ops.step_key(0, tf.range(2000), 2000):
        z = random_ops.normal((2000, 50), mean=1.0, stddev=2.0, seed=gen).numpy()
        u = random_ops.uniform((2000, 50), -1.0, 3.0, seed=gen).numpy()
    assert abs(z.mean() - 1.0) < 0.02 and abs(z.std() - 2.0) < 0.02
    assert stats.kstest((z.ravel() - 1.0) / 2.0, "norm").pvalue > 1e-3
    assert u.min() >= -1.0 and u.max() < 3.0
    assert stats.kstest((u.ravel() + 1.0) / 4.0, "uniform").pvalue > 1e-3
    # Neighbouring rows and elements are uncorrelated.
    assert abs(np.corrcoef(z[:-1, 0], z[1:, 0])[0, 1]) < 0.1
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.1


def test_draws_outside_a_step_advance_the_generator():
    gen = keras.random.SeedGenerator(1)
    assert not np.allclose(random_ops.normal((4,), seed=gen), random_ops.normal((4,), seed=gen))


def test_keyed_draws_compile_under_xla():
    gen = keras.random.SeedGenerator(4)

    def draw_with(positions):
        with random_ops.step_key(2, positions, 6):
            return random_ops.normal((6, 5), seed=gen)

    f = tf.function(draw_with, jit_compile=True)
    g = tf.function(draw_with)

    np.testing.assert_allclose(f(tf.range(6)).numpy(), g(tf.range(6)).numpy(), atol=1e-6)


# ------------------------------------------------- presets on two replicas


def images(n=64, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 8, 8, channels)).astype("float32")
    return x, rng.integers(0, 3, n).astype("int32")


IMAGE_PRESETS = {
    "da_kl": lambda: ki.SpatialInvariance(tiny_cnn(), preset="da_kl", translation=2, rotation=10),
    "at_worst_of_k": lambda: ki.SpatialInvariance(tiny_cnn(), preset="at", k=3, translation=2),
    "at_kl_spgd": lambda: ki.SpatialInvariance(
        tiny_cnn(), preset="at_kl", attack="spgd", steps=2, translation=2, rotation=10
    ),
    "tangent_projections": lambda: ki.TangentBP(tiny_cnn(), num_projections=2, weight=0.1),
    "fast_tangent": lambda: ki.FastTangentBP(tiny_cnn(), weight=0.1),
    "global_augmentation": lambda: ki.IRL(
        tiny_cnn(),
        perturbation=ki.perturbations.GaussianNoise(0.1),
        global_augmentation=ki.perturbations.RandomSpatialTransform(translation=1, rotation=5),
    ),
}


@pytest.mark.parametrize("name", sorted(IMAGE_PRESETS))
def test_image_presets_match_one_device_with_randomness_on(name):
    x, y = images()
    check_distribution_equivalence(IMAGE_PRESETS[name], x, y)


def test_color_noise_matches_one_device():
    x, y = images(channels=3)
    check_distribution_equivalence(
        lambda: ki.IRL(
            tiny_cnn(3), perturbation=ki.perturbations.InDomainImageNoise(value_range=(0, 1))
        ),
        x,
        y,
    )


def test_token_noise_matches_one_device():
    rng = np.random.default_rng(1)
    x = rng.integers(1, 20, (64, 6)).astype("int32")
    y = rng.integers(0, 3, 64).astype("int32")

    def build():
        inputs = keras.Input((6,), dtype="int32")
        h = keras.layers.Embedding(20, 4)(inputs)
        h = keras.layers.GlobalAveragePooling1D()(h)
        model = keras.Model(inputs, keras.layers.Dense(3)(h))
        return ki.IRL(
            model, perturbation=ki.perturbations.UnigramNoise(vocabulary_size=20, p=0.3, pad_id=0)
        )

    check_distribution_equivalence(build, x, y)


def test_uneven_split_draws_what_one_device_draws():
    """A global batch of 9 split 5/4: each replica's noise is its rows' noise.

    (Keras averages the loss per replica, so weights after an uneven batch
    differ from one device even without noise; the draws do not.)
    """
    from keras_invariance.engine import distribution
    from tests.engine_checks import mirrored_strategy

    x = np.arange(9 * 3, dtype="float32").reshape(9, 3)
    noise = ki.perturbations.GaussianNoise(1.0, seed=3)
    with random_ops.step_key(0, tf.range(9), 9):
        expected = noise.perturb(tf.constant(x)).numpy()
    strategy = mirrored_strategy()
    parts = [x[:5], x[5:]]
    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group])
    )

    def replica_fn(rows):
        positions, total = distribution.replica_row_positions(tf.shape(rows)[0])
        with random_ops.step_key(0, positions, total):
            return noise.perturb(rows)

    result = strategy.run(tf.function(replica_fn), args=(values,))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(result)])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_keyed_draws_stay_finite_at_the_extremes_of_the_hash():
    from keras_invariance.ops.random_ops import _unit_interval

    extremes = tf.constant([0, 1, 2**32 - 1, 2**32 - 2, 2**31], tf.uint64)
    u = _unit_interval(tf.cast(extremes, tf.uint32)).numpy()
    assert (u > 0).all() and (u < 1).all()
    z = np.sqrt(2.0) * tf.math.erfinv(2.0 * u - 1.0).numpy()
    assert np.isfinite(z).all() and np.abs(z).max() < 6
