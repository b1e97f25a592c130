"""Every term reads a softmax, sigmoid, logits or regression model correctly.

A model ending in a softmax must give the same VAT, KL and search terms as
the same model returning logits (the package compares the logits view
log p); a sigmoid or single-logit binary classifier gets Bernoulli's KL; a
regression's VAT measures ‖f(x) − f(x + r)‖² (a softmax over one unit would
be identically 0); a distance that cannot fit the outputs fails before the
first step with a message.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from keras_invariance.graph import outputs

SCCE_LOGITS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
SCCE_PROBS = keras.losses.SparseCategoricalCrossentropy(from_logits=False)


def data(n=16, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, rng.integers(0, classes, n).astype("int32")


def pair(final="dense", features=5, classes=3, seed=0):
    """(logits model, the same network ending in a softmax).

    The logits model's output layer is centred (W(I − 11ᵀ/K), b − mean b):
    its logits are the softmax model's logits view, centred log p, exactly,
    and both predict the same probabilities.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((features,))
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    logits = keras.layers.Dense(classes, name="out")(h)
    logits_model = keras.Model(inputs, logits)
    inputs2 = keras.Input((features,))
    h2 = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs2)
    if final == "dense":
        probs = keras.layers.Dense(classes, activation="softmax", name="out")(h2)
    else:
        probs = keras.layers.Softmax()(keras.layers.Dense(classes, name="out")(h2))
    softmax_model = keras.Model(inputs2, probs)
    softmax_model.set_weights(logits_model.get_weights())
    kernel, bias = logits_model.get_layer("out").get_weights()
    logits_model.get_layer("out").set_weights(
        [kernel - kernel.mean(axis=1, keepdims=True), bias - bias.mean()]
    )
    return logits_model, softmax_model


def terms(build, base, loss, x, y):
    model = build(base)
    model.compile("sgd", loss)
    return model.compute_objective(x, y)[1]


@pytest.mark.parametrize("final", ["dense", "softmax_layer"])
@pytest.mark.parametrize(
    "name, build",
    [
        ("vat", lambda b: ki.InvariantModel(b, penalties=[ki.penalties.VAT(seed=3)])),
        ("output_divergence",
         lambda b: ki.InvariantModel(b, perturbation=ki.perturbations.GaussianNoise(0.3, seed=1),
                                     penalties=[ki.penalties.OutputDivergence(distance="kl")])),
        ("jacobian", lambda b: ki.JacobianRegularized(b, num_projections=None)),
        ("jacobian",
         lambda b: ki.JacobianRegularized(b, num_projections=None, scale="paper")),
        ("prediction_ibp", lambda b: ki.PredictionIBP(b)),
        ("loss_ibp", lambda b: ki.LossIBP(b)),
        ("noise_regularization",
         lambda b: ki.InvariantModel(b, penalties=[ki.penalties.NoiseRegularization(seed=2)])),
        ("noise_regularization",
         lambda b: ki.InvariantModel(
             b, penalties=[ki.penalties.NoiseRegularization(adversarial=True, seed=2)])),
        ("irl_distance",
         lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.3, seed=1))),
        ("output_divergence",
         lambda b: ki.RegularizedAdversarialTraining(b, distance="l2", steps=2)),
    ],
)
def test_a_softmax_model_gets_the_logits_models_terms(final, name, build):
    """Every term equals the centred logits model's: KL(softmax(view)) is
    KL(p) (on today's main VAT was 19–81× smaller on a softmax model), and
    the derivative and distance terms read the same logits view."""
    x, y = data()
    logits_model, softmax_model = pair(final)
    with_logits = terms(build, logits_model, SCCE_LOGITS, x, y)
    with_softmax = terms(build, softmax_model, SCCE_PROBS, x, y)
    assert with_logits[name] > 1e-4
    for term, value in with_logits.items():
        # (5e-3: a PGD search's sign steps amplify float32 rounding.)
        np.testing.assert_allclose(with_softmax[term], value, rtol=5e-3, err_msg=term)


