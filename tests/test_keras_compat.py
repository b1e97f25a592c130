"""`keras_invariance.utils.keras_compat`: each Keras internal, and its fallback.

The installed Keras is the newest the package supports; an old one cannot be
installed here. So each function is checked on the installed Keras, and its
fallback path with the private attribute removed (or replaced by a stand-in
object that lacks it): the fallback must give the same answer, or a clear
error that names the Keras version.
"""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_invariance.utils import keras_compat


def functional(dict_outputs=False):
    inputs = keras.Input((3,), name="features")
    a = keras.layers.Dense(2, name="a")(inputs)
    b = keras.layers.Dense(1, name="b")(inputs)
    outputs = {"a": a, "b": b} if dict_outputs else [a, b]
    return keras.Model(inputs, outputs)


def nested():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_dense")],
                             name="inner")
    return keras.Sequential([
        keras.Input((4,)), keras.layers.Dense(4, name="outer_dense"), inner,
        keras.layers.BatchNormalization(name="bn"),
    ])


def _moved(module, name):
    """Stands in for a Keras whose private module no longer has `name`."""
    raise ImportError(f"{module}.{name}")


def test_private_import_says_what_moved():
    assert keras_compat._private("keras.src.models.functional", "Functional")
    with pytest.raises(ImportError, match="NoSuchClass"):
        keras_compat._private("keras.src.models.functional", "NoSuchClass")
    with pytest.raises(ImportError):
        keras_compat._private("keras.src.no_such_module", "Anything")


def _version_error(excinfo):
    message = str(excinfo.value)
    assert keras.__version__ in message and keras_compat.OLDEST_CHECKED in message


# ------------------------------------------------------------------ classes


def test_functional_class_and_its_fallback(monkeypatch):
    model = functional()
    real = keras_compat.functional_class()
    assert isinstance(model, real)
    assert not isinstance(keras.Sequential([keras.Input((2,))]), real)
    keras_compat.functional_class.cache_clear()
    monkeypatch.setattr(keras_compat, "_private", _moved)
    try:
        assert keras_compat.functional_class() is real
    finally:
        keras_compat.functional_class.cache_clear()


def test_metrics_list_class_and_its_fallback(monkeypatch):
    from keras.src.trainers.compile_utils import MetricsList

    assert keras_compat.metrics_list_class() is MetricsList
    keras_compat.metrics_list_class.cache_clear()
    monkeypatch.setattr(keras_compat, "_private", _moved)
    try:
        fallback = keras_compat.metrics_list_class()
        assert fallback is not MetricsList
        holder = fallback([keras.metrics.Mean(name="vat")], name="terms")
        holder.metrics[0].update_state(3.0)
        assert float(holder.result()["vat"]) == 3.0
        holder.reset_state()
        assert float(holder.result()["vat"]) == 0.0
    finally:
        keras_compat.metrics_list_class.cache_clear()


def test_set_direction_is_read_by_keras_callbacks():
    from keras_invariance.engine.term_metrics import TermMetrics

    terms = TermMetrics(["vat"])
    assert terms["vat"]._direction == "down"
    with pytest.raises(ValueError, match="'up' or 'down'"):
        keras_compat.set_direction(keras.metrics.Mean(), "sideways")
    # EarlyStopping infers mode="auto" from the direction (else it raises).
    callback = keras.callbacks.EarlyStopping(monitor="vat")
    callback.set_model(types.SimpleNamespace(metrics=[terms]))
    callback._set_monitor_op()
    assert callback.monitor_op is not None


# ------------------------------------------------------------------- layers


def test_flatten_layers_and_its_fallback(monkeypatch):
    model = nested()

    def names():
        return [layer.name for layer in keras_compat.flatten_layers(model, include_self=False)
                if not isinstance(layer, keras.layers.InputLayer)]

    found = names()
    assert sorted(found) == ["bn", "inner", "inner_dense", "outer_dense"]
    assert keras_compat.flatten_layers(model)[0] is model
    monkeypatch.delattr(keras.layers.Layer, "_flatten_layers")
    assert sorted(names()) == sorted(found)
    assert keras_compat.flatten_layers(model)[0] is model


