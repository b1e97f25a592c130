"""Runs the report: trains each method on copies of one model, evaluates all.

Every method starts from the same initial weights (the same seed, or a fresh
load of the user's `.keras` file), sees the same batches, and is evaluated
by one `Evaluator` on the same test inputs. Training-step times are measured
in this process, and reported as ratios to plain training's (a short plain
reference run is added when plain is not among the methods).
"""

import datetime
import importlib.metadata
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_invariance.integrations.report import aggregate
from keras_invariance.integrations.report import data as data_lib
from keras_invariance.integrations.report import evaluate as evaluate_lib
from keras_invariance.integrations.report import figures as figures_lib
from keras_invariance.integrations.report import methods as methods_lib
from keras_invariance.integrations.report import page
from keras_invariance.integrations.report import stats
from keras_invariance.integrations.report import summary as summary_lib
from keras_invariance.integrations.report import writer
from keras_invariance.integrations.report.data import ReportError
from keras_invariance.integrations.report.progress import EpochProgress
from keras_invariance.integrations.report.progress import StepTimer
from keras_invariance.integrations.report.training import BaseModels
from keras_invariance.integrations.report.training import build_method
from keras_invariance.integrations.report.training import compile_model
from keras_invariance.integrations.terms import term_values


def _versions():
    try:
        package = importlib.metadata.version("keras-invariance")
    except importlib.metadata.PackageNotFoundError:
        package = "unknown"
    return {"keras_invariance": package, "keras": keras.__version__,
            "tensorflow": tf.__version__}


def format_weights(values):
    """One line of a method's weights, e.g. `alpha=0.5  beta=0.5  …`.

    Example:

    >>> format_weights({"alpha": 1.0, "vat.weight": 0.3})
    'alpha=1  vat.weight=0.3'
    """
    return "  ".join(f"{name}={value:.4g}" for name, value in values.items())


def _configuration(model, method, built, used):
    parts = {"class": type(model).__name__, "call": method.call,
             "perturbation": None, "penalties": [],
             "weights_built": built, "weights": used,
             "batching": model.batching, "num_samples": model.num_samples}
    if model.perturbation is not None:
        parts["perturbation"] = keras.saving.serialize_keras_object(model.perturbation)
    parts["penalties"] = [keras.saving.serialize_keras_object(p) for p in model.penalties]
    return _jsonable(parts)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _train(method, bases, x, y, config, seed, title, stream, weights=None,
           show_weights=True):
    model = compile_model(build_method(method, bases, config, seed, weights), config)
    built = term_values(model)
    if stream is not None:
        stream.write(f"{title}  {method.call}\n")
        if show_weights:
            stream.write(f"    weights: {format_weights(built)}\n")
        stream.flush()
    timer = StepTimer()
    start = time.perf_counter()
    history = model.fit(
        x, y, batch_size=config.batch_size, epochs=config.epochs, verbose=0,
        shuffle=True, callbacks=[timer, EpochProgress(title, config.epochs, stream)],
    )
    seconds = time.perf_counter() - start
    used = term_values(model)
    if stream is not None and used != built:
        stream.write(f"    weights used (after training): {format_weights(used)}\n")
    return model, built, used, timer.median_step(), seconds, history.history


def _warm_up(bases, x, y, config):
    """One short plain fit before anything is timed.

    The first training of a process pays one-off costs (thread pools,
    allocator growth) that would otherwise inflate the first method's
    step time, and with it every ratio to plain.
    """
    model = compile_model(methods_lib.METHODS["plain"].build(bases.make(), config), config)
    rows = min(len(x), 8 * config.batch_size)
    model.fit(x[:rows], y[:rows], batch_size=config.batch_size, epochs=1, verbose=0)