def test_the_jacobian_of_a_softmax_model_is_that_of_centred_log_p():
    """Exact: ‖∂(log p − mean log p)/∂x‖²_F from the full Jacobian, raw scale."""
    x, y = data(n=4)
    _, softmax_model = pair()
    model = ki.JacobianRegularized(softmax_model, num_projections=None, scale="paper")
    model.compile("sgd", SCCE_PROBS)
    value = float(model.compute_objective(x, y)[1]["jacobian"])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        log_p = tf.math.log(softmax_model(xt))
        log_p -= tf.reduce_mean(log_p, axis=-1, keepdims=True)
    jac = tape.batch_jacobian(log_p, xt).numpy()
    np.testing.assert_allclose(value, np.mean(np.sum(jac**2, axis=(1, 2))), rtol=1e-4)


def test_from_logits_reaches_every_preset():
    """`from_logits=False` was refused by `ki.VAT` ('Unrecognized keyword')."""
    _, softmax_model = pair()
    for build in (ki.VAT, ki.JacobianRegularized, ki.LossIBP, ki.PredictionIBP,
                  ki.NoiseRegularized, ki.AdversarialTraining,
                  ki.RegularizedAdversarialTraining):
        model = build(softmax_model, from_logits=False)
        assert model.from_logits is False
    model = ki.IRL(
        softmax_model, perturbation=ki.perturbations.GaussianNoise(0.1), from_logits=False
    )
    assert model.get_config()["from_logits"] is False


def test_from_logits_true_on_a_softmax_model_is_refused():
    _, softmax_model = pair()
    with pytest.raises(ValueError, match="returns probabilities"):
        ki.VAT(softmax_model, from_logits=True)


def test_terms_that_disagree_on_from_logits_are_refused():
    logits_model, _ = pair()
    with pytest.raises(ValueError, match="disagree"):
        ki.InvariantModel(
            logits_model, from_logits=True,
            penalties=[ki.penalties.VAT(from_logits=False)])


def regression_model(features=4, seed=0, activation=None):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((features,)), keras.layers.Dense(1, activation=activation)]
    )


