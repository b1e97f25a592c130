"""Scaling loss terms for `tf.distribute`, exactly as Keras scales its loss.

Keras divides the compiled loss and every entry of `model.losses` by the
number of replicas in sync before the gradient, and sums gradients across
replicas. Every extra term of the objective goes through
`scale_for_distribution` so that it weighs the same on one device or N.
"""

import tensorflow as tf
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.distribute import multi_worker_util
from tensorflow.python.eager import context as eager_context

from keras_invariance.utils import keras_compat


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


def scale_for_optimizer(model, loss):
    """The loss the weight gradient is taken of: with the optimizer's scaling.

    `optimizer.scale_loss` multiplies by the loss scale of a
    `LossScaleOptimizer` (mixed precision) and is the identity otherwise;
    Keras' own `train_step` applies it to its (replica-scaled) loss inside
    the tape. Every `train_step` of the package (`InvariantModel`,
    `InvariantAutoencoder`) goes through this and `scale_for_distribution`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> float(scale_for_optimizer(model, tf.constant(3.0)))
    3.0

    Args:
        model: A Keras model (no optimizer before `compile()`: unchanged).
        loss: The scalar objective, already scaled for distribution.

    Returns:
        The scalar to differentiate.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return loss
    return optimizer.scale_loss(loss)


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


def multi_worker_strategy(cluster_timeout=None, **kwargs):
    """`MultiWorkerMirroredStrategy` that gives up on a missing worker in time.

    By default a worker waits without a deadline for every worker named in
    `TF_CONFIG` to connect. With `cluster_timeout` (seconds), the
    coordination service is configured first with a registration barrier of
    that length, so a job whose `TF_CONFIG` names an unreachable worker fails
    with TensorFlow's own error ("Barrier timed out ...
    Wait_for_all_tasks_to_register", DEADLINE_EXCEEDED) instead of hanging.
    Without it, this is `tf.distribute.MultiWorkerMirroredStrategy`.

    Keras 3's own `fit()` does not run under this strategy
    (keras-team/keras#20585); `InvariantModel` works around it (see
    `logs_for_reduction`), so `fit`/`evaluate` of an `InvariantModel` do.

    Example:

    >>> import inspect
    >>> "cluster_timeout" in inspect.signature(multi_worker_strategy).parameters
    True

    Args:
        cluster_timeout: Seconds to wait for all workers, or `None`.
        **kwargs: `MultiWorkerMirroredStrategy` arguments
            (`communication_options`, `cluster_resolver`).

    Returns:
        A `tf.distribute.MultiWorkerMirroredStrategy`.
    """
    if cluster_timeout is not None:
        _configure_coordination(float(cluster_timeout))
    return tf.distribute.MultiWorkerMirroredStrategy(**kwargs)


def _configure_coordination(seconds):
    # The strategy configures the coordination service itself only when none
    # is configured yet; configuring it first is how the timeout gets in
    # (TensorFlow has no public argument for it).
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec()
    if not cluster.jobs:
        return
    jobs = [
        {"name": job, "num_tasks": cluster.num_tasks(job)}
        for job in ("chief", "worker")
        if job in cluster.jobs
    ]
    eager_context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster),
        cluster_register_timeout_in_ms=int(seconds * 1000),
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(**job) for job in jobs],
    )
    # Registration is a barrier only with this flag; without it the
    # connect succeeds at once and the first wait has no deadline.
    config = getattr(eager_context.context(), "_coordination_service_config", None)
    if config is not None:
        config.cluster_register_with_barrier = True


def in_multi_worker_mode(strategy=None):
    """Whether `strategy` (default: the current one) spans several workers.

    Example:

    >>> in_multi_worker_mode()
    False
    """
    strategy = strategy or tf.distribute.get_strategy()
    extended = getattr(strategy, "extended", None)
    check = getattr(extended, "_in_multi_worker_mode", None)
    return bool(
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and check is not None
        and check()
    )


def logs_for_reduction(logs):
    """Gives scalar logs a batch axis under multi-worker strategies.

    Keras 3 reduces a step's logs across workers with
    `strategy.reduce("MEAN", value, axis=0)`, which rejects scalars, so
    `fit()` and `evaluate()` fail under `MultiWorkerMirroredStrategy`
    (keras-team/keras#20585). A leading axis of 1 makes each value reduce
    to its mean over workers, in its own shape; elsewhere the logs pass
    through unchanged.

    Example:

    >>> logs_for_reduction({"loss": tf.constant(1.0)})["loss"].shape
    TensorShape([])
    """
    if not in_multi_worker_mode():
        return logs
    return {name: tf.expand_dims(value, 0) for name, value in logs.items()}


def symbolic_build_from_local_batch(model, iterator):
    """Builds a model for `fit()` from one local replica's batch.

    Keras 3 builds from `strategy.reduce("MEAN", batch)`, which fails under
    `MultiWorkerMirroredStrategy` (keras-team/keras#20585). One local
    replica's batch has the shapes the symbolic build needs, on every
    strategy.

    Example:

    >>> callable(symbolic_build_from_local_batch)
    True

    Args:
        model: A Keras model being fit under a distribution strategy.
        iterator: Keras' epoch iterator.
    """
    strategy = model.distribute_strategy
    data_batch = None
    for _, _, batches in iterator:
        data_batch = tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0]
            if isinstance(v, tf.distribute.DistributedValues)
            else v,
            next(batches),
        )
        break
    with strategy.scope():
        keras_compat.symbolic_build(model, data_batch)