def test_seed_generators_and_its_fallback(monkeypatch):
    layer = keras.layers.Dropout(0.5, seed=1)
    found = keras_compat.seed_generators(layer)
    assert len(found) == 1 and isinstance(found[0], keras.random.SeedGenerator)
    monkeypatch.delattr(layer, "_seed_generators")
    assert keras_compat.seed_generators(layer) == found


def test_own_variables_and_its_fallback():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    assert [v.name for v in keras_compat.own_variables(layer)] == ["kernel", "bias"]
    inner = keras.layers.Dense(1)
    inner.build((None, 2))
    own = keras.Variable(np.zeros((2,)), name="own")
    stand_in = types.SimpleNamespace(weights=[own] + inner.weights, child=inner)
    assert keras_compat.own_variables(stand_in) == [own]


def test_call_losses_and_its_fallback():
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(2, activity_regularizer="l2", kernel_regularizer="l2"),
    ])
    model(np.ones((2, 3), "float32"))
    # The activity term only: weight regularization needs no clean pass.
    assert len(keras_compat.call_losses(model)) == 1
    # Without `_get_own_losses`, each layer's `losses` (which may count more,
    # never fewer).
    stand_in = types.SimpleNamespace(losses=[0.5])
    assert keras_compat.call_losses(stand_in) == [0.5]


def test_call_has_training_arg_and_its_fallback():
    class Plain(keras.layers.Layer):
        def call(self, x):
            return x

    assert keras_compat.call_has_training_arg(keras.layers.Dropout(0.5))
    assert not keras_compat.call_has_training_arg(Plain())

    class WithTraining:
        def call(self, x, training=None):
            return x

    class Without:
        def call(self, x):
            return x

    assert keras_compat.call_has_training_arg(WithTraining())
    assert not keras_compat.call_has_training_arg(Without())


# ------------------------------------------------------------------ tensors


def test_keras_history_and_its_fallback():
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(1)
    assert keras_compat.keras_history(dense(inputs))[0] is dense
    assert keras_compat.keras_history(object()) is None


def test_graph_structures_and_their_fallback():
    model = functional(dict_outputs=True)
    inputs, outputs = keras_compat.graph_structure(model)
    assert sorted(outputs) == ["a", "b"]
    assert isinstance(keras_compat.outputs_structure(model), dict)
    stand_in = types.SimpleNamespace(inputs=["x"], outputs=["y1", "y2"])
    assert keras_compat.graph_structure(stand_in) == (["x"], ["y1", "y2"])
    assert keras_compat.outputs_structure(stand_in) == ["y1", "y2"]
    assert keras_compat.outputs_structure(object()) is None


# ------------------------------------------------------------------- losses


def test_loss_function_kwargs_and_its_fallback(monkeypatch):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert keras_compat.loss_function_kwargs(loss)["from_logits"] is True
    monkeypatch.delattr(loss, "_fn_kwargs")
    assert keras_compat.loss_function_kwargs(loss)["from_logits"] is True
    assert keras_compat.loss_function_kwargs(object()) == {}


def test_compile_loss_and_its_fallback(monkeypatch):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert keras_compat.compile_loss(model) is None
    model.compile("sgd", "mse")
    compiled = keras_compat.compile_loss(model)
    assert compiled is not None and callable(compiled)
    monkeypatch.delattr(model, "_compile_loss")
    with pytest.raises(keras_compat.KerasCompatibilityError) as excinfo:
        keras_compat.compile_loss(model)
    _version_error(excinfo)
    assert keras_compat.compile_loss(types.SimpleNamespace(compiled=False)) is None


def test_compile_loss_parts_and_their_fallback():
    model = functional()
    model.compile("sgd", ["mse", "mae"])
    x = np.ones((2, 3), "float32")
    model.evaluate(x, [np.zeros((2, 2)), np.zeros((2, 1))], verbose=0)
    compiled = keras_compat.compile_loss(model)
    trackers = keras_compat.compile_loss_trackers(compiled)
    assert sorted(t.name for t in trackers) == ["a_loss", "b_loss"]
    # The very list Keras updates (call_quietly swaps its items in place).
    assert trackers is compiled._metrics
    parts = keras_compat.flat_losses(compiled)
    assert len(parts) == 2 and all(len(part) == 4 for part in parts)
    stand_in = types.SimpleNamespace(built=True)
    assert keras_compat.compile_loss_trackers(stand_in) == []
    assert keras_compat.flat_losses(stand_in) is None
    assert keras_compat.compile_loss_trackers(None) == []
    assert keras_compat.flat_losses(None) is None