def test_vat_on_a_regression_is_the_output_change_closed_form():
    """f(x) = wᵀx + b: r_adv = ε·w/‖w‖, so VAT = ‖f(x + r) − f(x)‖² = ε²‖w‖².

    (On today's main a softmax over the one unit made it identically 0.)
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    base = regression_model()
    model = ki.VAT(base, epsilon=0.5)
    model.compile("sgd", "mse")
    value = float(model.compute_objective(x, y)[1]["vat"])
    w = base.layers[-1].kernel.numpy().ravel()
    np.testing.assert_allclose(value, 0.25 * np.sum(w**2), rtol=1e-3)


def test_vat_trains_a_regression_and_lowers_its_sensitivity():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]])
         + 0.1 * rng.normal(size=(256, 1))).astype("float32")

    def sensitivity(build):
        base = regression_model(seed=2)
        model = build(base)
        model.compile(keras.optimizers.Adam(0.05), "mse")
        history = model.fit(x, y, epochs=20, batch_size=64, verbose=0)
        return float(np.sum(base.layers[-1].kernel.numpy() ** 2)), history.history

    plain, _ = sensitivity(lambda b: ki.InvariantModel(b))
    vat, logs = sensitivity(lambda b: ki.VAT(b, weight=1.0))
    assert min(logs["vat"]) > 0
    assert vat < 0.8 * plain, (vat, plain)


def test_a_kl_on_a_regression_fails_before_the_first_step():
    x = np.zeros((4, 4), "float32")
    model = ki.InvariantModel(
        regression_model(), perturbation=ki.perturbations.GaussianNoise(0.1),
        penalties=[ki.penalties.OutputDivergence(distance="kl")])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="regression loss; use distance='squared_l2'"):
        model.fit(x, np.zeros((4, 1), "float32"), verbose=0)


def test_a_single_unit_softmax_is_refused_without_a_loss_that_says_what_it_is():
    model = ki.VAT(regression_model(), alpha=0.0)  # label-free: no loss to read
    model.compile("sgd")
    with pytest.raises(ValueError, match="single output unit"):
        model.fit(np.zeros((4, 4), "float32"), verbose=0)


@pytest.mark.parametrize("activation", [None, "sigmoid"])
def test_binary_classifiers_get_the_bernoulli_kl(activation):
    """One unit, binary cross-entropy: VAT is Bernoulli's KL, not 0, and a
    sigmoid model equals the same weights returning the logit."""
    x, _ = data(features=4)
    y = (x[:, :1] > 0).astype("float32")
    logit_model = regression_model()
    sigmoid_model = regression_model(activation="sigmoid")
    sigmoid_model.set_weights(logit_model.get_weights())
    reference = terms(
        lambda b: ki.InvariantModel(b, penalties=[ki.penalties.VAT(seed=2)]),
        logit_model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        x,
        y,
    )["vat"]
    assert reference > 1e-4
    if activation == "sigmoid":
        value = terms(
            lambda b: ki.InvariantModel(b, penalties=[ki.penalties.VAT(seed=2)]),
            sigmoid_model,
            keras.losses.BinaryCrossentropy(),
            x,
            y,
        )["vat"]
        np.testing.assert_allclose(value, reference, rtol=2e-3)


def test_bernoulli_kl_closed_form():
    p, q = 0.7, 0.2
    logit = lambda t: np.log(t / (1 - t))  # noqa: E731
    value = ki.distances.KLDivergence(distribution="bernoulli").distance([[logit(p)]], [[logit(q)]])
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    np.testing.assert_allclose(value, [expected], rtol=1e-5)


@pytest.mark.parametrize("from_logits", [True, False])
def test_bernoulli_kl_and_cross_entropy_closed_forms_from_either_view(from_logits):
    p, q = np.array([[0.7, 0.1]]), np.array([[0.2, 0.4]])
    u, v = (np.log(p / (1 - p)), np.log(q / (1 - q))) if from_logits else (p, q)
    kl = ki.distances.core.kl_divergence(u, v, from_logits, distribution="bernoulli")
    ce = ki.distances.core.cross_entropy(u, v, from_logits, distribution="bernoulli")
    bits = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    np.testing.assert_allclose(kl, bits.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(
        ce, -(p * np.log(q) + (1 - p) * np.log(1 - q)).sum(-1), rtol=1e-5
    )


@pytest.mark.parametrize(
    "loss, expected",
    [
        ("sparse_categorical_crossentropy", "class softmax probabilities"),
        (SCCE_LOGITS, "class logits"),
        (keras.losses.BinaryCrossentropy(from_logits=True), "binary logits"),
        ("mse", "a regression output"),
        (keras.losses.Huber(), "a regression output"),
    ],
)
def test_the_loss_tells_a_subclassed_models_outputs(loss, expected):
    assert outputs.resolve(None, loss).describe() == expected


def test_a_subclassed_softmax_model_reads_log_p_after_compile():
    class Net(ki.InvariantModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return keras.ops.softmax(self.dense(x))

    x, y = data()
    net = Net(penalties=[ki.penalties.VAT(seed=1)])
    net.compile("sgd", SCCE_PROBS)
    net(x[:1])
    assert net.step_context(x, y).output_spec.describe() == "class softmax probabilities"
    assert float(net.compute_objective(x, y)[1]["vat"]) > 0


def test_a_nested_softmax_backbone_is_read():
    _, softmax_model = pair()
    inputs = keras.Input((5,))
    outer = keras.Model(inputs, softmax_model(inputs))
    assert outputs.final_activation(outer) == "softmax"


def test_evaluation_attacks_read_a_softmax_model():
    x, y = data(n=32)
    logits_model, softmax_model = pair()
    a = ki.evaluation.fgsm_accuracy(logits_model, x, y, 0.3)
    b = ki.evaluation.fgsm_accuracy(softmax_model, x, y, 0.3)
    c = ki.evaluation.pgd_accuracy(softmax_model, x, y, 0.3, steps=3)
    d = ki.evaluation.pgd_accuracy(logits_model, x, y, 0.3, steps=3)
    assert a == b and c == d
