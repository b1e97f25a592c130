"""Photometric image noise: the IRL paper's in-domain and out-of-domain ν_x.

The building blocks follow MXNet's image augmenters (`BrightnessJitterAug`,
`ContrastJitterAug`, `SaturationJitterAug`, `HueJitterAug`, `LightingAug`),
which the paper cites, but draw one random factor per example and apply the
whole batch at once with plain tensor ops, so they compile under XLA.

Value range. The jitters are linear in the intensities measured from black, so
they are scale-free; only the PCA lighting noise has a unit (the ImageNet
eigenvalues are on MXNet's 0–255 pixel scale). The layers therefore take a
`value_range=(low, high)` (default `(0, 255)`, as MXNet and Keras' own color
layers): intensities are measured from `low`, the eigenvalues are rescaled by
`(high - low) / 255`, and results are clipped to the range only when
`clip=True`. Apply them to images before mean/std normalization, as the paper
does.
"""

import keras
from keras import ops
import numpy as np

from keras_invariance.ops import random_ops
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils.api_export import keras_invariance_export
from keras_invariance.utils.hyperparameters import add_hyperparameter
from keras_invariance.utils.hyperparameters import value_of

# ITU-R 601 luma weights, as in MXNet's contrast and saturation augmenters.
GRAY_COEFFICIENTS = (0.299, 0.587, 0.114)

# AlexNet's ImageNet RGB principal components, as MXNet's `CreateAugmenter`
# uses them: eigenvalues on a 0–255 pixel scale; eigenvectors are columns.
IMAGENET_EIGVAL = (55.46, 4.794, 1.148)
IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)

_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.321],
        [0.211, -0.523, 0.311],
    ]
)
# MXNet hard-codes a rounded inverse whose product with `_RGB_TO_YIQ` is off
# the identity by ~1e-3; the exact inverse makes a zero hue shift a no-op.
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)
# The hue rotation R(θ) = E0 + cos θ·E1 + sin θ·E2 in YIQ space, so the RGB map
# is M(θ) = P0 + cos θ·P1 + sin θ·P2 with constant 3×3 matrices: no per-example
# matrix has to be built.
_HUE_P0 = _YIQ_TO_RGB @ np.diag([1.0, 0.0, 0.0]) @ _RGB_TO_YIQ
_HUE_P1 = _YIQ_TO_RGB @ np.diag([0.0, 1.0, 1.0]) @ _RGB_TO_YIQ
_HUE_P2 = (
    _YIQ_TO_RGB
    @ np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    @ _RGB_TO_YIQ
)


def _per_example(factors, dtype):
    # A (batch,) factor broadcasts over (batch, height, width, channels).
    return ops.reshape(ops.cast(factors, dtype), (-1, 1, 1, 1))


def _gray(images):
    coefficients = ops.convert_to_tensor(GRAY_COEFFICIENTS, dtype=images.dtype)
    return ops.sum(images * coefficients, axis=-1, keepdims=True)


def _apply_rgb_matrix(images, matrix):
    # `matrix` maps a pixel column vector; pixels are rows here, hence `.T`.
    matrix = ops.convert_to_tensor(matrix.T, dtype=images.dtype)
    return ops.tensordot(images, matrix, axes=[[3], [0]])


def adjust_brightness(images, factors):
    """Scales each image's intensities by `1 + factor` (MXNet brightness).

    Example:

    >>> import numpy as np
    >>> x = np.full((2, 1, 1, 3), 10.0, "float32")
    >>> np.asarray(adjust_brightness(x, np.array([0.5, -0.5])))[:, 0, 0, 0]
    array([15.,  5.], dtype=float32)

    Args:
        images: Float tensor `(batch, height, width, 3)`.
        factors: Float tensor `(batch,)`, or a scalar; `0` is the identity.

    Returns:
        `images * (1 + factors)`, per example.

    Reference:
        MXNet `mx.image.BrightnessJitterAug`.
    """
    images = ops.convert_to_tensor(images)
    return images * (1.0 + _per_example(factors, images.dtype))