def run_report(config, stream=sys.stdout):
    """Trains and evaluates every method of `config`; writes the outputs.

    Each method is trained once per seed (`config.seeds`, from
    `config.seed` on) and every run is evaluated on the same test inputs,
    noise draws and attack starts, so the spread over seeds is the
    training's. With `config.tune`, each method's weights are first chosen
    on a validation split (`keras_invariance.integrations.report.tune`).

    Example (a smoke run, about a minute on 2 CPU cores):

        from keras_invariance.integrations.report import ReportConfig, run_report
        results = run_report(ReportConfig(output_dir="/tmp/report", quick=True))

    Args:
        config: A `ReportConfig` (resolved here).
        stream: Where progress and the table go (`None` for silence).

    Returns:
        The results dict written to `results.json` (plus `"paths"`).

    Raises:
        ReportError: For bad input (unknown methods, an unusable output
            directory or model file, data that does not fit the model, bad
            σ / ε lists), before any training.
    """
    started = time.perf_counter()
    config = config.resolved()
    writer.prepare_output_dir(config.output_dir, config.overwrite)
    user_shape = None
    if config.model is not None:
        user_shape = tuple(data_lib.load_user_model(config.model).inputs[0].shape[1:])
    (x, y), (x_test, y_test) = data_lib.load_data(
        config.dataset, config.data_dir, config.train_size, config.test_size,
        config.seed, input_shape=user_shape)
    num_classes = int(max(y.max(), y_test.max())) + 1
    try:
        methods = methods_lib.resolve_methods(
            config.methods, images=x.ndim == 4, explicit=config.methods_explicit)
    except ValueError as error:
        raise ReportError(f"--methods: {error}") from None
    bases = BaseModels(config, x, num_classes)
    data_lib.check_model_fits(bases.make(), x, num_classes, bases.source)
    evaluator = evaluate_lib.Evaluator(bases.make(), x_test, y_test, config)
    description = _describe(config, x, x_test, bases.source)
    seeds = [config.seed + i for i in range(config.seeds)]
    if stream is not None:
        if config.quick:
            stream.write(writer.SMOKE_BANNER + "\n")
        stream.write(f"{description}; {len(methods)} methods × {config.epochs} epochs × "
                     f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}\n")

    tuned = None
    if config.tune is not None:
        from keras_invariance.integrations.report import tune as tune_lib

        tuned = tune_lib.tune_weights(methods, bases, x, y, config, stream)
    _warm_up(bases, x, y, config)
    runs = {m.key: [] for m in methods}
    total = len(methods) * len(seeds)
    for s, seed in enumerate(seeds):
        for i, method in enumerate(methods, start=1):
            count = s * len(methods) + i
            title = f"[{count}/{total}] {method.name}"
            if len(seeds) > 1:
                title += f" (seed {seed})"
            weights = tuned[method.key]["weights"] if tuned else None
            runs[method.key].append(_run(
                method, bases, x, y, config, seed, title, evaluator, stream, weights,
                show_weights=s == 0))
    _step_ratios(runs, bases, x, y, config, stream)
    entries = []
    for method in methods:
        first = runs[method.key][0]
        entry = {"key": method.key, "method": method.name, "family": method.family,
                 "call": method.call, "configuration": first["configuration"],
                 "seeds": seeds,
                 "train_seconds": sum(r["train_seconds"] for r in runs[method.key]),
                 **aggregate.aggregate_runs(runs[method.key]),
                 "runs": runs[method.key]}
        if tuned:
            entry["tuning"] = tuned[method.key]
        entries.append(entry)

    results = {
        "title": "keras-invariance robustness report",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "smoke_run": bool(config.quick),
        "notice": writer.SMOKE_BANNER if config.quick else None,
        "config": _jsonable(vars(config)),
        "data": {"description": description, "dataset": config.dataset,
                 "input_shape": list(x.shape[1:]), "num_classes": num_classes,
                 "train_examples": int(len(x)), "test_examples": int(len(x_test)),
                 "model": bases.source},
        "statistics": {
            "seeds": seeds,
            "interval": f"{100 * stats.CONFIDENCE:g} % Student-t confidence interval of "
                        "the mean over training seeds (± half-width)",
            "test": f"paired t-test over seeds (Welch's when runs do not pair up), "
                    f"two-sided, α = {stats.ALPHA:g}",
        },
        "reference_step_ms": runs[methods[0].key][0]["reference_step_ms"],
        "methods": entries,
        "versions": _versions(),
    }
    results["best"] = {
        key: aggregate.column_best(entries, key)
        for _, _, key, kind in writer.columns(results) if kind == "acc"}
    results["summary"] = summary_lib.summarize(results)
    return _write(results, config, started, stream)


