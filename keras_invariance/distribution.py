"""Scaling loss terms for `tf.distribute`, exactly as Keras scales its loss.

Keras divides the compiled loss and every entry of `model.losses` by the
number of replicas in sync before the gradient, and sums gradients across
replicas. Every extra term of the objective goes through
`scale_for_distribution` so that it weighs the same on one device or N.
"""

import tensorflow as tf


def scale_for_distribution(value):
    """Divides by the replica count, as Keras scales its compiled loss.

    Gradients are summed across replicas, so a term that is not divided by
    the number of replicas would weigh N times too much on N devices.

    Example:

    >>> float(scale_for_distribution(tf.constant(3.0)))
    3.0
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = value * (1.0 / replicas)
    return value


def unscale_for_distribution(value):
    """Undoes `scale_for_distribution`, for metrics (as Keras' tracker).

    Example:

    >>> float(unscale_for_distribution(tf.constant(3.0)))
    3.0
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        value = value * float(replicas)
    return value
