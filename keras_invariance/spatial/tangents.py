"""Tangent vectors of image transforms, for Tangent Prop (Tangent BP).

Reference:
    Demyanov et al., "Invariant backpropagation: how to train a
    transformation-invariant neural network" (2015), Sections 2.1 and 5 (5
    tangents, σ = 0.9); Simard et al., "Transformation Invariance in Pattern
    Recognition: Tangent Distance and Tangent Propagation" (2012).
"""

import math

import numpy as np
import tensorflow as tf

from keras_invariance.spatial import keras_layers
from keras_invariance.spatial.warps import check_images
from keras_invariance.spatial.warps import compute_dtype

TANGENT_NAMES = (
    "translate_x",
    "translate_y",
    "rotate",
    "scale",
    "scale_x",
    "scale_y",
    "brightness",
    "contrast",
)

# The five tangents of Simard et al. as used in the Invariant BP paper (§5).
IBP_TANGENTS = ("translate_x", "translate_y", "scale_x", "scale_y", "rotate")


def gaussian_smooth(images, sigma=0.9, fill_mode="constant"):
    """Separable Gaussian blur, the smoothing step of Tangent Prop.

    Example:

    >>> images = tf.zeros((1, 8, 8, 3))
    >>> gaussian_smooth(images, 0.9).shape
    TensorShape([1, 8, 8, 3])

    Args:
        images: float tensor `(batch, height, width, channels)`.
        sigma: standard deviation in pixels; `0` or `None` returns `images`.
        fill_mode: `"constant"` pads with zeros; anything else pads
            symmetrically (mirror).

    Returns:
        The smoothed images (float32 computation, or float64 for float64
        input; output in the input dtype).
    """
    images = check_images(images)
    if not sigma:
        return images
    radius = max(1, int(math.ceil(3.0 * sigma)))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    cdtype = compute_dtype(images)
    kernel = tf.constant(kernel / kernel.sum(), cdtype)
    channels = images.shape[-1]
    x = tf.cast(images, cdtype)
    mode = "CONSTANT" if fill_mode == "constant" else "SYMMETRIC"
    x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]],
               mode=mode)
    kx = tf.tile(kernel[None, :, None, None], [1, 1, channels, 1])
    ky = tf.tile(kernel[:, None, None, None], [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")
    return tf.cast(x, images.dtype)


def image_gradients(images, fill_mode="constant"):
    """Central-difference derivatives `(dI/dx, dI/dy)` of NHWC images.

    `x` runs along the width (columns) and `y` along the height (rows,
    downwards). Outside the image, values follow `fill_mode` ("constant":
    zero, otherwise mirrored).

    Example:

    >>> ramp = tf.reshape(tf.tile(tf.range(5.0), [5]), (1, 5, 5, 1))
    >>> ix, iy = image_gradients(ramp, fill_mode="reflect")
    >>> float(ix[0, 2, 2, 0]), float(iy[0, 2, 2, 0])
    (1.0, 0.0)

    Args:
        images: float tensor `(batch, height, width, channels)`.
        fill_mode: boundary handling, as above.

    Returns:
        Tuple `(ix, iy)`, each the shape of `images`.
    """
    images = check_images(images)
    mode = "CONSTANT" if fill_mode == "constant" else "SYMMETRIC"
    p = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=mode)
    ix = 0.5 * (p[:, 1:-1, 2:] - p[:, 1:-1, :-2])
    iy = 0.5 * (p[:, 2:, 1:-1] - p[:, :-2, 1:-1])
    return ix, iy


def tangent_vectors(images, transforms=IBP_TANGENTS, sigma=0.9,
                    fill_mode="constant"):
    """Tangent vectors `dg(x, theta)/dtheta` at `theta = 0` (Tangent Prop).

    Computed analytically (Lie operators) from central-difference gradients
    of the Gaussian-smoothed images. With `c` the image centre, `Ix`, `Iy` the
    smoothed image derivatives and pixel coordinates `(x, y)` (y downwards):

    | name | tangent | natural unit |
    |---|---|---|
    | `translate_x` | `-Ix` | 1 pixel right |
    | `translate_y` | `-Iy` | 1 pixel down |
    | `rotate` | `(pi/180) (-(y-cy) Ix + (x-cx) Iy)` | 1 degree counter-clockwise |
    | `scale` | `-(x-cx) Ix - (y-cy) Iy` | magnification 1 -> 1 + s |
    | `scale_x` / `scale_y` | `-(x-cx) Ix` / `-(y-cy) Iy` | same, one axis |
    | `brightness` | `1` | +1 added to every pixel |
    | `contrast` | `x - mean` (per image, per channel) | contrast factor 1 -> 1 + c |

    The signs follow `transform_images`, so for example `translate_x` equals
    the derivative of `transform_images(images, dx=t)` at `t = 0`.

    Strings give tangents in the natural units above. A Keras preprocessing
    layer gives the tangents of the transform it draws, each multiplied by the
    largest magnitude of its range in natural units: `RandomRotation(0.1)`
    gives the rotate tangent times 36 degrees, `RandomTranslation(0.1, 0.2)`
    gives `translate_x` times `0.2 W` and `translate_y` times `0.1 H` pixels,
    `RandomZoom(h)` the `scale` tangent times `-h` (Keras' positive zoom
    zooms out; with a `width_factor`, `scale_x` and `scale_y`),
    `RandomBrightness` the constant tangent times `factor * (value range)`,
    `RandomContrast` the `(x - mean)` tangent times its factor. So a tangent
    is the first-order change of the image at the edge of the range the user
    configured, and tangents of different kinds are commensurate. Layers'
    clipping to `value_range` is ignored (its derivative is 1 inside).

    Example:

    >>> import keras
    >>> images = tf.random.stateless_uniform((2, 12, 12, 1), seed=(1, 2))
    >>> tangent_vectors(images).shape  # the 5 tangents of Invariant BP
    TensorShape([2, 5, 12, 12, 1])
    >>> layers = [keras.layers.RandomTranslation(0.1, 0.1),
    ...           keras.layers.RandomRotation(0.05)]
    >>> tangent_vectors(images, layers, sigma=0.0).shape
    TensorShape([2, 3, 12, 12, 1])

    Args:
        images: float tensor `(batch, height, width, channels)`.
        transforms: a sequence of names from `TANGENT_NAMES` and/or Keras
            preprocessing layer instances (`RandomTranslation`,
            `RandomRotation`, `RandomZoom`, `RandomBrightness`,
            `RandomContrast`), or one of them alone. A `keras.Sequential`
            or `keras.layers.Pipeline` of such layers (the augmentation
            pipeline a user already has) is expanded into its layers. Defaults to the five
            tangents of the Invariant BP paper: x and y shift, x and y scale,
            rotation.
        sigma: Gaussian smoothing (pixels) before differentiating; `0` or
            `None` differentiates the raw image. Brightness and contrast
            tangents use the raw image.
        fill_mode: boundary handling for smoothing and differences
            (`"constant"`: zero outside, otherwise mirrored).

    Returns:
        Tensor `(batch, n_tangents, height, width, channels)`, the dtype of
        `images`.

    Raises:
        ValueError: for non-4D or non-float images, an unknown name, or an
            unsupported layer (the message lists what is supported).

    Reference:
        Demyanov et al., "Invariant backpropagation", Section 2.1 (tangent
        vectors) and Section 5 (5 tangents, sigma = 0.9); Simard et al.
        (2012).
    """
    images = check_images(images)
    if isinstance(transforms, str) or not isinstance(transforms,
                                                     (list, tuple)):
        transforms = [transforms]
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            "`tangent_vectors` needs static height and width; received "
            f"shape {images.shape}."
        )
    transforms = keras_layers.flatten_pipelines(transforms)
    entries = []
    for t in transforms:
        if isinstance(t, str):
            if t not in TANGENT_NAMES:
                raise ValueError(
                    f"Unknown tangent name {t!r}. Supported names: "
                    f"{', '.join(TANGENT_NAMES)}; supported Keras layers: "
                    f"{', '.join(keras_layers.TANGENT_LAYERS)}."
                )
            entries.append((t, 1.0))
        elif keras_layers.is_tangent_layer(t):
            entries.extend(keras_layers.layer_tangents(t, height, width))
        else:
            raise ValueError(
                f"Cannot derive tangent vectors from {type(t).__name__}. "
                f"Supported Keras layers: {', '.join(keras_layers.TANGENT_LAYERS)}; "
                f"supported names: {', '.join(TANGENT_NAMES)}."
            )

    cdtype = compute_dtype(images)
    x = tf.cast(images, cdtype)
    needs_grad = any(n not in ("brightness", "contrast") for n, _ in entries)
    if needs_grad:
        ix, iy = image_gradients(gaussian_smooth(x, sigma, fill_mode),
                                 fill_mode)
        ys, xs = tf.meshgrid(
            tf.range(height, dtype=cdtype) - (height - 1) / 2.0,
            tf.range(width, dtype=cdtype) - (width - 1) / 2.0,
            indexing="ij",
        )
        xs = xs[None, :, :, None]
        ys = ys[None, :, :, None]

    out = []
    for name, mult in entries:
        if name == "translate_x":
            v = -ix
        elif name == "translate_y":
            v = -iy
        elif name == "rotate":
            v = (math.pi / 180.0) * (-ys * ix + xs * iy)
        elif name == "scale":
            v = -xs * ix - ys * iy
        elif name == "scale_x":
            v = -xs * ix
        elif name == "scale_y":
            v = -ys * iy
        elif name == "brightness":
            v = tf.ones_like(x)
        else:  # contrast
            v = x - tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        out.append(v * mult)
    return tf.cast(tf.stack(out, axis=1), images.dtype)
