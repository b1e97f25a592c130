"""Taps inside nested models: a backbone inside a Functional or Sequential model.

The transfer-learning shape (a `keras.applications` backbone, then pooling
and a head) must be tappable by path: `"backbone"` is the nested model's
output as the outer model computes it, `"backbone/block"` a layer inside it,
at any depth; the activations are the ones a plain forward pass computes.
"""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.graph import taps as taps_lib

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def backbone(name="backbone"):
    inner_in = keras.Input((5,))
    z = keras.layers.Dense(4, activation="tanh", name="block1")(inner_in)
    z = keras.layers.Dense(4, activation="tanh", name="block2")(z)
    return keras.Model(inner_in, z, name=name)


def outer(kind="functional", seed=0):
    keras.utils.set_random_seed(seed)
    bb = backbone()
    if kind == "sequential":
        return keras.Sequential(
            [keras.Input((5,)), bb, keras.layers.Dense(3, name="head")], name="outer")
    x = keras.Input((5,))
    h = keras.layers.Dense(5, name="stem")(x)
    return keras.Model(x, keras.layers.Dense(3, name="head")(bb(h)), name="outer")


def twice_nested(seed=0):
    keras.utils.set_random_seed(seed)
    middle_in = keras.Input((5,))
    middle = keras.Model(middle_in, backbone()(middle_in), name="middle")
    x = keras.Input((5,))
    return keras.Model(x, keras.layers.Dense(3, name="head")(middle(x)), name="outer")


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype("float32"), rng.integers(0, 3, n).astype("int32")


def taps_of(model, names, x):
    reader = taps_lib.TapReader(model, names, None)
    return reader.forward(x, False, names).taps


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_a_nested_model_and_a_layer_inside_it_are_read_as_computed(kind):
    model = outer(kind)
    x, _ = data()
    found = taps_of(model, ["backbone", "backbone/block1"], x)
    bb = model.get_layer("backbone")
    inner_input = x if kind == "sequential" else model.get_layer("stem")(x)
    np.testing.assert_allclose(found["backbone"], bb(inner_input), rtol=1e-6)
    block1 = keras.Model(bb.input, bb.get_layer("block1").output)
    np.testing.assert_allclose(found["backbone/block1"], block1(inner_input), rtol=1e-6)


def test_a_path_two_models_deep():
    model = twice_nested()
    x, _ = data()
    found = taps_of(model, ["middle/backbone/block2"], x)
    np.testing.assert_allclose(found["middle/backbone/block2"], model.get_layer("middle")(x),
                               rtol=1e-6)


def test_irl_on_a_nested_layer_trains_and_round_trips(tmp_path):
    x, y = data(16)
    model = ki.IRL(outer(), perturbation=ki.perturbations.GaussianNoise(0.3, seed=1),
                   layers=["backbone/block1", "backbone"])
    model.compile("adam", SCCE)
    logs = model.fit(x, y, epochs=2, verbose=0).history
    assert logs["irl_distance"][0] > 0
    path = tmp_path / "nested.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert restored.penalties[0].tap_names == ["backbone/block1", "backbone"]


def test_an_unknown_layer_suggests_the_nested_path():
    with pytest.raises(ValueError) as error:
        ki.IRL(outer(), perturbation=ki.perturbations.GaussianNoise(0.1), layers="block1")
    message = str(error.value)
    assert "Did you mean ['backbone/block1'" in message
    assert "inside nested models" in message and "'backbone/block2'" in message


def test_above_takes_a_top_level_layer():
    with pytest.raises(ValueError, match="'above:' takes a layer of model"):
        ki.IRL(
            outer(),
            perturbation=ki.perturbations.GaussianNoise(0.1),
            layers="above:backbone/block1",
        )


def test_a_keras_applications_backbone_is_tapped_inside():
    keras.utils.set_random_seed(0)
    mobilenet = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, minimalistic=True,
        include_preprocessing=False)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(mobilenet(inputs))
    base = keras.Model(inputs, keras.layers.Dense(3, name="logits")(pooled))
    model = ki.IRL(base, perturbation=ki.perturbations.GaussianNoise(0.1, seed=0),
                   layers=f"{mobilenet.name}/expanded_conv_depthwise")
    model.compile("sgd", SCCE)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    logs = model.fit(x, np.arange(4) % 3, batch_size=4, verbose=0).history
    assert np.isfinite(logs["irl_distance"][0]) and logs["irl_distance"][0] > 0
