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


def replica_row_positions(local_rows):
    """Where this replica's rows sit in the global batch.

    `MirroredStrategy` (and its multi-worker and TPU kin) hand replica r the
    r-th contiguous slice of each global batch. One all-reduce of the slice
    sizes gives every replica its offset, so uneven last batches are handled
    exactly; on one replica there is no communication.

    Example:

    >>> positions, total = replica_row_positions(3)
    >>> positions.numpy().tolist(), int(total)
    ([0, 1, 2], 3)

    Args:
        local_rows: This replica's batch size (int or scalar tensor).

    Returns:
        `(positions, global_rows)`: int32 `(local_rows,)` and a scalar.
    """
    local_rows = tf.cast(local_rows, tf.int32)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    context = tf.distribute.get_replica_context()
    if replicas == 1 or context is None:
        return tf.range(local_rows), local_rows
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    mine = tf.one_hot(replica, replicas, dtype=tf.float32) * tf.cast(local_rows, tf.float32)
    sizes = tf.cast(context.all_reduce(tf.distribute.ReduceOp.SUM, mine), tf.int32)
    before = tf.reduce_sum(tf.where(tf.range(replicas) < replica, sizes, 0))
    return before + tf.range(local_rows), tf.reduce_sum(sizes)
