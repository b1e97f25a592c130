"""FGSM / PGD searches and the adversarial-training presets."""

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance import presets as dm
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from tests.models import sequential_mlp_6_8_3 as mlp

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def batch(rows=8, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.uniform(size=(rows, 6)).astype("float32"),
        rng.integers(0, 3, rows).astype("int32"),
    )


def setup(perturbation, bn=False):
    base = mlp(bn=bn)
    model = ki.InvariantModel(base, alpha=0.5, beta=0.5, perturbation=perturbation)
    model.compile(optimizer="sgd", loss=LOSS)
    x, y = batch()
    ctx = model.step_context(tf.constant(x), tf.constant(y))
    return base, model, ctx


def loss_gradient(base, x, y):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = LOSS(y, base(x))
    return tape.gradient(loss, x).numpy()


def test_fgsm_is_exactly_x_plus_eps_sign_gradient():
    base, _, ctx = setup(FGSM(epsilon=0.1))
    x = ctx.x.numpy()
    x_adv = ctx.model.perturbation.perturb(ctx.x, ctx).numpy()
    g = loss_gradient(base, x, ctx.y)
    np.testing.assert_array_equal(x_adv, x + np.float32(0.1) * np.sign(g))


def test_fgsm_value_range_clips():
    _, _, ctx = setup(FGSM(epsilon=0.5, value_range=(0.0, 1.0)))
    x_adv = ctx.model.perturbation.perturb(ctx.x, ctx).numpy()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0


@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("objective", ["loss", "kl"])
def test_pgd_stays_inside_the_ball(norm, objective):
    eps = 0.2
    pgd = PGD(epsilon=eps, norm=norm, steps=5, step_size=0.3, objective=objective)
    _, _, ctx = setup(pgd)
    delta = pgd.perturb(ctx.x, ctx).numpy() - ctx.x.numpy()
    if norm == "inf":
        assert np.abs(delta).max() <= eps * (1 + 1e-6)
    else:
        assert np.linalg.norm(delta, axis=1).max() <= eps * (1 + 1e-5)
    assert np.abs(delta).max() > 0.0


def test_pgd_one_linf_step_from_x_is_fgsm():
    pgd = PGD(epsilon=0.1, steps=1, step_size=0.1, random_start=False)
    base, _, ctx = setup(pgd)
    x_adv = pgd.perturb(ctx.x, ctx).numpy()
    g = loss_gradient(base, ctx.x.numpy(), ctx.y)
    np.testing.assert_allclose(x_adv, ctx.x.numpy() + 0.1 * np.sign(g), atol=1e-7)


def test_pgd_one_l2_step_from_x_follows_normalized_gradient():
    pgd = PGD(epsilon=0.3, norm=2, steps=1, step_size=0.3, random_start=False)
    base, _, ctx = setup(pgd)
    x_adv = pgd.perturb(ctx.x, ctx).numpy()
    g = loss_gradient(base, ctx.x.numpy(), ctx.y)
    expected = ctx.x.numpy() + 0.3 * g / np.linalg.norm(g, axis=1, keepdims=True)
    np.testing.assert_allclose(x_adv, expected, atol=1e-6)


def test_pgd_increases_the_loss():
    pgd = PGD(epsilon=0.3, steps=5, random_start=False)
    base, _, ctx = setup(pgd)
    x_adv = pgd.perturb(ctx.x, ctx)
    assert float(LOSS(ctx.y, base(x_adv))) > float(LOSS(ctx.y, base(ctx.x)))


@pytest.mark.parametrize(
    "perturbation",
    [FGSM(0.1), FGSM(0.1, objective="kl"), PGD(0.1, steps=2),
     PGD(0.1, norm=2, steps=2, objective="squared_l2")],
    ids=["fgsm", "fgsm_kl", "pgd", "pgd_l2"],
)
def test_search_leaves_no_gradient_path(perturbation):
    base, _, ctx = setup(perturbation)
    with tf.GradientTape() as tape:
        x_adv = perturbation.perturb(ctx.x, ctx)
        probe = ops.sum(x_adv)
    assert all(g is None for g in tape.gradient(probe, base.trainable_weights))


