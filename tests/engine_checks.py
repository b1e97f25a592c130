"""Reusable checks every InvariantModel configuration must pass.

Other test modules import these so that each penalty and perturbation is held
to the same standard: distribution equivalence, save/load, XLA, mixed
precision, and a metric in the logs.
"""

import functools
import json

import keras
import numpy as np
import tensorflow as tf

from tests.models import engine_data as tiny_data  # noqa: F401 - shared with importers
from tests.models import engine_mlp as tiny_mlp  # noqa: F401 - shared with importers

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@functools.lru_cache(maxsize=None)
def mirrored_strategy():
    """One MirroredStrategy over two logical CPUs for the whole session.

    Creating a second MirroredStrategy in one process makes TensorFlow's
    collective ops reuse instance keys and abort with "Shape mismatch in the
    collective instance", so every test shares this one.
    """
    return tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])


def normalized(config):
    """JSON-normalizes a config (tuples become lists)."""
    return json.loads(json.dumps(config))


def check_distribution_equivalence(build, x, y, steps=4, batch_size=16, atol=1e-5):
    """fit on MirroredStrategy over 2 CPUs gives the weights of 1 device.

    Args:
        build: A function returning an uncompiled InvariantModel; it is called
            once inside each strategy's scope.
    """
    rows = steps * batch_size
    x = tf.nest.map_structure(lambda t: t[:rows], x)
    y = y[:rows]
    keras.utils.set_random_seed(0)
    single = build()
    single.compile(keras.optimizers.SGD(0.1), SCCE)
    initial = single.get_weights()
    single.fit(x, y,
               batch_size=batch_size, shuffle=False, verbose=0)

    with mirrored_strategy().scope():
        keras.utils.set_random_seed(0)
        mirrored = build()
        mirrored.compile(keras.optimizers.SGD(0.1), SCCE)
    mirrored.set_weights(initial)
    mirrored.fit(x, y,
                 batch_size=batch_size, shuffle=False, verbose=0)
    moved = max(
        float(np.max(np.abs(a - b)))
        for a, b in zip(single.get_weights(), initial)
    )
    assert moved > 1e-3, "training did not move the weights; the check is void"
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=atol, rtol=0)


def check_save_load(model, x, y, tmp_path):
    """Same predictions and config after a .keras round trip; fit continues."""
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-6
    )
    assert normalized(loaded.get_config()) == normalized(model.get_config())
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b)
    before = [w.copy() for w in loaded.get_weights()]
    history = loaded.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.allclose(a, b) for a, b in zip(before, loaded.get_weights())
    )
    return loaded


def check_fit_logs(model, x, y, expected_metrics, **compile_kwargs):
    compile_kwargs.setdefault("optimizer", keras.optimizers.SGD(0.05))
    compile_kwargs.setdefault("loss", SCCE)
    model.compile(**compile_kwargs)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    for name in expected_metrics:
        assert name in history.history, (name, sorted(history.history))
        assert np.all(np.isfinite(history.history[name])), name
    return history
