"""Differentiable spatial transforms, worst-case grids and tangent vectors.

Keras' own spatial preprocessing layers (`RandomRotation`, `RandomTranslation`,
`RandomZoom`) warp with the `ImageProjectiveTransformV3` op. That op has no
gradient with respect to the transform and no XLA kernel on CPU, so it can
serve neither a search over transform parameters (S-PGD) nor a jit-compiled
train step. This module re-implements the same warp with plain tensor ops
(bilinear interpolation written as four gathers), which is differentiable with
respect to both the images and the parameters and compiles under XLA.

Conventions (checked against Keras 3.15 and tested in `tests/test_spatial.py`):

* Images are NHWC floats. Pixel `(row y, column x)` sits at coordinate
  `(x, y)`; the centre of rotation and scaling is `((W - 1) / 2, (H - 1) / 2)`,
  as in Keras' `_compute_affine_matrix`.
* `dx > 0` moves the content right and `dy > 0` moves it down, in pixels. This
  is `keras.layers.RandomTranslation` with `width_factor = dx / W` and
  `height_factor = dy / H`.
* `angle > 0` (degrees) rotates the content counter-clockwise as seen on
  screen, like `keras.layers.RandomRotation` with `factor = angle / 360`, and
  like `tf.image.rot90` for `angle = 90`.
* `scale > 1` magnifies the content about the centre. Note that Keras'
  `RandomZoom` goes the other way: a positive zoom factor `h` zooms *out*, i.e.
  it is `scale = 1 / (1 + h)`.
* The composite warp rotates and scales about the centre, then translates:
  output pixel `p` reads input position `c + R(angle) (p - c - t) / scale`
  with `R(a) = [[cos a, -sin a], [sin a, cos a]]` (Keras' matrix).

Reference:
    Yang et al., "Invariance-inducing regularization using worst-case
    transformations suffices to boost accuracy and spatial robustness"
    (NeurIPS 2019), and Engstrom et al., "Exploring the Landscape of Spatial
    Robustness" (ICML 2019) for the 775-point grid. Tangent vectors: Simard et
    al., "Transformation Invariance in Pattern Recognition: Tangent Distance
    and Tangent Propagation" (2012), as used in Demyanov et al., "Invariant
    backpropagation" (2015), Sections 2.1 and 5 (5 tangents, sigma = 0.9).
"""

import itertools
import math

import numpy as np
import tensorflow as tf

FILL_MODES = ("constant", "reflect", "nearest", "wrap")

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

SUPPORTED_LAYERS = (
    "RandomTranslation",
    "RandomRotation",
    "RandomZoom",
    "RandomBrightness",
    "RandomContrast",
)


def _check_images(images, name="images"):
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            f"`{name}` must be a 4D NHWC batch (batch, height, width, "
            f"channels). Received shape {images.shape}. For a single image, "
            f"add a batch axis with `image[None]`; for grayscale (B, H, W), "
            f"add a channel axis with `images[..., None]`."
        )
    if not images.dtype.is_floating:
        raise ValueError(
            f"`{name}` must be floating point; received dtype "
            f"{images.dtype.name}. Cast first, e.g. "
            f"`tf.cast(images, 'float32')`."
        )
    return images


def _compute_dtype(images):
    # Positions are float32 (float16 is too coarse to address pixels of large
    # images) unless the images are float64, which makes exact gradient
    # checks possible.
    return tf.float64 if images.dtype == tf.float64 else tf.float32


def _per_example(value, batch_size, name, default_static_batch,
                 dtype=tf.float32):
    """Broadcasts a scalar or (batch,) parameter to a (batch,) vector."""
    value = tf.cast(tf.convert_to_tensor(value), dtype)
    if value.shape.rank is not None and value.shape.rank > 1:
        raise ValueError(
            f"`{name}` must be a scalar or a vector of shape (batch,); "
            f"received shape {value.shape}."
        )
    if (
        value.shape.rank == 1
        and value.shape[0] is not None
        and default_static_batch is not None
        and value.shape[0] not in (1, default_static_batch)
    ):
        raise ValueError(
            f"`{name}` has {value.shape[0]} entries but the image batch has "
            f"{default_static_batch}. Pass one value per image, or a scalar."
        )
    return tf.broadcast_to(tf.reshape(value, [-1]), [batch_size])


