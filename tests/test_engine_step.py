"""The training step's structure: small functions, x̃ drawn once, tapes that exit.

`keras_invariance.engine.step` runs the passes and assembles the objective;
these tests pin what the redesign promised (issue 20): no engine function
over 60 lines of code, one draw of x̃ per step wherever it is drawn, the
input tape left also when the step raises, and the autoencoder scaled by
the engine's own helpers.
"""

import ast
import pathlib
import warnings

import keras
from keras import ops
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import record

import keras_invariance as ki
from keras_invariance.engine import distribution
from keras_invariance.engine import step as step_lib
from keras_invariance.engine.model import _Untracked
from keras_invariance.pairs import autoencoder as autoencoder_lib
from tests.models import sequential_mlp_4_6_3 as mlp

ENGINE = pathlib.Path(__file__).resolve().parents[1] / "keras_invariance" / "engine"
MAX_CODE_LINES = 60
SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ------------------------------------------------------------- function size


def _code_lines(source_lines, node):
    """Lines of `node` that hold code: no docstring, comment or blank line."""
    docstring = set()
    first = node.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        docstring = set(range(first.lineno, first.end_lineno + 1))
    count = 0
    for number in range(node.lineno, node.end_lineno + 1):
        text = source_lines[number - 1].strip()
        if text and not text.startswith("#") and number not in docstring:
            count += 1
    return count