def test_additional_loss_and_its_fallback():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    for value in (tf.constant([1.0, 2.0]), tf.constant([1, 2])):
        expected = float(model._aggregate_additional_loss(value))
        assert float(keras_compat.additional_loss(model, value)) == expected
        fallback = keras_compat.additional_loss(types.SimpleNamespace(), value)
        assert float(fallback) == expected
        assert keras.backend.standardize_dtype(fallback.dtype) == keras.backend.floatx()


def test_loss_tracker_and_its_fallback():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    assert keras_compat.loss_tracker(model).name == "loss"
    tracker = keras.metrics.Mean(name="loss")
    assert keras_compat.loss_tracker(types.SimpleNamespace(metrics=[tracker])) is tracker
    with pytest.raises(keras_compat.KerasCompatibilityError) as excinfo:
        keras_compat.loss_tracker(types.SimpleNamespace(metrics=[]))
    _version_error(excinfo)


# --------------------------------------------------------------- optimizers


def test_raw_iterations_and_its_fallback():
    optimizer = keras.optimizers.SGD(gradient_accumulation_steps=2)
    optimizer.build([keras.Variable(np.zeros(1))])
    assert keras_compat.raw_iterations(optimizer) is optimizer._iterations
    counter = keras.Variable(3, dtype="int64")
    plain = types.SimpleNamespace(iterations=counter, gradient_accumulation_steps=None)
    assert keras_compat.raw_iterations(plain) is counter
    accumulating = types.SimpleNamespace(iterations=counter, gradient_accumulation_steps=2)
    with pytest.raises(keras_compat.KerasCompatibilityError) as excinfo:
        keras_compat.raw_iterations(accumulating)
    _version_error(excinfo)


# ---------------------------------------------------------------- training


def test_distribute_strategy_or_none_and_its_fallback():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert keras_compat.distribute_strategy_or_none(model) is None
    strategy = tf.distribute.get_strategy()
    stand_in = types.SimpleNamespace(distribute_strategy=strategy)
    assert keras_compat.distribute_strategy_or_none(stand_in) is strategy


def test_symbolic_build_and_its_fallback():
    model = keras.Sequential([keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    assert not model.built
    data = (tf.zeros((4, 3)), tf.zeros((4, 2)))
    keras_compat.symbolic_build(model, data)
    assert model.built
    with pytest.raises(keras_compat.KerasCompatibilityError) as excinfo:
        keras_compat.symbolic_build(types.SimpleNamespace(), data)
    _version_error(excinfo)


def test_keras_symbolic_build_hook_and_its_fallback(monkeypatch):
    assert keras_compat.symbolic_build_hook_exists()
    model = keras.Sequential([keras.layers.Dense(2)])
    calls = []

    def hook(self, iterator=None, data_batch=None):
        calls.append((self, iterator, data_batch))

    monkeypatch.setattr(keras.Model, "_maybe_symbolic_build", hook, raising=False)
    keras_compat.keras_symbolic_build(model, data_batch="batch")
    assert calls == [(model, None, "batch")]
    monkeypatch.setattr(keras_compat, "symbolic_build_hook_exists", lambda: False)
    keras_compat.keras_symbolic_build(model, data_batch="batch")
    assert len(calls) == 1  # no hook: Keras builds at the first step


def test_no_keras_private_is_read_outside_keras_compat():
    """`keras.src` imports only in keras_compat (the grep of issue 20)."""
    import pathlib

    package = pathlib.Path(keras_compat.__file__).resolve().parents[1]
    offenders = [
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if path.name != "keras_compat.py" and "keras.src" in path.read_text()
    ]
    assert offenders == []
