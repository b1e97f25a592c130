"""keras_invariance.spatial.warps and .grids: the warps, the 775-grid, draws."""

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


@pytest.mark.parametrize("fill_mode", spatial.FILL_MODES)
def test_zero_parameters_are_exactly_identity(fill_mode):
    x = _images()
    out = spatial.transform_images(x, 0.0, 0.0, 0.0, 1.0, fill_mode=fill_mode)
    np.testing.assert_array_equal(out.numpy(), x)
    out = spatial.apply_spatial_params(x, tf.zeros((2, 3)))
    np.testing.assert_array_equal(out.numpy(), x)


@pytest.mark.parametrize("size", [8, 9])
def test_rotation_by_90_equals_rot90(size):
    x = _images(h=size, w=size)
    # Keras' positive angle is counter-clockwise on screen, like rot90(k=1).
    for angle, k in [(90.0, 1), (-90.0, 3), (180.0, 2)]:
        out = spatial.transform_images(x, angle=angle).numpy()
        ref = tf.image.rot90(x, k=k).numpy()
        np.testing.assert_allclose(out[:, 1:-1, 1:-1], ref[:, 1:-1, 1:-1],
                                   atol=1e-5)


def test_integer_translation_equals_roll():
    x = _images()
    for dx, dy in [(2, 0), (0, -1), (-3, 2)]:
        out = spatial.transform_images(x, dx=float(dx), dy=float(dy)).numpy()
        ref = np.roll(x, (dy, dx), axis=(1, 2))
        m = 3
        np.testing.assert_array_equal(out[:, m:-m, m:-m], ref[:, m:-m, m:-m])


def test_per_example_parameters():
    x = _images(batch=3)
    dx, dy, angle, scale = [1.5, -0.5, 0.0], [0.0, 2.0, -1.0], [10.0, 0.0,
                                                              -25.0], [
        1.0, 0.8, 1.2]
    out = spatial.transform_images(x, dx, dy, angle, scale).numpy()
    for i in range(3):
        one = spatial.transform_images(x[i:i + 1], dx[i], dy[i], angle[i],
                                       scale[i]).numpy()
        np.testing.assert_allclose(out[i:i + 1], one, atol=1e-6)
    params = np.stack([dx, dy, angle, scale], axis=1)
    np.testing.assert_allclose(
        spatial.apply_spatial_params(x, params).numpy(), out, atol=1e-6)


@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "nearest"])
@pytest.mark.parametrize("angle", [17.0, -40.0])
def test_matches_keras_random_rotation(fill_mode, angle):
    x = _images(h=10, w=9)
    layer = keras.layers.RandomRotation(
        (angle / 360.0, angle / 360.0), fill_mode=fill_mode,
        interpolation="bilinear")
    ref = layer(x, training=True).numpy()
    out = spatial.transform_images(x, angle=angle, fill_mode=fill_mode)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "nearest"])
def test_matches_keras_random_translation(fill_mode):
    x = _images(h=10, w=9)
    hf, wf = 0.13, -0.27  # fractions of height / width, as Keras takes them
    layer = keras.layers.RandomTranslation(
        (hf, hf), (wf, wf), fill_mode=fill_mode, interpolation="bilinear")
    ref = layer(x, training=True).numpy()
    out = spatial.transform_images(x, dx=wf * 9, dy=hf * 10,
                                   fill_mode=fill_mode)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def test_matches_keras_random_zoom():
    x = _images(h=10, w=9)
    h = 0.25  # Keras: positive zooms out, i.e. scale = 1 / (1 + h).
    layer = keras.layers.RandomZoom((h, h), interpolation="bilinear",
                                    fill_mode="constant")
    ref = layer(x, training=True).numpy()
    out = spatial.transform_images(x, scale=1.0 / (1.0 + h))
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


def test_reflect_fill_is_half_sample_symmetric():
    x = _images(batch=1, c=1)
    out = spatial.transform_images(x, dx=2.0, fill_mode="reflect").numpy()
    # (d c b a | a b c d): columns 0 and 1 read input columns 1 and 0.
    np.testing.assert_array_equal(out[0, :, 0], x[0, :, 1])
    np.testing.assert_array_equal(out[0, :, 1], x[0, :, 0])
    np.testing.assert_array_equal(out[0, :, 2:], x[0, :, :-2])
    const = spatial.transform_images(x, dx=2.0, fill_value=0.5).numpy()
    np.testing.assert_array_equal(const[0, :, :2], 0.5)