def _resolve_indices(idx, size, fill_mode):
    """Maps integer sample indices outside [0, size) by `fill_mode`.

    Returns the in-range indices and, for "constant", the mask of indices that
    were inside (the others read `fill_value`).
    """
    if fill_mode == "constant":
        valid = (idx >= 0) & (idx < size)
        return tf.clip_by_value(idx, 0, size - 1), valid
    if fill_mode == "nearest":
        return tf.clip_by_value(idx, 0, size - 1), None
    if fill_mode == "wrap":
        return tf.math.floormod(idx, size), None
    # "reflect" is half-sample symmetric, (d c b a | a b c d | d c b a), as in
    # Keras; reflecting the integer corners then interpolating gives the same
    # values as Keras' reflection of the continuous coordinate.
    period = 2 * size
    m = tf.math.floormod(idx, period)
    return tf.where(m < size, m, period - 1 - m), None


def affine_sample(images, matrices, fill_mode="constant", fill_value=0.0):
    """Bilinearly samples `images` at inverse-affine positions.

    Output pixel `(x, y)` reads the input at `(a0 x + a1 y + a2, b0 x + b1 y +
    b2)`, which is the convention of the first six entries of Keras'
    `keras.ops.image.affine_transform` matrices. Unlike that op, this one is
    differentiable with respect to `matrices` and compiles under XLA.

    Example:

    >>> images = tf.reshape(tf.range(16, dtype="float32"), (1, 4, 4, 1))
    >>> identity = tf.constant([[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    >>> bool(tf.reduce_all(affine_sample(images, identity) == images))
    True

    Args:
        images: float tensor of shape `(batch, height, width, channels)`.
        matrices: float tensor of shape `(batch, 6)` or `(batch, 8)` (the last
            two projective entries must be zero and are ignored), or `(6,)`
            for one matrix shared by the batch.
        fill_mode: one of `"constant"`, `"reflect"`, `"nearest"`, `"wrap"`,
            with Keras' meanings. The first three match Keras' TensorFlow
            backend to float precision; for `"wrap"` Keras reads `fill_value`
            between the last and first column, here the image wraps
            smoothly.
        fill_value: value read outside the image when `fill_mode="constant"`.

    Returns:
        Tensor with the shape and dtype of `images`.

    Raises:
        ValueError: if `images` is not a 4D float tensor, `matrices` has the
            wrong shape, or `fill_mode` is unknown.
    """
    images = _check_images(images)
    if fill_mode not in FILL_MODES:
        raise ValueError(
            f"Unknown `fill_mode` {fill_mode!r}. Expected one of {FILL_MODES}."
        )
    cdtype = _compute_dtype(images)
    matrices = tf.cast(tf.convert_to_tensor(matrices), cdtype)
    if matrices.shape.rank == 1:
        matrices = matrices[None]
    if matrices.shape.rank != 2 or matrices.shape[-1] not in (6, 8):
        raise ValueError(
            "`matrices` must have shape (batch, 6) or (batch, 8) (Keras "
            f"affine-transform layout); received shape {matrices.shape}."
        )
    dtype = images.dtype
    shape = tf.shape(images)
    batch = shape[0]
    height = images.shape[1] if images.shape[1] is not None else shape[1]
    width = images.shape[2] if images.shape[2] is not None else shape[2]
    channels = images.shape[3] if images.shape[3] is not None else shape[3]
    matrices = tf.broadcast_to(matrices[:, :6], [batch, 6])

    ys, xs = tf.meshgrid(
        tf.range(height, dtype=cdtype),
        tf.range(width, dtype=cdtype),
        indexing="ij",
    )
    m = matrices[:, :, None, None]
    x_in = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]
    y_in = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    return _bilinear(images, x_in, y_in, height, width, channels, fill_mode,
                     fill_value, dtype)