def adjust_contrast(images, factors):
    """Blends each image with its mean gray level (MXNet contrast).

    With `alpha = 1 + factor` and `m` the mean over the image of the luma
    `0.299 R + 0.587 G + 0.114 B`, returns `alpha * x + (1 - alpha) * m`.

    Example:

    >>> import numpy as np
    >>> x = np.array([[[[0.0, 0.0, 0.0]], [[2.0, 2.0, 2.0]]]], "float32")
    >>> np.asarray(adjust_contrast(x, np.array([-1.0])))[0, :, 0, 0]
    array([1., 1.], dtype=float32)

    Args:
        images: Float tensor `(batch, height, width, 3)`.
        factors: Float tensor `(batch,)`, or a scalar; `0` is the identity.

    Returns:
        The contrast-adjusted images.

    Reference:
        MXNet `mx.image.ContrastJitterAug`.
    """
    images = ops.convert_to_tensor(images)
    alpha = 1.0 + _per_example(factors, images.dtype)
    mean_gray = ops.mean(_gray(images), axis=(1, 2, 3), keepdims=True)
    return images * alpha + mean_gray * (1.0 - alpha)


def adjust_saturation(images, factors):
    """Blends each pixel with its own gray level (MXNet saturation).

    With `alpha = 1 + factor` and `g` the pixel's luma
    `0.299 R + 0.587 G + 0.114 B`, returns `alpha * x + (1 - alpha) * g`;
    `factor = -1` gives a grayscale image.

    Example:

    >>> import numpy as np
    >>> x = np.array([[[[1.0, 0.0, 0.0]]]], "float32")
    >>> np.asarray(adjust_saturation(x, np.array([-1.0])))[0, 0, 0]
    array([0.299, 0.299, 0.299], dtype=float32)

    Args:
        images: Float tensor `(batch, height, width, 3)`.
        factors: Float tensor `(batch,)`, or a scalar; `0` is the identity.

    Returns:
        The saturation-adjusted images.

    Reference:
        MXNet `mx.image.SaturationJitterAug`.
    """
    images = ops.convert_to_tensor(images)
    alpha = 1.0 + _per_example(factors, images.dtype)
    return images * alpha + _gray(images) * (1.0 - alpha)


def adjust_hue(images, factors):
    """Rotates each image's chroma by `factor · π` in YIQ space (MXNet hue).

    Pixels are mapped to YIQ, the (I, Q) plane is rotated by `θ = factor · π`
    while the luma Y is kept, and mapped back, as in MXNet's `HueJitterAug`.
    `factor = 0` (or any even integer) is the identity. Unlike MXNet, the
    YIQ→RGB matrix is the exact inverse of the RGB→YIQ one.

    Example:

    >>> import numpy as np
    >>> x = np.array([[[[0.8, 0.2, 0.1]]]], "float32")
    >>> np.allclose(adjust_hue(x, np.array([2.0])), x, atol=1e-5)
    True

    Args:
        images: Float tensor `(batch, height, width, 3)`.
        factors: Float tensor `(batch,)`, or a scalar: rotations in units of π.

    Returns:
        The hue-rotated images.

    Reference:
        MXNet `mx.image.HueJitterAug`.
    """
    images = ops.convert_to_tensor(images)
    theta = _per_example(factors, images.dtype) * np.pi
    return (
        _apply_rgb_matrix(images, _HUE_P0)
        + ops.cos(theta) * _apply_rgb_matrix(images, _HUE_P1)
        + ops.sin(theta) * _apply_rgb_matrix(images, _HUE_P2)
    )