def test_training_step_uses_the_search_result_as_a_constant():
    """The weight gradient equals the one with x* fed in as fixed data."""
    perturbation = FGSM(0.1)
    base, model, ctx = setup(perturbation)
    x_adv = perturbation.perturb(ctx.x, ctx)
    with tf.GradientTape() as tape:
        ctx.x_perturbed = x_adv
        total, _ = model._objective(ctx)
    engine = tape.gradient(total, base.trainable_weights)
    with tf.GradientTape() as tape:
        clean = LOSS(ctx.y, base(ctx.x))
        adv = LOSS(ctx.y, base(tf.constant(x_adv.numpy())))
        expected = 0.5 * clean + 0.5 * adv
    manual = tape.gradient(expected, base.trainable_weights)
    for a, b in zip(engine, manual):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_search_passes_and_batchnorm_statistics(training):
    """Documented: searches run in inference mode by default (TRADES) and do
    not update BatchNorm's moving statistics; `training=True` does."""
    perturbation = PGD(0.1, steps=2, training=training)
    base, _, ctx = setup(perturbation, bn=True)
    bn = base.get_layer("bn")
    before = bn.moving_mean.numpy().copy()
    perturbation.perturb(ctx.x, ctx)
    assert (not np.allclose(bn.moving_mean.numpy(), before)) == training


def test_one_fgsm_step_updates_batchnorm_from_the_training_pass_only():
    base = mlp(bn=True)
    twin = mlp(bn=True)
    twin.set_weights(base.get_weights())
    x, y = batch()
    model = dm.AdversarialTraining(
        base, attack="fgsm", epsilon=0.1, reuse_clean_pass=False, batching="concat"
    )
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=LOSS)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # The only training-mode pass is the engine's concatenated [x, x*] pass.
    x_adv = FGSM(0.1).perturb(tf.constant(x), _context_for(twin, x, y))
    twin(tf.concat([x, x_adv], 0), training=True)
    np.testing.assert_allclose(
        base.get_layer("bn").moving_mean.numpy(),
        twin.get_layer("bn").moving_mean.numpy(),
        atol=1e-6,
    )


def test_reused_clean_pass_updates_batchnorm_from_clean_then_adversarial():
    """Documented: with `reuse_clean_pass` the clean and adversarial batches
    are two training passes, so BatchNorm's moving statistics are updated
    twice (clean, then x*) and never by a search."""
    base = mlp(bn=True)
    twin = mlp(bn=True)
    twin.set_weights(base.get_weights())
    x, y = batch()
    model = dm.AdversarialTraining(
        base, attack="fgsm", epsilon=0.1, batching="separate"
    )
    assert model.perturbation.reuse_clean_pass
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=LOSS)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # A training-mode search pass on x is the clean pass (one update from x).
    x_adv = FGSM(0.1, training=True).perturb(tf.constant(x), _context_for(twin, x, y))
    twin(x_adv, training=True)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            getattr(base.get_layer("bn"), name).numpy(),
            getattr(twin.get_layer("bn"), name).numpy(),
            atol=1e-6,
        )


def test_default_batching_keeps_batchnorm_statistics_to_the_clean_pass():
    """`batching="auto"` on a BatchNorm model: the moving statistics are
    those of one training pass on the clean batch alone."""
    base = mlp(bn=True)
    twin = mlp(bn=True)
    twin.set_weights(base.get_weights())
    x, y = batch()
    model = dm.AdversarialTraining(base, attack="fgsm", epsilon=0.1)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=LOSS)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    twin(tf.constant(x), training=True)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            getattr(base.get_layer("bn"), name).numpy(),
            getattr(twin.get_layer("bn"), name).numpy(),
            atol=1e-6,
        )
    assert not np.allclose(base.get_layer("bn").moving_mean.numpy(), 0.0)