def _bilinear(images, x_in, y_in, height, width, channels, fill_mode,
              fill_value, dtype):
    batch = tf.shape(images)[0]
    cdtype = x_in.dtype
    flat = tf.reshape(tf.cast(images, cdtype), [-1, channels])
    x0f = tf.floor(x_in)
    y0f = tf.floor(y_in)
    # The weights carry the gradient with respect to the positions; floor
    # itself has zero gradient.
    wx = (x_in - x0f)[..., None]
    wy = (y_in - y0f)[..., None]
    x0 = tf.cast(x0f, tf.int32)
    y0 = tf.cast(y0f, tf.int32)
    base = (tf.range(batch) * (height * width))[:, None, None]
    fill = tf.cast(fill_value, cdtype)

    def read(yi, xi):
        yi, y_ok = _resolve_indices(yi, height, fill_mode)
        xi, x_ok = _resolve_indices(xi, width, fill_mode)
        values = tf.gather(flat, base + yi * width + xi)
        if fill_mode == "constant":
            values = tf.where((y_ok & x_ok)[..., None], values, fill)
        return values

    top = read(y0, x0) * (1.0 - wx) + read(y0, x0 + 1) * wx
    bottom = read(y0 + 1, x0) * (1.0 - wx) + read(y0 + 1, x0 + 1) * wx
    out = top * (1.0 - wy) + bottom * wy
    return tf.cast(out, dtype)


def transform_images(
    images,
    dx=0.0,
    dy=0.0,
    angle=0.0,
    scale=1.0,
    fill_mode="constant",
    fill_value=0.0,
):
    """Translates, rotates and scales a batch of images, differentiably.

    Each parameter is a scalar (shared by the batch) or a vector with one
    value per image. Signs and units are those of Keras' preprocessing layers:
    `dx`, `dy` as `keras.layers.RandomTranslation` (in pixels, positive moves
    the content right / down) and `angle` as `keras.layers.RandomRotation` (in
    degrees, positive is counter-clockwise on screen, so `angle=90` equals
    `tf.image.rot90`). `scale > 1` magnifies the content about the image
    centre. Rotation and scaling are about the centre `((W-1)/2, (H-1)/2)`,
    and the translation is applied after them. Sampling is bilinear.

    Zero parameters return the input exactly. The result is differentiable
    with respect to `images`, `dx`, `dy`, `angle` and `scale`, and the
    function compiles under `tf.function(jit_compile=True)`.

    Example:

    >>> images = tf.random.stateless_uniform((2, 8, 8, 1), seed=(0, 1))
    >>> out = transform_images(images, dx=[1.0, -2.0], angle=[0.0, 15.0])
    >>> out.shape
    TensorShape([2, 8, 8, 1])
    >>> bool(tf.reduce_all(transform_images(images) == images))
    True

    Args:
        images: float tensor `(batch, height, width, channels)`.
        dx: horizontal shift in pixels, positive to the right.
        dy: vertical shift in pixels, positive downwards.
        angle: rotation in degrees, positive counter-clockwise on screen.
        scale: magnification about the centre (`> 0`); 1 leaves the size.
        fill_mode: `"constant"`, `"reflect"`, `"nearest"` or `"wrap"`, with
            the meanings of Keras' `RandomRotation(fill_mode=...)`.
        fill_value: value outside the image when `fill_mode="constant"`.

    Returns:
        The transformed images, same shape and dtype as `images`.

    Raises:
        ValueError: if `images` is not a 4D float tensor, a parameter is not a
            scalar or a `(batch,)` vector, or `fill_mode` is unknown.

    Reference:
        Engstrom et al. (2019), Section 3 (rotation + translation attack);
        Yang et al. (2019), the transformation set T(x).
    """
    images = _check_images(images)
    batch = tf.shape(images)[0]
    static_batch = images.shape[0]
    cdtype = _compute_dtype(images)
    dx = _per_example(dx, batch, "dx", static_batch, cdtype)
    dy = _per_example(dy, batch, "dy", static_batch, cdtype)
    angle = _per_example(angle, batch, "angle", static_batch, cdtype)
    scale = _per_example(scale, batch, "scale", static_batch, cdtype)
    height = images.shape[1] if images.shape[1] is not None else tf.shape(
        images)[1]
    width = images.shape[2] if images.shape[2] is not None else tf.shape(
        images)[2]
    cx = (tf.cast(width, cdtype) - 1.0) / 2.0
    cy = (tf.cast(height, cdtype) - 1.0) / 2.0
    theta = angle * (math.pi / 180.0)
    cos = tf.cos(theta) / scale
    sin = tf.sin(theta) / scale
    # Input position = c + R(theta) (p - c - t) / scale, i.e. Keras' inverse
    # map for RandomRotation composed with RandomTranslation's "-dx".
    ox = -cx - dx
    oy = -cy - dy
    matrices = tf.stack(
        [cos, -sin, cx + cos * ox - sin * oy,
         sin, cos, cy + sin * ox + cos * oy],
        axis=1,
    )
    return affine_sample(images, matrices, fill_mode, fill_value)