def pca_lighting(images, alphas, eigval=None, eigvec=None):
    """Adds AlexNet-style PCA lighting noise (MXNet `LightingAug`).

    Each image gets the constant RGB offset `eigvec @ (alpha * eigval)`,
    where `alpha` is that image's row of `alphas`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((1, 1, 1, 3), "float32")
    >>> y = pca_lighting(x, np.array([[1.0, 0.0, 0.0]]), eigval=[2.0, 1.0, 1.0],
    ...                  eigvec=np.eye(3))
    >>> np.asarray(y)[0, 0, 0]
    array([2., 0., 0.], dtype=float32)

    Args:
        images: Float tensor `(batch, height, width, 3)`.
        alphas: Float tensor `(batch, 3)`: weights of the principal components
            (`0` is the identity).
        eigval: The 3 eigenvalues, in the images' units. Defaults to
            `IMAGENET_EIGVAL` (0–255 pixel scale).
        eigvec: 3×3 matrix whose columns are the eigenvectors. Defaults to
            `IMAGENET_EIGVEC`.

    Returns:
        The images with a per-example color offset added.

    Reference:
        Krizhevsky et al. 2012, §4.1; MXNet `mx.image.LightingAug`.
    """
    images = ops.convert_to_tensor(images)
    eigval = IMAGENET_EIGVAL if eigval is None else eigval
    eigvec = IMAGENET_EIGVEC if eigvec is None else eigvec
    eigval = ops.convert_to_tensor(np.asarray(eigval), dtype=images.dtype)
    eigvec = ops.convert_to_tensor(np.asarray(eigvec), dtype=images.dtype)
    alphas = ops.cast(ops.reshape(alphas, (-1, 3)), images.dtype)
    offsets = ops.matmul(alphas * eigval, ops.transpose(eigvec))
    return images + ops.reshape(offsets, (-1, 1, 1, 3))


def pca_lighting_basis(images, value_range=(0.0, 255.0)):
    """Computes `(eigval, eigvec)` for `pca_lighting` from a set of images.

    The eigen-decomposition of the 3×3 covariance of the RGB pixel values
    (AlexNet §4.1), with pixels rescaled to [0, 1] and the eigenvalues then
    multiplied by 255, which is the convention of `IMAGENET_EIGVAL`, so the
    result can be passed as `eigval`/`eigvec` to the noise layers whatever
    their `value_range`.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 255, (8, 4, 4, 3))
    >>> eigval, eigvec = pca_lighting_basis(x)
    >>> len(eigval), np.asarray(eigvec).shape
    (3, (3, 3))

    Args:
        images: Array-like `(..., 3)` of images (NumPy is fine; a sample of
            the training set suffices).
        value_range: `(low, high)` of `images`.

    Returns:
        `(eigval, eigvec)` as Python lists, largest eigenvalue first;
        eigenvectors are the columns of `eigvec`.
    """
    low, high = (float(v) for v in value_range)
    pixels = np.asarray(images, dtype="float64").reshape(-1, 3)
    pixels = (pixels - low) / (high - low)
    eigval, eigvec = np.linalg.eigh(np.cov(pixels, rowvar=False))
    order = np.argsort(eigval)[::-1]
    eigval = np.clip(eigval[order], 0.0, None) * 255.0
    return eigval.tolist(), eigvec[:, order].tolist()


def _check_value_range(value_range):
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            "`value_range` must be a pair `(low, high)`, e.g. (0, 255) or "
            f"(0, 1); received {value_range!r}."
        ) from None
    if not high > low:
        raise ValueError(
            f"`value_range` must have high > low; received {value_range!r}."
        )
    return (low, high)


def _check_images(x, layer_name):
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"{layer_name} needs float images; received dtype {dtype}. Cast "
            "them first, e.g. `keras.ops.cast(images, 'float32')`, and set "
            "`value_range` to their range."
        )
    if len(x.shape) != 4 or x.shape[-1] != 3:
        raise ValueError(
            f"{layer_name} needs RGB images shaped (batch, height, width, 3) "
            f"(channels last); received shape {tuple(x.shape)}."
        )
    return x, dtype