def test_no_engine_function_is_over_60_lines_of_code():
    too_long = []
    for path in sorted(ENGINE.glob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = _code_lines(lines, node)
                if count > MAX_CODE_LINES:
                    too_long.append(f"{path.name}:{node.name} ({count} lines)")
    assert not too_long, f"engine functions over {MAX_CODE_LINES} lines: {too_long}"


def test_the_size_check_counts_code_only():
    source = 'def f():\n    """Doc.\n\n    More.\n    """\n    # why\n\n    return 1\n'
    node = ast.parse(source).body[0]
    assert _code_lines(source.splitlines(), node) == 2


# ------------------------------------------------------------------ helpers


def batch(rows=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return x, rng.integers(0, 3, rows).astype("int32")


class CountingNoise(ki.perturbations.GaussianNoise):
    """Gaussian noise that counts how often it is drawn (Python side)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def perturb(self, x, context=None):
        self.calls += 1
        return super().perturb(x, context)


class CountingFGSM(ki.perturbations.FGSM):
    """FGSM reading the clean pass (drawn after it), counting its draws."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def perturb(self, x, context=None):
        self.calls += 1
        return super().perturb(x, context)


class InputGradientNorm(ki.Penalty):
    """mean ‖∇x ℓ‖²: makes the engine open the input tape."""

    requires_input_gradient = True

    def compute(self, context):
        gradient = context.per_example_input_gradient("InputGradientNorm")
        return ops.mean(ops.square(gradient))


class Raising(ki.Penalty):
    """A penalty that raises while `fail` is set."""

    requires_input_gradient = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fail = True

    def compute(self, context):
        if self.fail:
            raise ValueError("penalty failed on purpose")
        return ops.mean(ops.square(context.per_example_input_gradient("Raising")))


class Boom(keras.layers.Layer):
    """Identity, or an error in the forward pass while `fail` is set."""

    fail = False

    def call(self, x):
        if Boom.fail:
            raise RuntimeError("forward pass failed on purpose")
        return x


# ------------------------------------------------------------- x̃ drawn once


def _fit_eagerly(model, steps=3):
    x, y = batch(rows=8 * steps)
    model.compile(keras.optimizers.SGD(0.01), SCCE, run_eagerly=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize("batching", ["concat", "separate", "clean_statistics"])
def test_x_tilde_is_drawn_once_per_step_with_clean_and_perturbed_losses(batching):
    noise = CountingNoise(0.1, seed=1)
    model = ki.InvariantModel(mlp(), alpha=0.5, beta=0.5, perturbation=noise,
                              batching=batching)
    _fit_eagerly(model, steps=3)
    assert noise.calls == 3


def test_x_tilde_is_drawn_once_per_step_with_a_penalty_that_reads_it():
    noise = CountingNoise(0.1, seed=1)
    model = ki.InvariantModel(
        mlp(), alpha=0.5, beta=0.5, perturbation=noise,
        penalties=[ki.penalties.ActivationDistance(layers="hidden", weight=1.0)],
    )
    _fit_eagerly(model, steps=3)
    assert noise.calls == 3


def test_x_tilde_read_from_the_clean_pass_is_drawn_once_per_step():
    fgsm = CountingFGSM(0.1, reuse_clean_pass=True)
    model = ki.InvariantModel(mlp(), alpha=0.5, beta=0.5, perturbation=fgsm,
                              penalties=[InputGradientNorm(name="grad_norm")])
    _fit_eagerly(model, steps=3)
    assert fgsm.calls == 3


def test_a_given_x_tilde_is_not_drawn_again():
    noise = CountingNoise(0.1, seed=1)
    model = ki.InvariantModel(mlp(), alpha=0.5, beta=0.5, perturbation=noise)
    model.compile("sgd", SCCE)
    x, y = batch()
    model.compute_objective(x, y, x_perturbed=x + 1.0)
    assert noise.calls == 0
    model.compute_objective(x, y)
    assert noise.calls == 1


def test_the_plan_says_when_x_tilde_is_drawn():
    x, y = batch()
    noise = ki.InvariantModel(mlp(), beta=0.5, perturbation=ki.perturbations.GaussianNoise(0.1))
    fgsm = ki.InvariantModel(
        mlp(), beta=0.5, perturbation=ki.perturbations.FGSM(0.1, reuse_clean_pass=True)
    )
    for model in (noise, fgsm):
        model.compile("sgd", SCCE)
    plan = step_lib.StepPlan(noise, noise.step_context(x, y))
    assert plan.draw == step_lib.BEFORE_CLEAN_PASS and not plan.input_tape
    plan = step_lib.StepPlan(fgsm, fgsm.step_context(x, y))
    assert plan.draw == step_lib.AFTER_CLEAN_PASS and plan.input_tape and not plan.concat
    given = noise.step_context(x, y)
    given.x_perturbed = tf.constant(x)
    assert step_lib.StepPlan(noise, given).draw is None


# ----------------------------------------------------------- exception safety


def test_input_tape_is_left_when_the_forward_pass_raises():
    base = keras.Sequential([keras.Input((4,)), Boom(), keras.layers.Dense(3)])
    model = ki.InvariantModel(base, penalties=[InputGradientNorm(name="grad_norm")])
    model.compile(keras.optimizers.SGD(0.01), SCCE, run_eagerly=True)
    x, y = batch()
    Boom.fail = True
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    finally:
        Boom.fail = False
    assert not record.could_possibly_record(), "a tape was left recording"
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["grad_norm"][-1])
    assert not record.could_possibly_record()


def test_tapes_are_left_when_a_penalty_raises_and_the_model_fits_again():
    penalty = Raising(name="raising")
    model = ki.InvariantModel(mlp(), penalties=[penalty])
    model.compile(keras.optimizers.SGD(0.01), SCCE, run_eagerly=True)
    x, y = batch()
    with pytest.raises(ValueError, match="on purpose"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not record.could_possibly_record()
    penalty.fail = False
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["raising"][-1])
    # A fresh tape nests normally: it sees only its own computation.
    variable = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        value = variable * variable
    assert float(tape.gradient(value, variable)) == 4.0
    assert not record.could_possibly_record()


def test_input_tape_scope_exits_on_error_and_open_input_tape_still_works():
    model = ki.InvariantModel(mlp())
    ctx = model.step_context(*batch())
    with pytest.raises(KeyError):
        with ctx.input_tape_scope():
            raise KeyError("inside the pass")
    assert not record.could_possibly_record()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx.open_input_tape()
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert record.could_possibly_record()
    ctx.input_tape.__exit__(None, None, None)
    assert not record.could_possibly_record()


# --------------------------------------------------------------- bookkeeping


def test_untracked_declares_alpha_zero():
    assert _Untracked().alpha_zero is False
    model = ki.InvariantModel(mlp())
    assert model._untracked.alpha_zero is False


def test_autoencoder_scales_with_the_engines_helpers(monkeypatch):
    assert autoencoder_lib.scale_for_distribution is distribution.scale_for_distribution
    assert autoencoder_lib.scale_for_optimizer is distribution.scale_for_optimizer
    assert "num_replicas_in_sync" not in pathlib.Path(autoencoder_lib.__file__).read_text()
    seen = []

    def spy(model, loss):
        seen.append(model)
        return distribution.scale_for_optimizer(model, loss)

    monkeypatch.setattr(autoencoder_lib, "scale_for_optimizer", spy)
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    model = ki.pairs.InvariantAutoencoder(encoder, decoder, invariant_dim=2, mode="target")
    model.compile(optimizer="sgd", run_eagerly=True)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.fit(x, np.zeros((8, 2), "float32"), batch_size=8, epochs=1, verbose=0)
    assert seen == [model]


def test_scale_for_optimizer_applies_loss_scaling():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    assert float(distribution.scale_for_optimizer(model, tf.constant(2.0))) == 2.0
    model.compile(keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(), initial_scale=8.0), "mse")
    assert float(distribution.scale_for_optimizer(model, tf.constant(2.0))) == 16.0
