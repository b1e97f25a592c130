"""Noise and adversarial curves against hand computations on tiny models."""

import keras
import numpy as np
import pytest

from keras_invariance import evaluation
from keras_invariance.evaluation import adversarial


def linear_model(features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(classes)])
    kernel = rng.normal(size=(features, classes)).astype("float32")
    bias = rng.normal(size=(classes,)).astype("float32") * 0.1
    model.layers[0].set_weights([kernel, bias])
    return model, kernel, bias


def data(n=64, features=5, classes=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, classes, size=n).astype("int32")
    return x, y


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def input_gradient(x, y, kernel, bias):
    """∇x CE(softmax(xW + b), y) = (p − onehot(y)) Wᵀ, row by row."""
    p = softmax(x @ kernel + bias)
    p[np.arange(len(y)), y] -= 1.0
    return p @ kernel.T


def robust(x, x_adv, y, kernel, bias):
    clean = np.argmax(x @ kernel + bias, axis=1) == y
    attacked = np.argmax(x_adv @ kernel + bias, axis=1) == y
    return float(np.mean(clean & attacked))


@pytest.mark.parametrize("epsilon", [0.05, 0.3, 1.0])
def test_fgsm_linf_is_the_explicit_gradient_sign_attack(epsilon):
    model, kernel, bias = linear_model()
    x, y = data()
    x_adv = x + epsilon * np.sign(input_gradient(x, y, kernel, bias))
    expected = robust(x, x_adv, y, kernel, bias)
    got = evaluation.adversarial_accuracy(model, x, y, epsilon, attack="fgsm")
    assert got == pytest.approx(expected, abs=1e-9)
    # The attack does something at these radii.
    assert got < evaluation.clean_accuracy(model, x, y)


def test_fgsm_l2_is_the_normalized_gradient_step():
    model, kernel, bias = linear_model()
    x, y = data()
    g = input_gradient(x, y, kernel, bias)
    x_adv = x + 0.8 * g / np.linalg.norm(g, axis=1, keepdims=True)
    got = evaluation.adversarial_accuracy(model, x, y, 0.8, attack="fgsm", norm=2)
    assert got == pytest.approx(robust(x, x_adv, y, kernel, bias), abs=1e-9)
    examples = evaluation.adversarial_examples(model, x, y, 0.8, attack="fgsm", norm=2)
    clean_ok = np.argmax(x @ kernel + bias, axis=1) == y
    np.testing.assert_allclose(examples[clean_ok], x_adv[clean_ok], atol=1e-5)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_pgd_on_a_two_class_linear_model_matches_the_closed_form(norm):
    # For z = xW + b with two classes, the loss grows along −(w_y − w_o), so
    # an ε-ball attack breaks x exactly when its margin z_y − z_o is at most
    # ε·‖w_y − w_o‖_* (ℓ1 for ℓ∞, ℓ2 for ℓ2). PGD from x reaches that point.
    model, kernel, bias = linear_model(classes=2)
    x, y = data(n=200, classes=2)
    z = x @ kernel + bias
    margin = z[np.arange(len(y)), y] - z[np.arange(len(y)), 1 - y]
    direction = kernel[:, 0] - kernel[:, 1]
    dual = np.abs(direction).sum() if norm == "inf" else np.linalg.norm(direction)
    epsilons = [0.0, 0.1, 0.3, 0.6]
    curve = evaluation.adversarial_curve(model, x, y, epsilons, attack="pgd", norm=norm,
                                         random_start=False)
    expected = [float(np.mean(margin > eps * dual)) for eps in epsilons]
    assert curve == pytest.approx(expected, abs=1e-9)
    assert expected[0] > expected[-1] > 0.0  # the curve is informative


@pytest.mark.parametrize("norm", ["inf", 2])
def test_pgd_stays_in_the_ball_and_its_accuracy_is_that_of_its_examples(norm):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(3)])
    x, y = data(n=50, features=6)
    x = np.clip(x, -1.0, 1.0)
    eps = 0.4
    x_adv = evaluation.adversarial_examples(model, x, y, eps, norm=norm,
                                            value_range=(-1.0, 1.0), seed=3)
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps * (1 + 1e-5)
    assert x_adv.min() >= -1.0 and x_adv.max() <= 1.0
    clean = np.argmax(model.predict(x, verbose=0), axis=1) == y
    attacked = np.argmax(model.predict(x_adv, verbose=0), axis=1) == y
    acc = evaluation.pgd_accuracy(model, x, y, eps, norm=norm, value_range=(-1.0, 1.0), seed=3)
    assert acc == pytest.approx(np.mean(clean & attacked), abs=1e-9)