def apply_spatial_params(images, params, fill_mode="constant", fill_value=0.0):
    """Applies per-example `(dx, dy, angle[, scale])` rows to `images`.

    Example:

    >>> images = tf.zeros((3, 8, 8, 1))
    >>> params = sample_spatial_params(3, seed=0)
    >>> apply_spatial_params(images, params).shape
    TensorShape([3, 8, 8, 1])

    Args:
        images: float tensor `(batch, height, width, channels)`.
        params: tensor `(batch, 3)` of `(dx, dy, angle)` or `(batch, 4)` of
            `(dx, dy, angle, scale)`, units as in `transform_images`. A single
            row `(3,)`/`(4,)` is shared by the batch.
        fill_mode: see `transform_images`.
        fill_value: see `transform_images`.

    Returns:
        The transformed images.

    Raises:
        ValueError: if `params` does not have 3 or 4 columns.
    """
    params = tf.convert_to_tensor(params)
    if not params.dtype.is_floating:
        params = tf.cast(params, tf.float32)
    if params.shape.rank == 1:
        params = params[None]
    if params.shape.rank != 2 or params.shape[-1] not in (3, 4):
        raise ValueError(
            "`params` must have shape (batch, 3) for (dx, dy, angle) or "
            f"(batch, 4) for (dx, dy, angle, scale); received {params.shape}."
        )
    scale = params[:, 3] if params.shape[-1] == 4 else 1.0
    return transform_images(
        images, params[:, 0], params[:, 1], params[:, 2], scale,
        fill_mode=fill_mode, fill_value=fill_value,
    )


def spatial_grid(translation=3.0, rotation=30.0, granularity=(5, 5, 31)):
    """The worst-case evaluation grid of Engstrom et al. (default 775 points).

    Each axis is `linspace(-limit, limit, n)`, endpoints included, and the
    grid is their Cartesian product in the order `(dx, dy, angle)`.

    Example:

    >>> spatial_grid().shape
    TensorShape([775, 3])
    >>> spatial_grid(2, 0, (3, 3, 1)).numpy()[:, :2].tolist()[:3]
    [[-2.0, -2.0], [-2.0, 0.0], [-2.0, 2.0]]

    Args:
        translation: limit in pixels for `dx` and `dy`; a number or a pair
            `(x_limit, y_limit)`.
        rotation: limit in degrees for the angle.
        granularity: number of points `(n_dx, n_dy, n_angle)`. An axis with one
            point sits at 0.

    Returns:
        float32 tensor `(n_dx * n_dy * n_angle, 3)` of `(dx, dy, angle)`
        rows, usable with `apply_spatial_params`.

    Raises:
        ValueError: if `granularity` is not three positive integers.

    Reference:
        Engstrom et al. (2019), Section 5 ("grid search", limits 3 px, 3 px,
        30 degrees, granularity 5, 5, 31); Yang et al. (2019), "grid search
        over 775 values".
    """
    if np.ndim(translation) == 0:
        translation = (translation, translation)
    granularity = tuple(granularity)
    if len(granularity) != 3 or any(int(n) < 1 for n in granularity):
        raise ValueError(
            "`granularity` must be three positive integers (n_dx, n_dy, "
            f"n_angle); received {granularity}."
        )
    limits = (translation[0], translation[1], rotation)
    axes = [
        np.linspace(-lim, lim, int(n)) if int(n) > 1 else np.zeros(1)
        for lim, n in zip(limits, granularity)
    ]
    grid = np.array(list(itertools.product(*axes)), dtype=np.float32)
    return tf.constant(grid)


