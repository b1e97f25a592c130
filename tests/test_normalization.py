"""Scale-aware weights: each normalized term is exact and scale-free.

A normalized term must (1) equal its raw value times the documented factor,
computed by hand, and (2) not change when the model's inputs or outputs are
rescaled in a way that leaves the predictions' meaning intact: inputs
multiplied by c with the first layer divided by c, or logits multiplied by
c (for the output-relative terms). The raw terms change by powers of c.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_invariance as ki
from tests.derivative_checks import compiled
from tests.derivative_checks import per_example_input_gradient

C = 7.0


def mlp(in_scale=1.0, out_scale=1.0, seed=0):
    """The same function up to units: x·c in, W₁/c, logits × out_scale."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((4,))
    first = keras.layers.Dense(6, activation="tanh", name="hid")
    h = first(x)
    out = keras.layers.Dense(3, name="out")(h)
    model = keras.Model(x, keras.layers.Rescaling(out_scale)(out))
    w, b = first.get_weights()
    first.set_weights([w / in_scale, b])
    return model


def data(scale=1.0):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 4)).astype("float32") * scale
    return x, rng.integers(0, 3, 8).astype("int32")


def term(penalty, base, x, y):
    model = compiled(ki.InvariantModel(base, penalties=[penalty]))
    return float(model.compute_objective(x, y)[1][penalty.name])


def test_loss_ibp_normalized_is_raw_times_input_scale():
    base = mlp()
    x, y = data()
    g = per_example_input_gradient(base, x, y)
    s = np.sqrt((x**2).mean())  # the batch's input RMS
    expected = (np.abs(g).sum(axis=1) * s).mean()
    np.testing.assert_allclose(term(ki.penalties.LossIBP(), base, x, y), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ki.penalties.LossIBP(order=1),
        lambda: ki.penalties.LossIBP(order=2),
        lambda: ki.penalties.Jacobian(num_projections=None),
        lambda: ki.penalties.PredictionIBP(order=1),
        lambda: ki.penalties.NoiseRegularization(stddev=0.0),
    ],
    ids=["loss_ibp_r1", "loss_ibp_r2", "jacobian", "prediction_ibp", "noise_zero"],
)
def test_normalized_terms_do_not_depend_on_the_input_units(make):
    x, y = data()
    plain = term(make(), mlp(), x, y)
    rescaled = term(make(), mlp(in_scale=C), x * C, y)
    np.testing.assert_allclose(rescaled, plain, rtol=1e-4, atol=1e-7)


def test_raw_terms_do_depend_on_the_input_units():
    x, y = data()
    raw = term(ki.penalties.LossIBP(scale="paper"), mlp(), x, y)
    rescaled = term(ki.penalties.LossIBP(scale="paper"), mlp(in_scale=C), x * C, y)
    np.testing.assert_allclose(rescaled, raw / C, rtol=1e-4)


@pytest.mark.parametrize(
    "make",
    [lambda: ki.penalties.Jacobian(num_projections=None),
     lambda: ki.penalties.NoiseRegularization(stddev=0.3, seed=2)],
    ids=["jacobian", "noise_regularization"],
)
def test_output_relative_terms_do_not_depend_on_the_output_scale(make):
    x, y = data()
    plain = term(make(), mlp(), x, y)
    louder = term(make(), mlp(out_scale=C), x, y)
    np.testing.assert_allclose(louder, plain, rtol=1e-4)


def test_normalized_jacobian_of_a_linear_map_is_its_relative_gain():
    """For f(x) = Wx: ‖W‖²_F·(E‖x‖²/d)/E‖Wx − W x̄‖² over the batch, by hand."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(3, use_bias=False)
    base = keras.Model(inputs, layer(inputs))
    x, y = data()
    (w,) = layer.get_weights()
    f = x @ w
    expected = (w**2).sum() * (x**2).mean() / ((f - f.mean(0)) ** 2).sum(axis=1).mean()
    np.testing.assert_allclose(
        term(ki.penalties.Jacobian(num_projections=None), base, x, y), expected, rtol=1e-5
    )


def test_normalized_tangent_prop_is_relative_to_the_outputs():
    keras.utils.set_random_seed(4)
    base = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    x = np.random.default_rng(5).uniform(size=(4, 8, 8, 1)).astype("float32")
    y = np.zeros(4, "int32")
    raw = ki.penalties.TangentProp(transforms=["translate_x"], sigma=0.0, scale="paper")
    relative = ki.penalties.TangentProp(transforms=["translate_x"], sigma=0.0, name="rel")
    model = compiled(ki.InvariantModel(base, penalties=[raw, relative]))
    ctx = model.step_context(tf.constant(x), tf.constant(y))
    ctx.clean = ctx.forward(ctx.x)
    jvp = raw.directional_derivatives(ctx).numpy()  # (B, 1, 3)
    size = (base(x).numpy() ** 2).sum(axis=1).mean()  # the batch's E‖p‖²
    terms = model.compute_objective(x, y)[1]
    np.testing.assert_allclose(float(terms["tangent_prop"]), (jvp**2).sum(axis=(1, 2)).mean(),
                               rtol=1e-4)
    np.testing.assert_allclose(
        float(terms["rel"]), ((jvp**2).sum(axis=(1, 2)) / size).mean(), rtol=1e-4
    )