class _ImageNoise(Perturbation):
    """Shared plumbing: value range, dtype, clipping, draw-then-apply."""

    single_input = True

    def __init__(self, value_range=(0.0, 255.0), clip=False, seed=None,
                 **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.value_range = _check_value_range(value_range)
        self.clip = bool(clip)

    def _uniform(self, batch_size, scale):
        # Drawing U(-1, 1) and scaling by the variable lets a changed scale
        # take effect without retracing; a scale of 0 is exactly the identity.
        u = random_ops.uniform(
            (batch_size,), minval=-1.0, maxval=1.0, seed=self.seed_generator
        )
        return u * ops.cast(scale, "float32")

    def sample_parameters(self, x):
        """Draws the per-example factors for a batch `x` (a dict of tensors)."""
        raise NotImplementedError

    def _transform(self, x, parameters):
        raise NotImplementedError

    def apply(self, x, parameters):
        """Applies drawn `parameters` (from `sample_parameters`) to `x`.

        The same parameters can be applied to several tensors, e.g. an image
        and its copy.

        Args:
            x: Float images `(batch, height, width, 3)` in `value_range`.
            parameters: The dict returned by `sample_parameters`.

        Returns:
            The noised images, with `x`'s dtype.
        """
        x, dtype = _check_images(x, type(self).__name__)
        low, high = self.value_range
        # The MXNet formulas treat 0 as black; measure from `low` so the same
        # jitter means the same thing for [0, 1], [0, 255] or [-1, 1] images.
        y = ops.cast(x, "float32") - low
        y = self._transform(y, parameters) + low
        if self.clip:
            y = ops.clip(y, low, high)
        return ops.cast(y, dtype)

    def perturb(self, x, context=None):
        return self.apply(x, self.sample_parameters(x))

    def get_config(self):
        config = super().get_config()
        config.update({"value_range": list(self.value_range), "clip": self.clip})
        return config


@keras_invariance_export("keras_invariance.perturbations.InDomainImageNoise")
class InDomainImageNoise(_ImageNoise):
    """The IRL paper's in-domain image noise: color jitter then PCA lighting.

    For each image, independently: brightness `x ← x·(1 + b)`, then contrast
    `x ← x·(1 + c) − c·mean_gray(x)`, with `b ~ U(−brightness, brightness)`
    and `c ~ U(−contrast, contrast)`, then AlexNet PCA lighting
    `x ← x + eigvec @ (α ⊙ eigval)` with `α ~ N(0, pca_noise²)` per
    component. Brightness comes before contrast (MXNet's `ColorJitterAug`
    shuffles their order; a fixed order keeps the draw reproducible and
    inspectable). The magnitudes are non-trainable variables: assign to
    `noise.brightness`, `noise.contrast` or `noise.pca_noise` to change them
    without retracing.

    Example:

    >>> import numpy as np
    >>> noise = InDomainImageNoise(value_range=(0, 1), seed=0)
    >>> x = np.full((2, 4, 4, 3), 0.5, "float32")
    >>> noise.perturb(x).shape
    TensorShape([2, 4, 4, 3])
    >>> _ = noise.brightness.assign(0.0)

    Args:
        brightness: Half-width of the brightness jitter (paper: 0.5).
        contrast: Half-width of the contrast jitter (paper: 0.5).
        pca_noise: Standard deviation of the PCA weights α (paper: 0.1).
        eigval: The 3 RGB eigenvalues, on a 0–255 scale whatever
            `value_range` (they are rescaled by `(high − low) / 255`).
            Defaults to the ImageNet values of AlexNet/MXNet; compute your own
            with `pca_lighting_basis`.
        eigvec: 3×3 matrix whose columns are the eigenvectors. Defaults to
            the ImageNet values.
        value_range: `(low, high)` of the input images; `low` is black.
        clip: Whether to clip the result to `value_range`.
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: for negative magnitudes, a bad `value_range` or
            eigen-basis, and (when called) non-float or non-RGB-NHWC inputs.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Image classification", in-domain noise; MXNet `CreateAugmenter`
        (brightness, contrast, pca_noise).
    """

    def __init__(
        self,
        brightness=0.5,
        contrast=0.5,
        pca_noise=0.1,
        eigval=None,
        eigvec=None,
        value_range=(0.0, 255.0),
        clip=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, clip=clip, seed=seed,
                         **kwargs)
        self.brightness = add_hyperparameter(self, "brightness", brightness)
        self.contrast = add_hyperparameter(self, "contrast", contrast)
        self.pca_noise = add_hyperparameter(self, "pca_noise", pca_noise)
        eigval = IMAGENET_EIGVAL if eigval is None else eigval
        eigvec = IMAGENET_EIGVEC if eigvec is None else eigvec
        eigval = np.asarray(eigval, dtype="float64")
        eigvec = np.asarray(eigvec, dtype="float64")
        if eigval.shape != (3,) or eigvec.shape != (3, 3):
            raise ValueError(
                "`eigval` must have 3 entries and `eigvec` be 3×3 (columns "
                f"are eigenvectors); received shapes {eigval.shape} and "
                f"{eigvec.shape}."
            )
        self.eigval = eigval.tolist()
        self.eigvec = eigvec.tolist()

    def sample_parameters(self, x):
        """Draws `brightness`, `contrast` `(batch,)` and `pca_alpha` `(batch, 3)`.

        Args:
            x: The image batch (only its batch size is read).

        Returns:
            A dict of float32 tensors for `apply`.
        """
        batch_size = ops.shape(x)[0]
        return {
            "brightness": self._uniform(batch_size, self.brightness),
            "contrast": self._uniform(batch_size, self.contrast),
            "pca_alpha": random_ops.normal(
                (batch_size, 3), seed=self.seed_generator
            )
            * ops.cast(self.pca_noise, "float32"),
        }

    def _transform(self, y, parameters):
        low, high = self.value_range
        eigval = np.asarray(self.eigval) * (high - low) / 255.0
        y = adjust_brightness(y, parameters["brightness"])
        y = adjust_contrast(y, parameters["contrast"])
        return pca_lighting(y, parameters["pca_alpha"], eigval, self.eigvec)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "brightness": value_of(self.brightness),
                "contrast": value_of(self.contrast),
                "pca_noise": value_of(self.pca_noise),
                "eigval": self.eigval,
                "eigvec": self.eigvec,
            }
        )
        return config


