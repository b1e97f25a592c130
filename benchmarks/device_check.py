"""An accelerator check ready to run: one command, under 8 minutes on one GPU.

    python benchmarks/device_check.py --json device_check.json
    python benchmarks/device_check.py --quick --json out.json   # CPU smoke run

Needs only the package's `test` extra. On the first visible GPU (the CPU when
there is none) it checks, and writes to one JSON file:

1. **Every preset trains under `fit()`** in float32, in `mixed_float16` (the
   optimizer wrapped in Keras' `LossScaleOptimizer`, float16 layers) and
   under XLA (`jit_compile=True`): a few steps of each preset of every family
   (IRL; noise regularization, Jacobian, VAT; Loss / Prediction IBP, FGSM /
   fast / PGD adversarial training, Tangent BP, fast Tangent BP; spatial
   D.A. / D.A.+KL / A.T., regularized ℓ∞ A.T.) on a small BatchNorm CNN. A
   check passes when the loss and every logged term are finite, every
   penalty is logged, and the weights moved.
2. **MirroredStrategy over all visible GPUs matches one device** to 1e-5
   (weights after 4 SGD steps) with random draws on: IRL with Gaussian noise
   and spatial D.A.+KL (random transforms), on a CNN without BatchNorm (whose
   per-replica batch statistics differ from one device's by design). With a
   single GPU this compares a one-replica strategy with no strategy (the
   replica code path only); `--logical-gpus 2` splits the GPU in two. On the
   CPU two logical CPUs are used, as in the tests.
3. **Step times of the cnn benchmark suite** (`run.py --suite cnn`: every
   preset on ResNet-8, 32×32×3) at a GPU-sized batch (512; 16 with
   `--quick`), without and with XLA: absolute ms per step and the ratio to
   plain `fit()` in the same process, same protocol as `run.py`. If the
   whole run would pass `--budget-minutes` (7.5), the remaining methods are
   skipped and listed under `"skipped"`.

The exit status is 0 when every check passed. `--quick` runs tiny models
for two steps; `--presets` and `--methods` pick subsets (the smoke test in
tests/test_benchmarks.py runs a quick subset on the CPU).
"""

import argparse
import json
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import tensorflow as tf  # noqa: E402

MODES = ("float32", "mixed_float16", "xla")
STRATEGY_ATOL = 1e-5