def sample_spatial_params(
    batch_size, translation=3.0, rotation=30.0, scale=None, seed=None
):
    """Draws per-example transforms uniformly in the box (random attack).

    Example:

    >>> sample_spatial_params(4, seed=0).shape
    TensorShape([4, 3])
    >>> sample_spatial_params(4, scale=(0.9, 1.1), seed=0).shape
    TensorShape([4, 4])

    Args:
        batch_size: number of rows.
        translation: limit in pixels for `|dx|` and `|dy|` (number or pair).
        rotation: limit in degrees for `|angle|`.
        scale: optional `(low, high)` range for the scale; adds a 4th column.
        seed: int or a stateless seed pair, for reproducible draws. `None`
            uses TensorFlow's global generator.

    Returns:
        float32 tensor `(batch_size, 3)` or `(batch_size, 4)`.
    """
    if np.ndim(translation) == 0:
        translation = (translation, translation)
    low = [-translation[0], -translation[1], -rotation]
    high = [translation[0], translation[1], rotation]
    if scale is not None:
        low.append(scale[0])
        high.append(scale[1])
    shape = (batch_size, len(low))
    if seed is None:
        u = tf.random.uniform(shape)
    else:
        if np.ndim(seed) == 0:
            seed = (int(seed), 0)
        u = tf.random.stateless_uniform(shape, seed=seed)
    low = tf.constant(low, tf.float32)
    high = tf.constant(high, tf.float32)
    return low + (high - low) * u


# ---------------------------------------------------------------------------
# Tangent vectors.


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
    images = _check_images(images)
    if not sigma:
        return images
    radius = max(1, int(math.ceil(3.0 * sigma)))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    cdtype = _compute_dtype(images)
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
    images = _check_images(images)
    mode = "CONSTANT" if fill_mode == "constant" else "SYMMETRIC"
    p = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode=mode)
    ix = 0.5 * (p[:, 1:-1, 2:] - p[:, 1:-1, :-2])
    iy = 0.5 * (p[:, 2:, 1:-1] - p[:, :-2, 1:-1])
    return ix, iy


def _max_abs(lower, upper):
    return float(max(abs(lower), abs(upper)))


def _layer_tangents(layer, height, width):
    """Returns `[(name, multiplier)]` for one Keras preprocessing layer.

    The multiplier converts the natural-unit tangent (per pixel, per degree,
    per unit of scale / brightness / contrast) into the tangent per unit of
    the layer's own range, so that the tangent is the first-order change at
    the edge of the range the user asked for.
    """
    import keras

    L = keras.layers
    if isinstance(layer, L.RandomTranslation):
        return [
            ("translate_x",
             _max_abs(layer.width_lower, layer.width_upper) * width),
            ("translate_y",
             _max_abs(layer.height_lower, layer.height_upper) * height),
        ]
    if isinstance(layer, L.RandomRotation):
        return [("rotate", _max_abs(*layer.factor) * 360.0)]
    if isinstance(layer, L.RandomZoom):
        # Keras zooms by z = 1 + h with positive h zooming out, i.e.
        # scale = 1 / (1 + h) and d scale / d h = -1 at h = 0.
        h = _max_abs(layer.height_lower, layer.height_upper)
        if layer.width_factor is None:
            return [("scale", -h)]
        w = _max_abs(layer.width_lower, layer.width_upper)
        return [("scale_x", -w), ("scale_y", -h)]
    if isinstance(layer, L.RandomBrightness):
        span = layer.value_range[1] - layer.value_range[0]
        return [("brightness", _max_abs(*layer.factor) * span)]
    if isinstance(layer, L.RandomContrast):
        return [("contrast", _max_abs(*layer.factor))]
    raise ValueError(
        f"Cannot derive tangent vectors from {type(layer).__name__}. "
        f"Supported Keras layers: {', '.join(SUPPORTED_LAYERS)}; supported "
        f"names: {', '.join(TANGENT_NAMES)}."
    )


def _flatten_pipelines(transforms):
    """Expands `keras.Sequential` / `keras.layers.Pipeline` into layers."""
    import keras

    out = []
    for t in transforms:
        if isinstance(t, (keras.Sequential, keras.layers.Pipeline)):
            out.extend(_flatten_pipelines(t.layers))
        else:
            out.append(t)
    return out


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
    images = _check_images(images)
    if isinstance(transforms, str) or not isinstance(transforms,
                                                     (list, tuple)):
        transforms = [transforms]
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            "`tangent_vectors` needs static height and width; received "
            f"shape {images.shape}."
        )
    transforms = _flatten_pipelines(transforms)
    entries = []
    for t in transforms:
        if isinstance(t, str):
            if t not in TANGENT_NAMES:
                raise ValueError(
                    f"Unknown tangent name {t!r}. Supported names: "
                    f"{', '.join(TANGENT_NAMES)}; supported Keras layers: "
                    f"{', '.join(SUPPORTED_LAYERS)}."
                )
            entries.append((t, 1.0))
        else:
            entries.extend(_layer_tangents(t, height, width))

    cdtype = _compute_dtype(images)
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
