"""Shared test setup: two logical CPUs for MirroredStrategy, quiet logs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

# Logical devices must be configured before TensorFlow initializes its
# runtime, so this happens at import, before any test touches a tensor.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0],
        [tf.config.LogicalDeviceConfiguration()] * 2,
    )
except RuntimeError:
    pass

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "science: end-to-end scientific check (slow, run in CI)"
    )


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Fresh seeds, float32 policy and an empty session for every test."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
