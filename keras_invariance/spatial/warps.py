"""Differentiable affine warps of image batches (translate, rotate, scale).

Keras' own spatial preprocessing layers (`RandomRotation`, `RandomTranslation`,
`RandomZoom`) warp with the `ImageProjectiveTransformV3` op. That op has no
gradient with respect to the transform and no XLA kernel on CPU, so it can
serve neither a search over transform parameters (S-PGD) nor a jit-compiled
train step. This module re-implements the same warp with plain tensor ops
(bilinear interpolation written as four gathers), which is differentiable with
respect to both the images and the parameters and compiles under XLA.

Conventions (checked against Keras 3.15 and tested in `tests/test_spatial_warps.py`):

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
    (NeurIPS 2019); Engstrom et al., "Exploring the Landscape of Spatial
    Robustness" (ICML 2019).
"""

import math

import tensorflow as tf

from keras_invariance.utils import validation

FILL_MODES = ("constant", "reflect", "nearest", "wrap")


def check_images(images, name="images"):
    """Converts `images` to a tensor after checking it is a 4-D float batch.

    Example:

    >>> check_images(tf.zeros((1, 4, 4, 1))).shape
    TensorShape([1, 4, 4, 1])
    """
    images = tf.convert_to_tensor(images)
    validation.check_image_batch(images, f"`{name}`")
    return images


def compute_dtype(images):
    """float32 positions (float16 cannot address pixels of large images),
    or float64 for float64 images, which makes exact gradient checks possible.
    """
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
    images = check_images(images)
    if fill_mode not in FILL_MODES:
        raise ValueError(
            f"Unknown `fill_mode` {fill_mode!r}. Expected one of {FILL_MODES}."
        )
    cdtype = compute_dtype(images)
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
    images = check_images(images)
    batch = tf.shape(images)[0]
    static_batch = images.shape[0]
    cdtype = compute_dtype(images)
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
    >>> params = tf.constant([[1.0, 0.0, 10.0]] * 3)  # (dx, dy, angle)
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
