"""Shared test setup: two logical CPUs for MirroredStrategy, quiet logs."""

import gc
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


# Files whose module fixtures train for minutes, longest first (measured with
# `--durations`). xdist hands out whole files (`--dist loadfile`) in
# collection order (pytest.ini turns off its reordering by test count, which
# put these few-test files last and left one worker idle for minutes), so
# starting them first lets the many short files fill in around them.
LONGEST_FIRST = (
    "test_defaults_science.py",
    "test_defaults_science_more.py",
    "test_defaults_converged_more.py",
    "test_defaults_converged.py",
    "test_tutorials.py",
    "test_benchmarks.py",
    "test_report.py",
    "test_derivative_science.py",
    "test_spatial_science.py",
    "test_multi_worker.py",
    "test_irl_science.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Fresh seeds, float32 policy and an empty session for every test."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
    # No garbage collection per test: a full `gc.collect()` over a worker
    # holding many traced graphs took 2.6 s per test on average, 4521 of
    # the suite's 7205 worker-seconds (`--durations=0`). Python's own
    # collector still runs, and `_collect_per_file` frees each file's cycles.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _collect_per_file():
    """One full garbage collection after each test file (its fixtures)."""
    yield
    gc.collect()
