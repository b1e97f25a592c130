"""The measurement protocol every benchmark shares.

* Same process, round robin: every model is built and warmed up (tracing and
  XLA compilation happen there, outside the timed steps), then the models
  take turns, a few steps each, for several rounds, so that load from other
  processes on the machine falls on every method alike.
* A step's time is the wall time between Keras' `on_train_batch_begin` and
  `on_train_batch_end`, after the step's logs are read back (`StepTimer`).
  The first step of every `fit()` call is dropped (it starts the input
  pipeline), so a round runs `steps + 1` steps.
* A method's time is the median over all its timed steps; its ratio is that
  median divided by the median of plain `fit()` of the same Keras model in
  the same run. The spread is the range of the per-round ratios (each
  round's median over the same round's plain median).
* The process's CPU time per step (all its threads, `time.process_time`) is
  recorded beside the wall time, with its own ratio to plain: on a machine
  shared with other jobs the wall time of a step grows with their load, its
  CPU time much less, so the CPU ratio is the steadier estimate of the work
  a method adds (it differs from the wall ratio where a method keeps fewer
  cores busy than plain).
* Memory: the TensorFlow allocator's peak (`tf.config.experimental.
  get_memory_info`, which reports CPU allocations too) during a few training
  steps after warm-up, in a fresh subprocess per method, so that nothing is
  left over from another method.

This module imports only `keras` and the standard library, so that the peer
benchmark can use it under another TensorFlow.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import keras


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step, grouped by epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = [[]]
        self.cpu = []

    @property
    def times(self):
        """All step times, in seconds."""
        return [t for epoch in self.epochs for t in epoch]

    @property
    def cpu_times(self):
        """The process's CPU seconds of every step (all threads)."""
        return list(self.cpu)

    def on_epoch_begin(self, epoch, logs=None):
        if self.epochs[-1]:
            self.epochs.append([])

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()
        self._start_cpu = time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        # `logs` values may be tensors until read: force the step to finish.
        if logs:
            float(next(iter(logs.values())))
        self.epochs[-1].append(time.perf_counter() - self._start)
        self.cpu.append(time.process_time() - self._start_cpu)


def machine():
    """The machine and software a measurement came from."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "load_average": list(os.getloadavg()),
    }


def fit_steps(model, x, y, batch_size, steps, timer=None):
    """Runs `steps` training steps of `fit()` on the first rows of (x, y)."""
    rows = batch_size * steps
    callbacks = [timer] if timer is not None else []
    model.fit(
        x[:rows], y[:rows], batch_size=batch_size, epochs=1, verbose=0,
        shuffle=False, callbacks=callbacks,
    )


class Times(dict):
    """{name: [[wall s per step] per round]}, with `.cpu` in the same shape."""

    def __init__(self, names):
        super().__init__({name: [] for name in names})
        self.cpu = {name: [] for name in names}


def round_robin(models, x, y, batch_size, steps, rounds, log=None):
    """Times every model in turns; returns {name: [[step s, ...] per round]}.

    `models` maps names to compiled, warmed-up models; each round runs
    `steps` steps of each (one `fit()` call), in the given order. The result
    (a `Times`) also holds the CPU seconds of the same steps in `.cpu`.
    """
    times = Times(models)
    for r in range(rounds):
        for name, model in models.items():
            timer = StepTimer()
            fit_steps(model, x, y, batch_size, steps + 1, timer)
            times[name].append(timer.times[1:])
            times.cpu[name].append(timer.cpu_times[1:])
            if log:
                log(f"  round {r + 1}/{rounds} {name}: "
                    f"{1e3 * statistics.median(timer.times):.2f} ms")
    return times


def summarize(times, reference="plain"):
    """Median step (ms), ratio to `reference` and the per-round ratio range.

    With CPU times (`times.cpu`, from `round_robin`) each entry also has
    `cpu_ms` and `cpu_ratio`, the same statistics of the CPU time.
    """
    ref_all = [t for round_ in times[reference] for t in round_]
    ref_median = statistics.median(ref_all)
    ref_rounds = [statistics.median(r) for r in times[reference]]
    cpu = getattr(times, "cpu", None)
    if cpu:
        cpu_ref = statistics.median([t for r in cpu[reference] for t in r])
    out = {}
    for name, rounds in times.items():
        flat = [t for round_ in rounds for t in round_]
        median = statistics.median(flat)
        per_round = [
            statistics.median(r) / ref for r, ref in zip(rounds, ref_rounds)
        ]
        out[name] = {
            "ms": 1e3 * median,
            "ratio": median / ref_median,
            "ratio_min": min(per_round),
            "ratio_max": max(per_round),
            "steps": len(flat),
        }
        if cpu:
            cpu_median = statistics.median([t for r in cpu[name] for t in r])
            out[name]["cpu_ms"] = 1e3 * cpu_median
            out[name]["cpu_ratio"] = cpu_median / max(cpu_ref, 1e-9)
    return out


def warm_up(model, x, y, batch_size, steps=2):
    """Traces (and compiles) the train step outside the timed rounds."""
    fit_steps(model, x, y, batch_size, steps)


def peak_memory_in_subprocess(script, args, env=None, timeout=900):
    """Runs `script args` in a fresh interpreter; returns its JSON line.

    The child prints one line `MEMORY {json}` with its measurements.
    """
    command = [sys.executable, script] + list(args)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )
    for line in result.stdout.splitlines():
        if line.startswith("MEMORY "):
            return json.loads(line[len("MEMORY "):])
    raise RuntimeError(
        f"{' '.join(command)} printed no MEMORY line:\n{result.stderr[-3000:]}"
    )


def allocator_peak_during(run):
    """(peak bytes, bytes in use before) of the TF allocator during `run()`.

    Uses `tf.config.experimental.get_memory_info("CPU:0")` (or the GPU's),
    reset just before `run()`; falls back to the process peak RSS (and its
    RSS before) where the allocator keeps no statistics.
    """
    import resource

    import tensorflow as tf

    device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
    try:
        tf.config.experimental.reset_memory_stats(device)
        before = tf.config.experimental.get_memory_info(device)["current"]
        run()
        info = tf.config.experimental.get_memory_info(device)
        if info["peak"] > 0:
            return {"source": f"tf allocator {device}", "peak": info["peak"],
                    "resident": before}
    except (ValueError, RuntimeError):
        pass
    import psutil

    before = psutil.Process().memory_info().rss
    run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"source": "peak RSS", "peak": peak, "resident": before}


def write_json(path, payload):
    if path:
        with open(path, "w") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.write("\n")


def markdown_table(header, rows):
    """A GitHub markdown table from a header and rows of cells."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def fmt_ratio(entry):
    """`1.52 [1.40–1.61]`: the ratio and its per-round range."""
    return f"{entry['ratio']:.2f} [{entry['ratio_min']:.2f}–{entry['ratio_max']:.2f}]"


def fmt_cpu(entry):
    """The CPU-time ratio to plain, or "" when it was not measured."""
    return f"{entry['cpu_ratio']:.2f}" if "cpu_ratio" in entry else ""


def goal_mark(ratio, goal):
    if goal is None:
        return ""
    return f"≤ {goal:g} " + ("ok" if ratio <= goal else "**miss**")
