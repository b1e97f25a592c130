"""The base class of every distance d(u, v) (see `keras_invariance.distances`)."""

import keras

from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.distances.Distance")
class Distance(keras.layers.Layer):
    """Base class of the distances d(u, v) used by IRL and divergence penalties.

    A distance is a Keras layer only so that its own hyperparameters (e.g. the
    cosine weight λ) are tracked variables saved with the model. Call
    `distance(u, v)` directly; `Layer.__call__` is not used.

    Example:

    >>> import numpy as np
    >>> from keras_invariance.distances import SquaredL2
    >>> d = SquaredL2(relative=False)
    >>> d.distance(np.ones((2, 3)), np.zeros((2, 3))).numpy()
    array([3., 3.], dtype=float32)

    Args:
        **kwargs: Keras `Layer` arguments such as `name`.
    """

    #: Whether the distance compares probability vectors over the last axis.
    on_outputs_only = False
    #: Whether the distance has a squared-L2 part that `l2_scale` divides.
    has_l2 = False

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.built = True

    def distance(self, u, v, l2_scale=None):
        """Returns d(u, v) per example, shape `(batch,)`, float32.

        Args:
            u: Clean activations, shape `(batch, ...)`.
            v: Perturbed activations, same shape.
            l2_scale: Optional scalar dividing the squared-L2 part (the
                penalty's normalization); distances without one ignore it.

        Returns:
            A float32 tensor of shape `(batch,)`.
        """
        raise NotImplementedError

    def call(self, u, v):
        return self.distance(u, v)

    def on_distribution(self, distribution):
        """`d(u, v)` on logits of `distribution` (distances between outputs)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not compare output distributions."
        )
