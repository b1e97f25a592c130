"""The convolution work of a training step: the kernels it executes.

Wall times on a shared 2-core machine swing with other jobs' load; the
arithmetic a step asks for does not. This runs a model's `train_step` once
(a `tf.function` over one batch) under TensorFlow's profiler, takes the
kernels that executed (after grappler pruned the graph for the step's
concrete shapes: dead vjps and shape-only reads do not run), and adds up
the multiply-adds of every convolution (`Conv2D` and its two gradients,
`Conv2DBackpropInput` and `Conv2DBackpropFilter`) and matrix product, with
the shapes of the traced graph. On a convolutional network these kernels
are most of a step's time, so the ratio of a method's convolution FLOPs to
plain training's is the floor of its time ratio for the formulation it
uses: no implementation of the same passes runs fewer.

A `ForwardAccumulator` runs its jvps in nested functions whose kernels
cannot be matched to the graph: they are counted as "unmatched", without
FLOPs.
"""

import collections

import tensorflow as tf

CONVOLUTIONS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")
PRODUCTS = ("MatMul", "BatchMatMulV2")


def _dims(shape, batch):
    return [batch if d is None else d for d in shape.as_list()]


def _conv_flops(op, batch):
    """2·N·Ho·Wo·Co·Kh·Kw·Ci of a convolution or either of its gradients."""
    if op.type == "Conv2D":
        n, ho, wo, co = _dims(op.outputs[0].shape, batch)
        kh, kw, ci, _ = _dims(op.inputs[1].shape, batch)
    elif op.type == "Conv2DBackpropInput":
        n, ho, wo, co = _dims(op.inputs[2].shape, batch)
        kh, kw, ci, _ = _dims(op.inputs[1].shape, batch)
    else:  # Conv2DBackpropFilter(input, filter_sizes, out_backprop)
        n, ho, wo, co = _dims(op.inputs[2].shape, batch)
        kh, kw, ci, _ = _dims(op.outputs[0].shape, batch)
    return 2 * n * ho * wo * co * kh * kw * ci


def _matmul_flops(op, batch):
    a = _dims(op.inputs[0].shape, batch)
    out = _dims(op.outputs[0].shape, batch)
    inner = a[-2] if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x") else a[-1]
    total = 2 * inner
    for d in out:
        total *= d
    return total


def executed_ops(function, args):
    """Counter of the op names one call of `function(*args)` executed.

    Read from a TensorFlow profiler trace: what ran after grappler optimized
    the step for the call's concrete shapes (it prunes more than a static
    reading of the graph can: shape reads, dead vjps).
    """
    import glob
    import shutil
    import tempfile

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    function(*args)
    directory = tempfile.mkdtemp()
    try:
        tf.profiler.experimental.start(directory)
        function(*args)
        tf.profiler.experimental.stop()
        (path,) = glob.glob(f"{directory}/**/*.xplane.pb", recursive=True)
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    names = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU") and "GPU" not in plane.name:
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name:
                    names[name.rsplit(":", 1)[0]] += 1
    return names


def step_kernels(model, x, y, batch):
    """{"conv_flops", "matmul_flops", "conv_kernels", "unmatched"} of a step.

    The kernels one executed step ran (`executed_ops`), their FLOPs from
    the traced graph's shapes; "unmatched" counts executed convolutions
    whose name is not in the graph (renamed or in a nested function).
    """

    @tf.function
    def step(xb, yb):
        return model.train_step((xb, yb))["loss"]

    args = (tf.constant(x[:batch]), tf.constant(y[:batch]))
    graph = step.get_concrete_function(*args).graph
    ran = executed_ops(step, args)
    by_name = {op.name: op for op in graph.get_operations()}
    conv = matmul = kernels = unmatched = 0
    for name, calls in ran.items():
        op = by_name.get(name)
        if op is None:
            unmatched += calls if "Conv2D" in name else 0
            continue
        if op.type in CONVOLUTIONS:
            conv += calls * _conv_flops(op, batch)
            kernels += calls
        elif op.type in PRODUCTS:
            matmul += calls * _matmul_flops(op, batch)
    return {"conv_flops": conv, "matmul_flops": matmul, "conv_kernels": kernels,
            "unmatched": unmatched}
