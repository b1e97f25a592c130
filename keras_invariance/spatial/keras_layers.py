"""Reading the ranges of Keras preprocessing layers.

A user who already augments with `RandomTranslation`, `RandomRotation`,
`RandomZoom`, `RandomBrightness` or `RandomContrast` can hand those layers
to the spatial perturbations (their range becomes the search box) and to
Tangent Prop (their range scales the tangents). This module is the one place
that reads those layers' factors.
"""

import keras

#: Layers whose range defines a spatial box (`box_from_layers`).
BOX_LAYERS = ("RandomTranslation", "RandomRotation", "RandomZoom")
#: Layers that give tangent vectors (`layer_tangents`).
TANGENT_LAYERS = BOX_LAYERS + ("RandomBrightness", "RandomContrast")


def max_abs(lower, upper):
    """The larger magnitude of a range's two ends, as a Python float.

    Example:

    >>> max_abs(-0.2, 0.1)
    0.2
    """
    return float(max(abs(lower), abs(upper)))


def flatten_pipelines(layers):
    """Expands `keras.Sequential` / `keras.layers.Pipeline` into their layers.

    Example:

    >>> pipeline = keras.Sequential([keras.layers.RandomRotation(0.1)])
    >>> [type(layer).__name__ for layer in flatten_pipelines([pipeline])]
    ['RandomRotation']
    """
    out = []
    for layer in layers:
        if isinstance(layer, (keras.Sequential, keras.layers.Pipeline)):
            out.extend(flatten_pipelines(layer.layers))
        else:
            out.append(layer)
    return out


def is_tangent_layer(layer):
    """Whether `layer` is one of `TANGENT_LAYERS`."""
    return type(layer).__name__ in TANGENT_LAYERS and isinstance(
        layer, keras.layers.Layer
    )


def layer_tangents(layer, height, width):
    """Returns `[(tangent name, multiplier)]` for one preprocessing layer.

    The multiplier converts the natural-unit tangent (per pixel, per degree,
    per unit of scale / brightness / contrast) into the tangent per unit of
    the layer's own range, so that the tangent is the first-order change at
    the edge of the range the user asked for.

    Example:

    >>> layer_tangents(keras.layers.RandomRotation(0.1), 8, 8)
    [('rotate', 36.0)]

    Args:
        layer: One of `TANGENT_LAYERS`.
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        A list of `(name, multiplier)` pairs.

    Raises:
        ValueError: For another layer.
    """
    L = keras.layers
    if isinstance(layer, L.RandomTranslation):
        return [
            ("translate_x", max_abs(layer.width_lower, layer.width_upper) * width),
            ("translate_y", max_abs(layer.height_lower, layer.height_upper) * height),
        ]
    if isinstance(layer, L.RandomRotation):
        return [("rotate", max_abs(*layer.factor) * 360.0)]
    if isinstance(layer, L.RandomZoom):
        # Keras zooms by z = 1 + h with positive h zooming out, i.e.
        # scale = 1 / (1 + h) and d scale / d h = -1 at h = 0.
        h = max_abs(layer.height_lower, layer.height_upper)
        if layer.width_factor is None:
            return [("scale", -h)]
        w = max_abs(layer.width_lower, layer.width_upper)
        return [("scale_x", -w), ("scale_y", -h)]
    if isinstance(layer, L.RandomBrightness):
        span = layer.value_range[1] - layer.value_range[0]
        return [("brightness", max_abs(*layer.factor) * span)]
    if isinstance(layer, L.RandomContrast):
        return [("contrast", max_abs(*layer.factor))]
    raise ValueError(
        f"Cannot derive tangent vectors from {type(layer).__name__}. "
        f"Supported Keras layers: {', '.join(TANGENT_LAYERS)}."
    )


def box_from_layers(layers):
    """Box arguments of the spatial perturbations from preprocessing layers.

    `RandomTranslation(h, w)` gives the translation limits as fractions of
    the image size (`translation_unit="fraction"`), `RandomRotation(f)` the
    rotation limit `360·|f|` degrees, and `RandomZoom(h)` the scale range
    `[1/(1 + h_high), 1/(1 + h_low)]` (Keras' positive zoom zooms out).
    A `keras.Sequential` or `keras.layers.Pipeline` is expanded.

    Example:

    >>> box_from_layers([keras.layers.RandomRotation(1 / 12)])["rotation"]
    30.0

    Args:
        layers: A layer or a list of layers.

    Returns:
        A dict of `translation`, `translation_unit`, `rotation` and `scale`
        keyword arguments.

    Raises:
        ValueError: For another layer; the message lists the supported ones.
    """
    if not isinstance(layers, (list, tuple)):
        layers = [layers]
    box = {
        "translation": (0.0, 0.0),
        "translation_unit": "fraction",
        "rotation": 0.0,
        "scale": None,
    }
    L = keras.layers
    for layer in flatten_pipelines(list(layers)):
        if isinstance(layer, L.RandomTranslation):
            box["translation"] = (
                max_abs(layer.width_lower, layer.width_upper),
                max_abs(layer.height_lower, layer.height_upper),
            )
        elif isinstance(layer, L.RandomRotation):
            box["rotation"] = max_abs(*layer.factor) * 360.0
        elif isinstance(layer, L.RandomZoom):
            if layer.width_factor is not None and (
                (layer.width_lower, layer.width_upper)
                != (layer.height_lower, layer.height_upper)
            ):
                raise ValueError(
                    "Spatial perturbations scale both axes alike; "
                    "`RandomZoom` with a different `width_factor` is not "
                    "supported. Use `RandomZoom(height_factor=h)`."
                )
            box["scale"] = (
                1.0 / (1.0 + layer.height_upper),
                1.0 / (1.0 + layer.height_lower),
            )
        else:
            raise ValueError(
                f"Cannot define a spatial box from {type(layer).__name__}. "
                f"Supported Keras layers: {', '.join(BOX_LAYERS)}."
            )
    return box