@pytest.mark.parametrize("fill_mode", ["constant", "reflect"])
def test_parameter_gradients_match_finite_differences(fill_mode):
    # float64 images make the warp compute positions in float64, so a tiny
    # step neither loses precision nor crosses a bilinear kink.
    x = tf.constant(_smooth_images(batch=2), tf.float64)
    weights = tf.constant(_images(batch=2, h=16, w=16, c=1, seed=3),
                          tf.float64)
    params = tf.constant([[0.7, -0.4, 7.3, 1.05], [-1.2, 0.3, -12.1, 0.9]],
                         tf.float64)

    def per_example_loss(p):
        out = spatial.apply_spatial_params(x, p, fill_mode=fill_mode)
        return tf.reduce_sum(out * weights, axis=[1, 2, 3])

    with tf.GradientTape() as tape:
        tape.watch(params)
        value = tf.reduce_sum(per_example_loss(params))
    grad = tape.gradient(value, params).numpy()
    h = 1e-6
    for j, name in enumerate(["dx", "dy", "angle", "scale"]):
        e = np.zeros((2, 4))
        e[:, j] = h
        fd = (per_example_loss(params + e)
              - per_example_loss(params - e)).numpy() / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-5, atol=1e-8,
                                   err_msg=name)


def test_gradient_with_respect_to_images():
    x = tf.constant(_images())
    w = tf.constant(_images(seed=5))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = spatial.transform_images(x, dx=0.0)
        value = tf.reduce_sum(out * w)
    np.testing.assert_allclose(tape.gradient(value, x).numpy(), w.numpy())
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = tf.reduce_sum(spatial.transform_images(x, angle=13.0))
    g = tape.gradient(value, x)
    assert np.all(np.isfinite(g.numpy())) and g.numpy().std() > 0


def test_compiles_under_xla_with_gradients():
    x = tf.constant(_smooth_images(batch=3, c=2))
    params = tf.constant([[1.0, 0.5, 10.0, 1.1], [0.0, 0.0, 0.0, 1.0],
                          [-2.3, 1.7, -29.0, 0.95]])

    def fn(images, p):
        with tf.GradientTape() as tape:
            tape.watch(p)
            out = spatial.apply_spatial_params(images, p, fill_mode="reflect")
            value = tf.reduce_sum(out ** 2)
        return out, tape.gradient(value, p)

    jitted = tf.function(fn, jit_compile=True)
    out, grad = jitted(x, params)
    ref_out, ref_grad = fn(x, params)
    np.testing.assert_allclose(out.numpy(), ref_out.numpy(), atol=1e-5)
    np.testing.assert_allclose(grad.numpy(), ref_grad.numpy(), rtol=1e-4,
                               atol=1e-4)
    # Proves XLA actually compiled it (jit_compile raises if it cannot).
    hlo = jitted.experimental_get_compiler_ir(x, params)(stage="hlo")
    assert "gather" in hlo


def test_float16_keeps_dtype():
    x = tf.constant(_images(), tf.float16)
    out = spatial.transform_images(x, angle=5.0)
    assert out.dtype == tf.float16


def test_input_errors():
    with pytest.raises(ValueError, match="4-D"):
        spatial.transform_images(np.zeros((9, 9, 1), "float32"), dx=1.0)
    with pytest.raises(ValueError, match="float image batch"):
        spatial.transform_images(np.zeros((1, 9, 9, 1), "uint8"), dx=1.0)
    with pytest.raises(ValueError, match="entries but the image batch"):
        spatial.transform_images(np.zeros((2, 9, 9, 1), "float32"),
                                 dx=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="scalar or a vector"):
        spatial.transform_images(np.zeros((2, 9, 9, 1), "float32"),
                                 dx=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="fill_mode"):
        spatial.transform_images(np.zeros((1, 9, 9, 1), "float32"),
                                 fill_mode="mirror")
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        spatial.apply_spatial_params(np.zeros((1, 9, 9, 1), "float32"),
                                     np.zeros((1, 2)))


# --------------------------------------------------------------------------
# Grid.


def test_default_grid_has_775_transforms():
    grid = spatial.spatial_grid().numpy()
    assert grid.shape == (775, 3)
    assert len(np.unique(grid, axis=0)) == 775
    np.testing.assert_allclose(np.unique(grid[:, 0]), np.linspace(-3, 3, 5))
    np.testing.assert_allclose(np.unique(grid[:, 1]), np.linspace(-3, 3, 5))
    np.testing.assert_allclose(np.unique(grid[:, 2]),
                               np.linspace(-30, 30, 31), atol=1e-5)
    assert (grid == 0).all(axis=1).any()  # the identity is in the grid
    assert spatial.spatial_grid(2, 10, (3, 1, 5)).shape == (15, 3)
    with pytest.raises(ValueError, match="granularity"):
        spatial.spatial_grid(granularity=(5, 5))


def test_sample_spatial_params_in_box_and_reproducible():
    p = spatial.sample_spatial_params(500, 3, 30, scale=(0.9, 1.1), seed=1)
    p = p.numpy()
    assert p.shape == (500, 4)
    assert np.abs(p[:, :2]).max() <= 3 and np.abs(p[:, 2]).max() <= 30
    assert p[:, 3].min() >= 0.9 and p[:, 3].max() <= 1.1
    q = spatial.sample_spatial_params(500, 3, 30, scale=(0.9, 1.1), seed=1)
    np.testing.assert_array_equal(p, q.numpy())
