"""keras_invariance.spatial.tangents: tangent vectors against finite differences."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance import spatial

H = W = 9


def _images(batch=2, h=H, w=W, c=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, h, w, c)).astype("float32")


def _smooth_images(batch=2, h=16, w=16, c=1, seed=0):
    # A smooth blob well inside the frame, so interpolation is well behaved
    # and nothing leaves the image under small transforms.
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    out = np.zeros((batch, h, w, c), "float32")
    for b in range(batch):
        for ch in range(c):
            cx, cy = rng.uniform(6, w - 7), rng.uniform(6, h - 7)
            out[b, :, :, ch] = np.exp(
                -((xx - cx) ** 2 + 0.5 * (yy - cy) ** 2) / 6.0
            )
    return out


def _central_fd(fn, h):
    return (fn(h).numpy() - fn(-h).numpy()) / (2 * h)


def test_translation_tangent_is_minus_image_x_derivative():
    x = _smooth_images(batch=2, c=2)
    t = spatial.tangent_vectors(x, ["translate_x", "translate_y"], sigma=0)
    t = t.numpy()
    ix = np.zeros_like(x)
    ix[:, :, 1:-1] = (x[:, :, 2:] - x[:, :, :-2]) / 2
    np.testing.assert_allclose(t[:, 0, :, 1:-1], -ix[:, :, 1:-1], atol=1e-6)
    fd_x = _central_fd(lambda h: spatial.transform_images(x, dx=h), 1e-2)
    fd_y = _central_fd(lambda h: spatial.transform_images(x, dy=h), 1e-2)
    np.testing.assert_allclose(t[:, 0], fd_x, atol=1e-4)
    np.testing.assert_allclose(t[:, 1], fd_y, atol=1e-4)


@pytest.mark.parametrize("sigma", [0.0, 0.9])
def test_geometric_tangents_match_finite_differences(sigma):
    x = _smooth_images(batch=2)
    names = ["translate_x", "rotate", "scale", "scale_x", "scale_y"]
    t = spatial.tangent_vectors(x, names, sigma=sigma).numpy()
    xs = spatial.gaussian_smooth(x, sigma)
    c = (16 - 1) / 2

    def scale_xy(sx, sy):
        m = [1 / sx, 0, c - c / sx, 0, 1 / sy, c - c / sy]
        return spatial.affine_sample(xs, tf.constant([m] * 2))

    fds = [
        _central_fd(lambda h: spatial.transform_images(xs, dx=h), 1e-2),
        _central_fd(lambda h: spatial.transform_images(xs, angle=h), 1e-2),
        _central_fd(lambda h: spatial.transform_images(xs, scale=1 + h),
                    1e-3),
        _central_fd(lambda h: scale_xy(1 + h, 1.0), 1e-3),
        _central_fd(lambda h: scale_xy(1.0, 1 + h), 1e-3),
    ]
    for i, fd in enumerate(fds):
        np.testing.assert_allclose(t[:, i], fd, atol=2e-3, err_msg=names[i])


def test_tangents_from_keras_layers_match_keras_finite_differences():
    x = (0.2 + 0.6 * _smooth_images(batch=2)).astype("float32")
    eps = 1e-3
    r, tw, th, z, b, c = 0.1, 0.2, 0.1, 0.15, 0.3, 0.4
    layers = [
        keras.layers.RandomTranslation(th, tw),
        keras.layers.RandomRotation(r),
        keras.layers.RandomZoom(z),
        keras.layers.RandomBrightness(b, value_range=(0, 1)),
        keras.layers.RandomContrast(c, value_range=(0, 1)),
    ]
    t = spatial.tangent_vectors(x, layers, sigma=0).numpy()
    assert t.shape == (2, 6, 16, 16, 1)

    def run(layer):
        return layer(x, training=True).numpy()

    K = keras.layers
    fd = [
        (run(K.RandomTranslation(0, (eps, eps)))
         - run(K.RandomTranslation(0, (-eps, -eps)))) / (2 * eps) * tw,
        (run(K.RandomTranslation((eps, eps), 0))
         - run(K.RandomTranslation((-eps, -eps), 0))) / (2 * eps) * th,
        (run(K.RandomRotation((eps, eps)))
         - run(K.RandomRotation((-eps, -eps)))) / (2 * eps) * r,
        (run(K.RandomZoom((eps, eps)))
         - run(K.RandomZoom((-eps, -eps)))) / (2 * eps) * z,
        (run(K.RandomBrightness((eps, eps), value_range=(0, 1))) - x)
        / eps * b,
        # Keras draws the contrast factor in [1 - f0, 1 + f1]; (-eps, eps)
        # pins it at 1 + eps. Contrast is linear, so one side is exact.
        (run(K.RandomContrast((-eps, eps), value_range=(0, 1))) - x)
        / eps * c,
    ]
    interior = (slice(None), slice(2, -2), slice(2, -2))
    for i, ref in enumerate(fd):
        scale = np.abs(ref).max()
        np.testing.assert_allclose(t[:, i][interior], ref[interior],
                                   atol=2e-2 * scale, err_msg=str(i))


def test_zoom_with_width_factor_gives_two_tangents():
    x = _smooth_images(batch=1)
    t = spatial.tangent_vectors(
        x, keras.layers.RandomZoom(0.1, width_factor=0.2), sigma=0).numpy()
    ref = spatial.tangent_vectors(x, ["scale_x", "scale_y"], sigma=0).numpy()
    np.testing.assert_allclose(t, ref * np.array([-0.2, -0.1])[None, :, None,
                                                             None, None],
                               atol=1e-6)


def test_default_tangents_are_the_five_of_invariant_bp():
    x = _smooth_images(batch=3, c=3)
    t = spatial.tangent_vectors(x)
    assert t.shape == (3, 5, 16, 16, 3)
    named = spatial.tangent_vectors(x, list(spatial.IBP_TANGENTS))
    np.testing.assert_array_equal(t.numpy(), named.numpy())
    assert spatial.tangent_vectors(tf.cast(x, "float16"),
                                   "rotate").dtype == tf.float16


def test_brightness_and_contrast_tangents():
    x = _images(batch=2, c=3)
    t = spatial.tangent_vectors(x, ["brightness", "contrast"]).numpy()
    np.testing.assert_array_equal(t[:, 0], np.ones_like(x))
    np.testing.assert_allclose(
        t[:, 1], x - x.mean(axis=(1, 2), keepdims=True), atol=1e-6)


def test_unsupported_layer_error_lists_supported_layers():
    x = _smooth_images(batch=1)
    with pytest.raises(ValueError) as info:
        spatial.tangent_vectors(x, [keras.layers.RandomFlip()])
    message = str(info.value)
    assert "RandomFlip" in message
    for name in spatial.TANGENT_LAYERS:
        assert name in message
    with pytest.raises(ValueError, match="translate_x"):
        spatial.tangent_vectors(x, ["shear"])


def test_augmentation_pipeline_is_expanded():
    x = _smooth_images(batch=2)
    layers = [keras.layers.RandomTranslation(0.1, 0.1),
              keras.layers.RandomRotation(0.05)]
    ref = spatial.tangent_vectors(x, layers).numpy()
    for pipeline in (keras.Sequential(layers), keras.layers.Pipeline(layers)):
        np.testing.assert_array_equal(
            spatial.tangent_vectors(x, pipeline).numpy(), ref)


def test_tangent_vectors_compile_under_xla():
    x = tf.constant(_smooth_images(batch=2, c=2))
    fn = tf.function(lambda im: spatial.tangent_vectors(im, sigma=0.9),
                     jit_compile=True)
    np.testing.assert_allclose(fn(x).numpy(),
                               spatial.tangent_vectors(x).numpy(), atol=1e-5)