def _run(method, bases, x, y, config, seed, title, evaluator, stream, weights,
         show_weights):
    """One seed of one method: train, evaluate, and the run's record."""
    model, built, used, step, seconds, history = _train(
        method, bases, x, y, config, seed, title, stream, weights, show_weights)
    evaluation_start = time.perf_counter()
    result = evaluator.evaluate(model.base_model)
    evaluation_seconds = time.perf_counter() - evaluation_start
    result["evaluation_seconds"]["total"] = evaluation_seconds
    result["metrics"]["step_time_ms"] = 1000.0 * step
    run = {"seed": seed, "configuration": _configuration(model, method, built, used),
           "train_seconds": seconds,
           "history": {k: [float(v) for v in vs] for k, vs in history.items()},
           **result}
    bad = evaluate_lib.non_finite(run)
    if bad and stream is not None:
        stream.write(f"    warning: non-finite values in {', '.join(bad)}\n")
    if stream is not None:
        m = result["metrics"]
        stream.write(
            f"    clean {100 * m['clean_accuracy']:.1f}%  "
            f"train {seconds:.1f} s ({1000 * step:.1f} ms/step)  "
            f"evaluation {evaluation_seconds:.1f} s\n")
        stream.flush()
    return run


def _step_ratios(runs, bases, x, y, config, stream):
    """Each run's step time over plain's of the same seed (or a reference)."""
    plain = runs.get("plain")
    reference = None
    if plain is None:
        reference = _reference_step(bases, x, y, config, stream)
    for key, method_runs in runs.items():
        for i, run in enumerate(method_runs):
            base = (plain[i]["metrics"]["step_time_ms"] / 1000.0 if plain is not None
                    else reference)
            run["reference_step_ms"] = 1000.0 * base
            step = run["metrics"]["step_time_ms"] / 1000.0
            run["metrics"]["step_time_ratio"] = step / base if base else float("nan")


def _write(results, config, started, stream):
    figures = []
    if figures_lib.have_matplotlib():
        figures = figures_lib.write_figures(results, config.output_dir)
    elif stream is not None:
        stream.write("figures skipped: pip install 'keras-invariance[plots]' for the PNGs\n")
    results["figures"] = figures
    results["wall_seconds"] = time.perf_counter() - started
    paths = [writer.write_json(results, config.output_dir),
             page.write_html(results, config.output_dir, figures)]
    if stream is not None:
        stream.write("\n" + summary_lib.format_summary(results) + "\n")
        stream.write("\n" + writer.format_table(results) + "\n")
        stream.write(writer.table_legend(results) + "\n")
        stream.write(f"wall time {results['wall_seconds']:.1f} s\n")
        stream.write(f"wrote {paths[0]}, {paths[1]} and {len(figures)} figures\n")
        stream.flush()
    results["paths"] = paths
    return results


def _reference_step(bases, x, y, config, stream):
    """Plain training's step time when plain is not a row of the report."""
    if stream is not None:
        stream.write("timing plain training for the step-time ratios\n")
    timer = StepTimer()
    model = compile_model(
        methods_lib.METHODS["plain"].build(bases.make(), config), config)
    model.fit(x, y, batch_size=config.batch_size, epochs=min(2, config.epochs),
              verbose=0, callbacks=[timer])
    return timer.median_step()


def _describe(config, x, x_test, source):
    if config.dataset == "digits":
        data = "scikit-learn digits"
        if x.ndim == 4 and x.shape[1] >= data_lib.DIGITS_SCALE * 8:
            data += (f" (8×8, upscaled {data_lib.DIGITS_SCALE}× and zero-padded to "
                     f"{x.shape[1]}×{x.shape[2]})")
        elif x.ndim == 4:
            data += f" (8×8, zero-padded to {x.shape[1]}×{x.shape[2]})"
    else:
        data = f"TFDS {config.dataset}"
    return (f"{data}, {len(x)} training / {len(x_test)} test examples, "
            f"{source} {tuple(x.shape[1:])}")
