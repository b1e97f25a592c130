"""Embedded scikit-learn digits: shapes, range, padding, stratification."""

import numpy as np
import pytest

from keras_invariance.datasets import digits


def test_flat_split_shapes_dtypes_and_range():
    (x_train, y_train), (x_test, y_test) = digits.load_digits()
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    # Raw pixels are counts 0..16, so x·16 must be integral.
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))
    assert set(np.unique(y_train)) == set(range(10))


def test_split_is_deterministic_disjoint_and_seeded():
    (a, ya), (b, yb) = digits.load_digits(seed=0)
    (a2, ya2), _ = digits.load_digits(seed=0)
    (a3, _), _ = digits.load_digits(seed=1)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(ya, ya2)
    assert not np.array_equal(a, a3)
    rows = {row.tobytes() for row in a}
    # sklearn's digits holds a few duplicate images; almost none may cross.
    assert sum(row.tobytes() in rows for row in b) <= 5
    assert len(a) + len(b) == 1797


@pytest.mark.parametrize("test_size", [0.25, 0.5, 300])
def test_split_is_stratified(test_size):
    (_, y_train), (_, y_test) = digits.load_digits(test_size=test_size)
    p_train = np.bincount(y_train, minlength=10) / len(y_train)
    p_test = np.bincount(y_test, minlength=10) / len(y_test)
    np.testing.assert_allclose(p_train, p_test, atol=0.01)


def test_images_and_padding():
    (x_flat, _), _ = digits.load_digits()
    (x_img, _), (x_img_test, _) = digits.load_digits(image=True)
    assert x_img.shape == (1347, 8, 8, 1) and x_img_test.shape == (450, 8, 8, 1)
    np.testing.assert_array_equal(x_img.reshape(-1, 64), x_flat)

    (x_pad, _), (x_pad_test, _) = digits.load_digits(pad_to=16)
    assert x_pad.shape == (1347, 16, 16, 1) and x_pad_test.shape == (450, 16, 16, 1)
    assert x_pad.dtype == np.float32
    np.testing.assert_array_equal(x_pad[:, 4:12, 4:12], x_img)
    assert x_pad.sum() == pytest.approx(x_img.sum())

    odd = digits.to_images(x_flat[:2], pad_to=11)
    assert odd.shape == (2, 11, 11, 1)
    np.testing.assert_array_equal(odd[:, 1:9, 1:9], x_img[:2])


@pytest.mark.parametrize("pad_to", [7, 9.5])
def test_bad_padding_says_what_to_do(pad_to):
    with pytest.raises(ValueError, match="pad_to"):
        digits.load_digits(pad_to=pad_to)


def test_bad_test_size():
    with pytest.raises(ValueError, match="test_size"):
        digits.load_digits(test_size=1.5)


def test_classifier_layers_are_named_for_irl_taps():
    import keras_invariance as ki

    mlp = digits.digits_classifier(hidden_units=(16, 8))
    assert [layer.name for layer in mlp.layers] == ["pixels", "hidden_1", "hidden_2", "logits"]
    assert mlp.output_shape == (None, 10)
    model = ki.IRL(mlp, perturbation=ki.perturbations.GaussianNoise(0.1), layers="above:hidden_1")
    assert model.penalties[0].tap_names == ["hidden_1", "hidden_2", "logits"]

    cnn = digits.digits_classifier((16, 16, 1), conv_filters=(4, 8), hidden_units=(8,), dropout=0.1)
    names = [layer.name for layer in cnn.layers]
    for name in ("conv_1", "conv_2", "flatten", "hidden_1", "dropout_1", "logits"):
        assert name in names
    x = digits.to_images(np.zeros((2, 64), "float32"), pad_to=16)
    assert cnn.predict(x, verbose=0).shape == (2, 10)

    image_mlp = digits.digits_classifier((8, 8, 1), hidden_units=(8,))
    assert "flatten" in [layer.name for layer in image_mlp.layers]
    with pytest.raises(ValueError, match="image inputs"):
        digits.digits_classifier((64,), conv_filters=(4,))