def test_curve_points_equal_single_attacks_and_start_at_clean_accuracy():
    model, _, _ = linear_model()
    x, y = data()
    epsilons = [0.0, 0.2, 0.5]
    curve = evaluation.adversarial_curve(model, x, y, epsilons, attack="pgd", seed=7)
    singles = [evaluation.adversarial_accuracy(model, x, y, e, attack="pgd", seed=7)
               for e in epsilons]
    assert curve == singles
    assert curve[0] == evaluation.clean_accuracy(model, x, y)
    assert curve[0] >= curve[1] >= curve[2]


def test_restarts_never_raise_accuracy():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="tanh"),
                              keras.layers.Dense(3)])
    x, y = data(n=80, features=6)
    one, flags_one = evaluation.adversarial_accuracy(model, x, y, 0.3, restarts=1, steps=2,
                                                     seed=1, return_per_example=True)
    three, flags_three = evaluation.adversarial_accuracy(model, x, y, 0.3, restarts=3, steps=2,
                                                         seed=1, return_per_example=True)
    # The first of three restarts is the single attack, so survivors of three
    # are survivors of one.
    assert not np.any(flags_three & ~flags_one) and three <= one


def test_noise_curve_is_the_mean_over_fixed_draws():
    model, kernel, bias = linear_model()
    x, _ = data()
    y = np.argmax(x @ kernel + bias, axis=1)  # clean accuracy 1
    sigmas = [0.0, 0.5, 2.0]
    curve = evaluation.noise_curve(model, x, y, sigmas, draws=3, seed=10)
    rng_draws = [np.random.default_rng(10 + i).normal(size=x.shape) for i in range(3)]
    for sigma, point in zip(sigmas, curve):
        hand = np.mean([
            np.mean(np.argmax((x + (sigma * z).astype("float32")) @ kernel + bias, 1) == y)
            for z in rng_draws
        ])
        assert point == pytest.approx(hand, abs=1e-9)
    assert curve[0] == evaluation.clean_accuracy(model, x, y)
    assert curve[-1] < curve[0]


@pytest.mark.parametrize("levels", [[], [-0.1], [0.1, float("nan")], "0.1", [[0.1]]])
def test_bad_levels_are_rejected_before_any_compiled_code(levels):
    model, _, _ = linear_model()
    x, y = data()
    with pytest.raises(ValueError, match="non-empty list of numbers ≥ 0"):
        evaluation.noise_curve(model, x, y, levels)
    with pytest.raises(ValueError, match="non-empty list of numbers ≥ 0"):
        evaluation.adversarial_curve(model, x, y, levels)


def test_other_bad_arguments_name_themselves():
    model, _, _ = linear_model()
    x, y = data()
    with pytest.raises(ValueError, match="`attack`"):
        evaluation.adversarial_accuracy(model, x, y, 0.1, attack="cw")
    with pytest.raises(ValueError, match="`norm`"):
        evaluation.adversarial_accuracy(model, x, y, 0.1, norm=1)
    with pytest.raises(ValueError, match="float inputs"):
        evaluation.adversarial_curve(model, x.astype("int32"), y, [0.1])
    with pytest.raises(ValueError, match="examples but"):
        evaluation.noise_curve(model, x, y[:3], [0.1])
    with pytest.raises(ValueError, match="`epsilon`"):
        evaluation.pgd_accuracy(model, x, y, -1.0)
    with pytest.raises(ValueError, match="`draws`"):
        evaluation.noise_curve(model, x, y, [0.1], draws=0)


def test_a_curve_does_not_retrace_per_epsilon_or_per_call():
    model, _, _ = linear_model()
    x, y = data()
    evaluation.adversarial_curve(model, x, y, [0.1, 0.2], attack="pgd", steps=2)
    (attack,) = adversarial._ATTACKS[model].values()
    traces = attack.step.experimental_get_tracing_count()
    evaluation.adversarial_curve(model, x, y, [0.3, 0.4, 0.5], attack="pgd", steps=2)
    assert attack.step.experimental_get_tracing_count() == traces
