"""Input checks shared by perturbations, penalties and evaluation helpers.

Every check raises a `ValueError` that names the caller (`who`) and says what
to do, so that a wrong dtype or shape fails with one readable line rather
than a TensorFlow stack trace from inside a traced train step.
"""

import keras
from keras import tree

#: The hint for integer inputs reaching a float-only term.
TOKEN_HINT = (
    "For token ids use `keras_invariance.perturbations.UnigramNoise` or "
    "`keras_invariance.perturbations.BlankNoise`, or cast the inputs to float."
)
#: The hint when every input is sparse.
SPARSE_HINT = (
    "Sparse inputs are left as they are (noise and searches move dense "
    "float inputs only), so this term would do nothing; densify the input "
    "(`tf.sparse.to_dense`) to perturb it."
)
#: The hint for integer inputs reaching a term that differentiates ∇x.
EMBEDDING_HINT = (
    "Token ids have no gradient: pass `embedding_layer='<name of your "
    "Embedding layer>'` to differentiate at the embedding output instead."
)


def dtype_of(x):
    """The standardized dtype name of a tensor, array or Keras tensor."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        import numpy as np

        dtype = np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


def is_float(x):
    """Whether `x` holds floating-point values."""
    return keras.backend.is_float_dtype(dtype_of(x))


def check_float(x, who, hint=TOKEN_HINT):
    """Raises unless `x` is float (a structure: unless one of its inputs is).

    For a model with several inputs, float-only terms act on the float
    inputs and leave token ids alone, so one float input is enough.

    Example:

    >>> import numpy as np
    >>> check_float(np.zeros((2, 3), "float32"), "GaussianNoise")
    >>> check_float(np.zeros((2, 3), "int32"), "GaussianNoise")
    Traceback (most recent call last):
    ...
    ValueError: GaussianNoise needs float inputs but received int32 inputs. ...

    Args:
        x: A tensor or a nested structure of tensors.
        who: The name of the caller, used in the message.
        hint: What the user should do instead.

    Raises:
        ValueError: For an integer or boolean tensor.
    """
    leaves = [t for t in tree.flatten(x) if t is not None]
    if not any(is_float(t) and not _is_sparse(t) for t in leaves):
        dtypes = sorted(
            {("sparse " if _is_sparse(t) else "") + dtype_of(t) for t in leaves}
        )
        raise ValueError(
            f"{who} needs float inputs but received {', '.join(dtypes)} inputs. "
            + (SPARSE_HINT if any(_is_sparse(t) for t in leaves) else hint)
        )


def _is_sparse(t):
    # A tf.SparseTensor, or a sparse `keras.Input` (checked at construction).
    return type(t).__name__ == "SparseTensor" or getattr(t, "sparse", False) is True


def check_single_input(x, who, what="input tensor"):
    """Raises unless `x` is one tensor (not a list, tuple or dict of them).

    Example:

    >>> import numpy as np
    >>> check_single_input([np.zeros(2), np.zeros(2)], "VAT")
    Traceback (most recent call last):
    ...
    ValueError: VAT supports models with a single input tensor; ...

    Args:
        x: The inputs.
        who: The caller's name.
        what: What the single input is (e.g. "image input").

    Raises:
        ValueError: For a structure of several tensors.
    """
    if isinstance(x, (list, tuple, dict)):
        raise ValueError(
            f"{who} supports models with a single {what}; received a "
            f"{type(x).__name__} of {len(x)} inputs."
        )


def check_image_batch(x, who, channels=None):
    """Raises unless `x` is one 4-D float NHWC batch (optionally C channels).

    Example:

    >>> import numpy as np
    >>> check_image_batch(np.zeros((2, 8, 8, 1), "float32"), "grid_accuracy")
    >>> check_image_batch(np.zeros((2, 64), "float32"), "grid_accuracy")
    Traceback (most recent call last):
    ...
    ValueError: grid_accuracy needs a 4-D float image batch ...

    Args:
        x: The images.
        who: The caller's name.
        channels: The required number of channels, or `None` for any.

    Raises:
        ValueError: For several inputs, another rank, an integer dtype or
            the wrong number of channels.
    """
    check_single_input(x, who, "image input")
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 4 or not is_float(x):
        raise ValueError(
            f"{who} needs a 4-D float image batch (batch, height, width, "
            f"channels); received shape {shape} and dtype {dtype_of(x)}. Add "
            "a channel axis to grayscale images (`x[..., None]`) and cast "
            "integer pixels to float (e.g. `x.astype('float32') / 255`). For "
            "non-image inputs use e.g. `keras_invariance.perturbations.GaussianNoise`."
        )
    if channels is not None and shape[-1] != channels:
        raise ValueError(
            f"{who} needs images with {channels} channels (channels last); "
            f"received shape {shape}."
        )


def check_same_length(x, y, x_name="x", y_name="y", what="labels"):
    """Raises unless `x` and `y` hold the same number of examples.

    Example:

    >>> check_same_length([1, 2], [0])
    Traceback (most recent call last):
    ...
    ValueError: `x` has 2 examples but `y` has 1 labels.
    """
    if len(x) != len(y):
        raise ValueError(
            f"`{x_name}` has {len(x)} examples but `{y_name}` has {len(y)} {what}."
        )


def check_dense(x, who, allow_sparse=False):
    """Raises for ragged inputs (and sparse ones unless allowed).

    The engine allows sparse inputs (`tf.SparseTensor`, e.g. from
    `keras.Input(..., sparse=True)`): perturbations leave them as they are
    and the passes tile them. Ragged ones have no fixed shape to tile.

    Example:

    >>> import tensorflow as tf
    >>> check_dense(tf.ragged.constant([[1.0], [2.0, 3.0]]), "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit needs dense input tensors; received a RaggedTensor. ...
    >>> check_dense(tf.sparse.from_dense([[1.0]]), "fit", allow_sparse=True)
    """
    refused = ("RaggedTensor",) if allow_sparse else ("RaggedTensor", "SparseTensor")
    for t in tree.flatten(x):
        kind = type(t).__name__
        if kind in refused:
            raise ValueError(
                f"{who} needs dense input tensors; received a {kind}. Pad "
                "ragged sequences to a fixed length (e.g. `x.to_tensor()` or "
                "`keras.utils.pad_sequences`) with a padding id the "
                "perturbation leaves alone (`pad_id=`), or densify sparse "
                "inputs."
            )


def check_model_has_float_inputs(model, subclassed, who):
    """At construction: a gradient term needs a float input to differentiate.

    Sequential and Functional models know their input dtypes; a term that
    differentiates with respect to the inputs of a model whose inputs are
    all token ids fails here, with the `embedding_layer=` hint, rather than
    at the first step. Subclassed models are checked at the first step.

    Example:

    >>> import keras
    >>> ids = keras.Input((4,), dtype="int32")
    >>> model = keras.Model(ids, keras.layers.Embedding(9, 2)(ids))
    >>> check_model_has_float_inputs(model, False, "VAT")
    Traceback (most recent call last):
    ...
    ValueError: VAT needs float inputs but received int32 inputs. ...
    """
    spec = None if subclassed or model is None else getattr(model, "input", None)
    if spec is not None:
        check_float(spec, who, EMBEDDING_HINT)


def check_perturbed(name, x_perturbed, expected):
    """Raises unless a perturbation kept the dtype and shape of its inputs.

    Example:

    >>> import tensorflow as tf
    >>> check_perturbed("noise", tf.zeros((2, 3)), tf.ones((2, 3)))

    Args:
        name: The perturbation's name, for the message.
        x_perturbed: What it returned (any structure).
        expected: The inputs it was given (the same structure).

    Raises:
        ValueError: For a changed dtype or an incompatible shape.
    """
    for got, want in zip(tree.flatten(x_perturbed), tree.flatten(expected)):
        if got.dtype != want.dtype:
            raise ValueError(
                f"The perturbation {name!r} returned {got.dtype.name} for "
                f"{want.dtype.name} inputs. A perturbation must return x̃ with "
                "the dtype of x (cast inside it if that is what you mean)."
            )
        if not got.shape.is_compatible_with(want.shape):
            raise ValueError(
                f"The perturbation {name!r} returned shape {got.shape} for "
                f"inputs of shape {want.shape}. A perturbation must return x̃ "
                "with the shape of x."
            )


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`, else raises naming `name`.

    Example:

    >>> check_choice("reduction", "sum", ("sum", "mean"))
    'sum'
    """
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; received {value!r}.")
    return value
