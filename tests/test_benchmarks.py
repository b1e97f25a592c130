"""Smoke test: every benchmark suite runs in `--quick` mode and writes its files.

Tiny models, a few steps, a few methods per suite; no timed assertions (the
numbers are only checked to be well formed).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def run():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run as run_module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return run_module


SUITES = {
    "mlp": ["--methods", "plain", "irl_k1"],
    "cnn": ["--methods", "plain", "loss_ibp"],
    "spatial": ["--methods", "plain", "tangent_bp", "--jit", "off"],
    "floors": ["--model", "mlp", "--methods", "plain", "fgsm_at"],
    "scaling": ["--model", "mlp", "--methods", "irl"],
    "memory": ["--model", "mlp", "--methods", "plain"],
    "overhead": ["--model", "mlp"],
}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_suite_runs_quick_and_writes_json_and_markdown(run, suite, tmp_path):
    out_json, out_md = tmp_path / "out.json", tmp_path / "out.md"
    run.main(["--suite", suite, "--quick", "--quiet", "--json", str(out_json),
              "--markdown", str(out_md)] + SUITES[suite])
    payload = json.loads(out_json.read_text())
    assert payload["suite"] == suite and payload["machine"]["cores"] >= 1
    text = out_md.read_text()
    assert "|---|" in text
    if suite in ("mlp", "cnn", "spatial"):
        (summary,) = payload["results"].values()
        assert summary["plain"]["ratio"] == pytest.approx(1.0)
        assert all(entry["ms"] > 0 and entry["steps"] >= 1 for entry in summary.values())
        assert len(summary) == 2
    if suite == "memory":
        (summary,) = payload["results"].values()
        assert summary["plain"]["peak"] > 0


def test_peer_script_documents_its_environment():
    """The NSL peer needs its own venv: the script says exactly how to make it."""
    text = (BENCHMARKS / "peer_nsl.py").read_text()
    assert "tensorflow==2.15.1" in text and "neural-structured-learning==1.4.0" in text


def test_device_check_runs_quick_on_cpu(tmp_path):
    """The accelerator check, on the CPU in --quick mode (a subset: the full
    quick run trains all 15 presets in 3 modes). Its own process: it sets up
    logical devices and mixed precision globally."""
    out = tmp_path / "device_check.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "device_check.py"), "--quick", "--json", str(out),
         "--presets", "irl", "prediction_ibp", "--methods", "plain", "loss_ibp"],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["ok"] and not report["gpu"] and report["quick"]
    assert set(report["presets"]) == {"float32", "mixed_float16", "xla"}
    for mode in report["presets"].values():
        assert set(mode) == {"irl", "prediction_ibp"}
        assert all(r["ok"] and r["weights_moved"] > 0 for r in mode.values())
    assert report["presets"]["mixed_float16"]["prediction_ibp"]["logs"]["prediction_ibp"] >= 0
    strategy = report["strategy"]
    assert strategy["ok"] and len(strategy["devices"]) == 2
    assert strategy["irl_gaussian_noise"]["max_abs_difference"] <= 1e-5
    for setting in ("no_xla", "xla"):
        summary = report["timing"]["results"][setting]
        assert summary["plain"]["ratio"] == 1.0 and summary["plain"]["ms"] > 0


def test_forward_over_reverse_floor_has_the_double_backprop_gradient():
    # The two Loss IBP floors must be the same objective and weight gradient,
    # or the floors table compares different mathematics.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _floors
    finally:
        sys.path.remove(str(BENCHMARKS))
    import keras
    import numpy as np
    import tensorflow as tf

    def floor(kind):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6, 6, 2))
        h = keras.layers.Conv2D(3, 3)(inputs)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
        outputs = keras.layers.Dense(4)(keras.layers.Flatten()(h))
        return _floors.FloorModel(keras.Model(inputs, outputs), kind)

    x = tf.constant(np.random.default_rng(0).normal(size=(8, 6, 6, 2)), tf.float32)
    y = tf.constant(np.arange(8) % 4)
    double = floor("loss_ibp")
    with tf.GradientTape() as tape:
        total = double._loss_ibp(x, y)
    expected = tape.gradient(total, double.trainable_variables)
    forward = floor("loss_ibp_forward_over_reverse")
    total_fwd, grads = forward._grads_loss_ibp_forward_over_reverse(
        x, y, forward.trainable_variables)
    np.testing.assert_allclose(float(total_fwd), float(total), rtol=1e-6)
    for want, got in zip(expected, grads):
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-4 * float(tf.reduce_max(
            tf.abs(want))))