def test_reused_clean_pass_gives_the_same_x_star_and_objective():
    """FGSM(reuse_clean_pass=True) builds x* from the engine's clean pass:
    on a deterministic model it is the searched x*, and the objective is the
    same as with a separate search (training=True, same function)."""
    x, y = batch()
    values = {}
    for reuse in (False, True):
        base = mlp()
        model = ki.InvariantModel(
            base, alpha=0.5, beta=0.5,
            perturbation=FGSM(0.1, training=True, reuse_clean_pass=reuse),
        )
        model.compile(optimizer="sgd", loss=LOSS)
        ctx = model.step_context(tf.constant(x), tf.constant(y))
        if not reuse:
            ctx.x_perturbed = model.perturbation.perturb(ctx.x, ctx)
        with tf.GradientTape() as tape:
            total, terms = model._objective(ctx)
        grads = tape.gradient(total, base.trainable_weights)
        values[reuse] = (ctx.x_perturbed.numpy(), float(total), grads)
    np.testing.assert_array_equal(values[True][0], values[False][0])
    np.testing.assert_allclose(values[True][1], values[False][1], rtol=1e-6)
    for a, b in zip(values[True][2], values[False][2]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_reused_clean_pass_trains_under_jit_and_distribution():
    x, y = batch(rows=16)
    model = dm.AdversarialTraining(mlp(), attack="fast", epsilon=0.1)
    assert model.perturbation.reuse_clean_pass
    model.compile(optimizer="sgd", loss=LOSS, jit_compile=True)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["perturbed_loss"][-1])


def test_reuse_clean_pass_needs_the_loss_objective():
    with pytest.raises(ValueError, match="objective='loss'"):
        FGSM(0.1, objective="kl", reuse_clean_pass=True)


def _context_for(base, x, y):
    model = ki.InvariantModel(base)
    model.compile(optimizer="sgd", loss=LOSS)
    return model.step_context(tf.constant(x), tf.constant(y))


def test_presets():
    fgsm = dm.AdversarialTraining(mlp(), attack="fgsm", epsilon=0.2)
    assert (float(fgsm.alpha), float(fgsm.beta)) == (0.5, 0.5)
    fast = dm.AdversarialTraining(mlp(), attack="fast", epsilon=0.2)
    assert (float(fast.alpha), float(fast.beta)) == (0.0, 1.0)
    np.testing.assert_allclose(float(fast.perturbation.epsilon), 0.1)
    pgd = dm.AdversarialTraining(mlp(), attack="pgd", epsilon=0.2, norm=2, steps=3)
    assert isinstance(pgd.perturbation, PGD) and pgd.perturbation.norm == "2"
    at_l2 = dm.RegularizedAdversarialTraining(mlp(), distance="l2", attack="fgsm")
    assert type(at_l2.penalties[0].distance).__name__ == "SquaredL2"
    trades = dm.RegularizedAdversarialTraining(
        mlp(), objective="divergence", beta=0.0, weight=6.0
    )
    assert trades.perturbation.objective == "kl"
    with pytest.raises(ValueError, match="attack"):
        dm.AdversarialTraining(mlp(), attack="bim")
    with pytest.raises(ValueError, match="distance"):
        dm.RegularizedAdversarialTraining(mlp(), distance="js")


def test_integer_inputs_are_rejected_with_a_hint():
    inputs = keras.Input((4,), dtype="int32")
    e = keras.layers.Embedding(10, 2)(inputs)
    base = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(e)))
    # The input dtype is known, so this fails when the model is built.
    with pytest.raises(ValueError, match="embedding"):
        dm.AdversarialTraining(base, attack="fgsm")


@pytest.mark.parametrize(
    "perturbation",
    [FGSM(0.2, objective="kl", value_range=(0, 1), training=True),
     PGD(0.3, norm=2, steps=4, step_size=0.1, random_start=False)],
    ids=["fgsm", "pgd"],
)
def test_config_round_trip(perturbation):
    restored = type(perturbation).from_config(perturbation.get_config())
    assert restored.get_config() == perturbation.get_config()
