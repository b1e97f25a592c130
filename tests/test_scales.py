"""The normalized scale: batch statistics, exact, on any batch shape and device count."""

import keras
import numpy as np
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.ops import numerics
from keras_invariance.ops import scales
from tests.engine_checks import mirrored_strategy


def test_statistics_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 5)).astype("float32")
    flat = x.reshape(6, -1)
    np.testing.assert_allclose(
        float(scales.batch_energy(x)), np.mean(np.sum(flat**2, 1)), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(scales.batch_power(x, 1)), np.mean(np.sum(np.abs(flat), 1)), rtol=1e-6
    )
    np.testing.assert_allclose(float(scales.input_rms(x)), np.sqrt(np.mean(x**2)), rtol=1e-6)
    centred = flat - flat.mean(0)
    np.testing.assert_allclose(
        float(scales.batch_spread(x)), np.mean(np.sum(centred**2, 1)), rtol=1e-5
    )


def test_the_spread_is_in_the_gradient_and_the_energy_is_not():
    """d/dt E‖t − t̄‖² = 2(t − t̄)/n (the centring's own term sums to 0);
    d/dt E‖t‖² = 2t/n where the energy is kept in the gradient."""
    t = tf.constant(np.random.default_rng(3).normal(size=(5, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(t)
        spread, energy = scales.batch_spread(t), scales.batch_energy(t)
        live = scales.batch_energy_in_gradient(t)
    expected = 2.0 * (t.numpy() - t.numpy().mean(0)) / 5
    np.testing.assert_allclose(tape.gradient(spread, t).numpy(), expected, rtol=1e-5, atol=1e-7)
    assert tape.gradient(energy, t) is None
    np.testing.assert_allclose(float(live), float(energy), rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(live, t).numpy(), 2.0 * t.numpy() / 5, rtol=1e-5)


def test_irl_distance_does_not_reward_a_shrinking_representation():
    """IRL's normalized L2 term is a ratio in the gradient too: scaling the
    tapped layer by c leaves it unchanged, so its derivative along c is 0
    (with the energy held constant it was 2·d/E, the raw distance's
    contraction, which switched a GRU's ReLU units off). The rest of the
    gradient is the raw distance's over E, minus d·∇E/E², exactly."""
    rng = np.random.default_rng(5)
    u = tf.constant(rng.normal(size=(6, 4)).astype("float32"))
    v = tf.constant(rng.normal(size=(6, 4)).astype("float32"))
    irl = ki.penalties.ActivationDistance(distance="squared_l2")
    distance = irl.distance

    def term(c, a, b):
        a, b = c * a, c * b
        return tf.reduce_mean(distance.distance(a, b, l2_scale=irl.l2_scale(a)))

    c = tf.constant(1.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([c, u, v])
        value = term(c, u, v)
    assert abs(float(tape.gradient(value, c))) < 1e-6
    np.testing.assert_allclose(float(term(tf.constant(0.1), u, v)), float(value), rtol=1e-5)
    un, vn = u.numpy(), v.numpy()
    energy = np.mean(np.sum(un**2, 1))
    raw = np.mean(np.sum((un - vn) ** 2, 1))
    expected_u = 2 * (un - vn) / 6 / energy - raw * (2 * un / 6) / energy**2
    np.testing.assert_allclose(tape.gradient(value, u).numpy(), expected_u, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(
        tape.gradient(value, v).numpy(), -2 * (un - vn) / 6 / energy, rtol=1e-4, atol=1e-7
    )


def test_a_collapsed_output_has_no_spread():
    """Outputs that ignore x (every row the bias) are the trivial minimiser
    the spread rules out: it is zero (floored), so noise over signal is
    large, where the energy ‖b‖² would call them healthy."""
    collapsed = np.tile(np.array([[2.0, -1.0, 0.5]], "float32"), (4, 1))
    assert float(scales.batch_spread(collapsed)) == np.float32(scales.FLOOR)
    assert float(scales.batch_energy(collapsed)) == 5.25


def test_statistics_keep_their_units_when_the_batch_size_is_dynamic():
    """fit()'s partial last batch traces the step with a dynamic batch size.

    reshape(t, (batch, -1)) then lost the static feature count, and the
    input RMS of a (None, 20, 32) embedding was divided by 1 instead of 640:
    25× too large, which collapsed every token model trained with Loss IBP
    or a Jacobian penalty at its embedding (measured: chance accuracy).
    """
    x = np.random.default_rng(1).normal(size=(7, 20, 32)).astype("float32")

    @tf.function(input_signature=[tf.TensorSpec((None, 20, 32), tf.float32)])
    def rms(t):
        assert numerics.flatten_rows(t).shape[-1] == 640
        return scales.input_rms(t)

    np.testing.assert_allclose(float(rms(x)), np.sqrt(np.mean(x**2)), rtol=1e-6)


def test_two_replicas_divide_by_what_one_device_does():
    """Uneven halves: the global mean is over rows, not a mean of means."""
    x = np.arange(1.0, 6.0, dtype="float32").reshape(5, 1)  # rows 3 + 2
    strategy = mirrored_strategy()
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x).batch(5)
    )
    values = strategy.run(scales.batch_energy, args=(next(iter(dataset)),))
    for value in strategy.experimental_local_results(values):
        np.testing.assert_allclose(float(value), np.mean(x**2), rtol=1e-6)
    # The spread centres on the global mean row (3), not on each half's.
    spreads = strategy.run(scales.batch_spread, args=(next(iter(dataset)),))
    for value in strategy.experimental_local_results(spreads):
        np.testing.assert_allclose(float(value), np.mean((x - 3.0) ** 2), rtol=1e-6)


def test_the_normalized_jacobian_of_a_linear_map_is_its_closed_form():
    """f(x) = Wx: ‖J‖²_F = ‖W‖²_F, so R = ‖W‖²_F·(E‖x‖²/d)/E‖Wx − W x̄‖²."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 5)).astype("float32")
    base = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, use_bias=False)])
    model = ki.JacobianRegularized(base, num_projections=None)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    value = float(model.compute_objective(x, np.zeros(16, "int32"))[1]["jacobian"])
    w = base.layers[0].kernel.numpy()
    f = x @ w
    expected = np.sum(w**2) * np.mean(x**2) / np.mean(np.sum((f - f.mean(0)) ** 2, 1))
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_a_one_output_model_is_penalized_on_its_batch_scale():
    """A per-example ratio exploded where f(x) ≈ 0; the batch ratio is finite."""
    x = np.array([[1.0], [-1.0], [1e-4]], "float32")
    base = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    base.layers[0].kernel.assign([[2.0]])
    model = ki.JacobianRegularized(base, num_projections=None)
    model.compile("sgd", "mse")
    value = float(model.compute_objective(x, np.zeros((3, 1), "float32"))[1]["jacobian"])
    # ‖J‖² = 4 and f = 2x: R = E x²/Var x ≈ 1 (not ~1e8 for row 3).
    np.testing.assert_allclose(value, np.mean(x**2) / np.var(x), rtol=1e-5)


def test_each_term_divides_by_its_own_statistic():
    """IRL divides by the energy; noise regularization by the spread."""
    clean = tf.constant(np.random.default_rng(4).normal(size=(6, 3)).astype("float32") + 2.0)
    irl = ki.penalties.ActivationDistance(distance="squared_l2")
    noise = ki.penalties.NoiseRegularization()
    np.testing.assert_allclose(float(irl.l2_scale(clean)), float(scales.batch_energy(clean)))
    np.testing.assert_allclose(float(noise.l2_scale(clean)), float(scales.batch_spread(clean)))
    assert float(noise.l2_scale(clean)) < float(irl.l2_scale(clean))