@keras_invariance_export("keras_invariance.perturbations.OutOfDomainImageNoise")
class OutOfDomainImageNoise(_ImageNoise):
    """The IRL paper's out-of-domain image noise: hue then saturation jitter.

    For each image, independently: a hue rotation by `h·π` in YIQ space, then
    saturation `x ← x·(1 + s) − s·gray(x)` per pixel, with
    `h ~ U(−hue, hue)` and `s ~ U(−saturation, saturation)` (MXNet's
    `HueJitterAug` and `SaturationJitterAug`). The magnitudes are
    non-trainable variables: assign to `noise.hue` or `noise.saturation` to
    change them without retracing.

    Example:

    >>> import numpy as np
    >>> noise = OutOfDomainImageNoise(value_range=(0, 1), seed=0)
    >>> x = np.random.default_rng(0).uniform(size=(2, 4, 4, 3))
    >>> noise.perturb(x.astype("float32")).shape
    TensorShape([2, 4, 4, 3])

    Args:
        hue: Half-width of the hue jitter, in units of π (paper: 0.5).
        saturation: Half-width of the saturation jitter (paper: 0.5).
        value_range: `(low, high)` of the input images; `low` is black.
        clip: Whether to clip the result to `value_range` (a hue rotation can
            leave the RGB cube).
        seed: Optional int seed.
        **kwargs: Keras `Layer` arguments such as `name`.

    Raises:
        ValueError: for negative magnitudes, a bad `value_range`, and (when
            called) non-float or non-RGB-NHWC inputs.

    Reference:
        Salazar et al., "Invariant Representation Learning for Robust Deep Networks" (2018),
        §3 "Image classification", out-of-domain noise; MXNet `CreateAugmenter`
        (hue, saturation).
    """

    def __init__(
        self,
        hue=0.5,
        saturation=0.5,
        value_range=(0.0, 255.0),
        clip=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(value_range=value_range, clip=clip, seed=seed,
                         **kwargs)
        self.hue = add_hyperparameter(self, "hue", hue)
        self.saturation = add_hyperparameter(self, "saturation", saturation)

    def sample_parameters(self, x):
        """Draws `hue` and `saturation` factors, each `(batch,)`.

        Args:
            x: The image batch (only its batch size is read).

        Returns:
            A dict of float32 tensors for `apply`.
        """
        batch_size = ops.shape(x)[0]
        return {
            "hue": self._uniform(batch_size, self.hue),
            "saturation": self._uniform(batch_size, self.saturation),
        }

    def _transform(self, y, parameters):
        y = adjust_hue(y, parameters["hue"])
        return adjust_saturation(y, parameters["saturation"])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hue": value_of(self.hue),
                "saturation": value_of(self.saturation),
            }
        )
        return config