def _configure_devices(logical_gpus, gpu_memory_mb):
    """Logical devices, before TensorFlow initializes its runtime.

    Returns the device the checks run on and the strategy's device list.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if logical_gpus and len(gpus) == 1 and logical_gpus > 1:
            tf.config.set_logical_device_configuration(
                gpus[0],
                [tf.config.LogicalDeviceConfiguration(memory_limit=gpu_memory_mb)]
                * logical_gpus,
            )
        else:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
        names = [d.name for d in tf.config.list_logical_devices("GPU")]
        return names[0], names
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:
        pass
    names = [d.name for d in tf.config.list_logical_devices("CPU")]
    return names[0], names[:2]


import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_invariance as ki  # noqa: E402

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ------------------------------------------------------------ the presets


def presets(epsilon=0.1):
    """name → build(base) for one representative call of every preset."""
    return {
        "irl": lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.1)),
        "noise_regularized": lambda b: ki.NoiseRegularized(b, stddev=0.1),
        "jacobian": lambda b: ki.JacobianRegularized(b, num_projections=1),
        "vat": lambda b: ki.VAT(b, epsilon=1.0),
        "loss_ibp": lambda b: ki.LossIBP(b),
        "prediction_ibp": lambda b: ki.PredictionIBP(b),
        "fgsm_at": lambda b: ki.AdversarialTraining(b, attack="fgsm", epsilon=epsilon),
        "fast_at": lambda b: ki.AdversarialTraining(b, attack="fast", epsilon=epsilon),
        "pgd_at": lambda b: ki.AdversarialTraining(b, attack="pgd", epsilon=epsilon, steps=2),
        "tangent_bp": lambda b: ki.TangentBP(b),
        "fast_tangent_bp": lambda b: ki.FastTangentBP(b),
        "spatial_da": lambda b: ki.SpatialInvariance(b, preset="da"),
        "spatial_da_kl": lambda b: ki.SpatialInvariance(b, preset="da_kl"),
        "spatial_at": lambda b: ki.SpatialInvariance(b, preset="at", k=3),
        "regularized_at": lambda b: ki.RegularizedAdversarialTraining(
            b, epsilon=epsilon, steps=2),
    }


def small_cnn(size, batch_norm=True, seed=0):
    """A small image classifier (BatchNorm optional), logits out."""
    keras.utils.set_random_seed(seed)
    width = 4 if size <= 8 else 16
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(width, 3, padding="same", name="conv1")(inputs)
    if batch_norm:
        h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="relu1")(h)
    h = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", name="conv2")(h)
    h = keras.layers.ReLU(name="relu2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(10, name="logits")(h)
    return keras.Model(inputs, outputs)


def images(rows, size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, size, size, 3), dtype=np.float32)
    return x, rng.integers(0, 10, rows).astype("int32")


def _finite(value):
    return bool(np.all(np.isfinite(np.asarray(value, dtype="float64"))))


def check_preset(name, build, mode, size, batch, steps):
    """Trains one preset for `steps` steps in `mode`; returns its record."""
    policy = "mixed_float16" if mode == "mixed_float16" else "float32"
    keras.mixed_precision.set_global_policy(policy)
    start = time.perf_counter()
    try:
        model = build(small_cnn(size))
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), SCCE,
                      jit_compile=mode == "xla")
        x, y = images(batch * steps, size)
        before = [w.copy() for w in model.get_weights()]
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        logs = {k: float(v[-1]) for k, v in history.history.items()}
        problems = [k for k, v in logs.items() if not _finite(v)]
        problems += [f"{p.name} not logged" for p in model.penalties if p.name not in logs]
        moved = max(float(np.max(np.abs(a - b)))
                    for a, b in zip(model.get_weights(), before))
        if moved == 0.0:
            problems.append("weights did not move")
        if mode == "mixed_float16":
            if not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
                problems.append("optimizer not wrapped in LossScaleOptimizer")
            if model.base_model.compute_dtype != "float16":
                problems.append(f"layers compute in {model.base_model.compute_dtype}")
        record = {"ok": not problems, "problems": problems, "logs": logs,
                  "weights_moved": moved}
    except Exception as error:  # a record per preset: one failure stops nothing
        record = {"ok": False, "problems": [f"{type(error).__name__}: {error}"[:2000]],
                  "traceback": traceback.format_exc()[-4000:]}
    finally:
        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()
    record["seconds"] = time.perf_counter() - start
    return record


# ------------------------------------------------------------- strategy


def check_strategy(devices, size, batch, steps=4):
    """Weights after `steps` SGD steps: MirroredStrategy(devices) vs one device."""
    builds = {
        "irl_gaussian_noise": lambda b: ki.IRL(b, perturbation=ki.perturbations.GaussianNoise(0.3)),
        "spatial_da_kl": lambda b: ki.SpatialInvariance(b, preset="da_kl"),
    }
    x, y = images(batch * steps, size, seed=1)
    strategy = tf.distribute.MirroredStrategy(devices)
    out = {"devices": list(devices), "atol": STRATEGY_ATOL}
    for name, build in builds.items():
        start = time.perf_counter()
        try:
            keras.utils.set_random_seed(0)
            single = build(small_cnn(size, batch_norm=False))
            single.compile(keras.optimizers.SGD(0.1), SCCE)
            initial = single.get_weights()
            single.fit(x, y, batch_size=batch, shuffle=False, verbose=0)
            with strategy.scope():
                keras.utils.set_random_seed(0)
                mirrored = build(small_cnn(size, batch_norm=False))
                mirrored.compile(keras.optimizers.SGD(0.1), SCCE)
            mirrored.set_weights(initial)
            mirrored.fit(x, y, batch_size=batch, shuffle=False, verbose=0)
            moved = max(float(np.max(np.abs(a - b)))
                        for a, b in zip(single.get_weights(), initial))
            diff = max(float(np.max(np.abs(a - b)))
                       for a, b in zip(single.get_weights(), mirrored.get_weights()))
            out[name] = {"ok": diff <= STRATEGY_ATOL and moved > 1e-3,
                         "max_abs_difference": diff, "weights_moved": moved}
        except Exception as error:
            out[name] = {"ok": False, "problems": [f"{type(error).__name__}: {error}"[:2000]],
                         "traceback": traceback.format_exc()[-4000:]}
        out[name]["seconds"] = time.perf_counter() - start
        keras.backend.clear_session()
    out["ok"] = all(v["ok"] for k, v in out.items() if isinstance(v, dict))
    return out


# --------------------------------------------------------------- timing


def time_cnn_suite(args, deadline):
    """The cnn suite's step times at `args.batch` (run.py's protocol)."""
    import _methods
    import _protocol as protocol
    import run

    make_base, x, y, batch, _ = run._workload("cnn", args.quick, batch=args.batch)
    names = [n for n in (args.methods or _methods.CNN) if n in _methods.CNN]
    if "plain" not in names:
        names.insert(0, "plain")
    results, skipped = {}, []
    for jit in (False, True):
        models = {}
        for name in names:
            if jit and name in run.NO_XLA:
                continue
            if time.time() > deadline and name != "plain":
                skipped.append(("xla/" if jit else "no_xla/") + name)
                continue
            model = run._compile(_methods.CNN[name]["build"](make_base()), jit)
            protocol.warm_up(model, x, y, batch)
            models[name] = model
        times = protocol.round_robin(models, x, y, batch, args.steps, args.rounds)
        results["xla" if jit else "no_xla"] = protocol.summarize(times)
        keras.backend.clear_session()
    return {"batch_size": batch, "model": "ResNet-8, 32×32×3 synthetic"
            if not args.quick else "ResNet-8 (quick: 8×8×3, width 4)",
            "rounds": args.rounds, "steps_per_round": args.steps,
            "results": results, "skipped": skipped}


# ------------------------------------------------------------------ main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models, two steps")
    parser.add_argument("--json", default="device_check.json")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch of the timed cnn suite (512; quick: 16)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--budget-minutes", type=float, default=7.5)
    parser.add_argument("--logical-gpus", type=int, default=0,
                        help="split a single GPU into this many logical GPUs")
    parser.add_argument("--gpu-memory-mb", type=int, default=4096,
                        help="memory of each logical GPU with --logical-gpus")
    parser.add_argument("--presets", nargs="*", default=None, help="a subset of the presets")
    parser.add_argument("--methods", nargs="*", default=None,
                        help="a subset of the timed cnn-suite methods")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args(argv)
    start = time.time()
    deadline = start + 60 * args.budget_minutes
    device, strategy_devices = _configure_devices(args.logical_gpus, args.gpu_memory_mb)
    on_gpu = "GPU" in device
    args.batch = args.batch or (16 if args.quick else 512)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.steps = args.steps or (1 if args.quick else 3)
    size, batch, steps = (8, 8, 2) if args.quick else (16, 32, 3)

    import _protocol as protocol

    report = {"machine": protocol.machine(), "device": device, "gpu": on_gpu,
              "quick": args.quick, "tensorflow": tf.__version__, "keras": keras.__version__}
    if not on_gpu:
        print("No GPU visible: running on the CPU.", flush=True)
    chosen = presets()
    if args.presets:
        chosen = {k: v for k, v in chosen.items() if k in args.presets}
    checks = {}
    with tf.device(device):
        for mode in MODES:
            checks[mode] = {}
            for name, build in chosen.items():
                record = check_preset(name, build, mode, size, batch, steps)
                checks[mode][name] = record
                status = "ok" if record["ok"] else "FAILED " + "; ".join(record["problems"])
                print(f"{mode:14s} {name:18s} {record['seconds']:6.1f} s  {status}", flush=True)
    report["presets"] = checks
    report["strategy"] = check_strategy(strategy_devices, size, batch)
    print(f"MirroredStrategy over {strategy_devices}: "
          f"{'ok' if report['strategy']['ok'] else 'FAILED'}", flush=True)
    if not args.skip_timing:
        with tf.device(device):
            report["timing"] = time_cnn_suite(args, deadline)
        for setting, summary in report["timing"]["results"].items():
            for name, entry in summary.items():
                print(f"{setting:7s} {name:20s} {entry['ms']:9.1f} ms  "
                      f"{entry['ratio']:5.2f}× plain", flush=True)
    report["ok"] = report["strategy"]["ok"] and all(
        r["ok"] for mode in checks.values() for r in mode.values())
    report["seconds"] = time.time() - start
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"{'all checks passed' if report['ok'] else 'SOME CHECKS FAILED'} "
          f"in {report['seconds']:.0f} s; wrote {args.json}", flush=True)
    return report


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
