"""Per-seed runs of a method → mean ± interval; which differences are real.

Every number of the report is the mean over the training seeds with the
half-width of its 95 % Student-t interval (`stats.mean_interval`). A column's
best method is bold only when the paired t-test over seeds says it beats the
runner-up (two-sided, α = 0.05; `stats.compare`), see `column_best`.
"""

from keras_invariance.integrations.report import stats

#: Timings: a step time depends on what else the machine runs, so one slow
#: seed is not evidence about the method; they are summarized by the median
#: over seeds, with no interval.
MEDIAN_METRICS = ("step_time_ms", "step_time_ratio")


def _median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def aggregate_runs(runs):
    """Combines one method's per-seed runs into means, intervals and lists.

    Example:

    >>> runs = [{"metrics": {"clean_accuracy": a},
    ...          "curves": {"noise": {"sigma": [0, 0.1], "accuracy": [a, a - 0.1]}},
    ...          "diagnostics": {"layers": ["logits"], "activation_l2": [1.0],
    ...                          "activation_cosine": [0.1], "jacobian_norm": [a]}}
    ...         for a in (0.90, 0.92, 0.94)]
    >>> out = aggregate_runs(runs)
    >>> round(out["metrics"]["clean_accuracy"], 4), out["per_seed"]["clean_accuracy"]
    (0.92, [0.9, 0.92, 0.94])
    >>> round(out["intervals"]["clean_accuracy"], 4)
    0.0497

    Args:
        runs: Dicts with `metrics`, `curves` and `diagnostics`, one per
            seed, as `Evaluator.evaluate` returns them.

    Returns:
        `{"metrics": {name: mean (timings: median)}, "intervals": {name:
        half-width or None},
        "per_seed": {name: [values]}, "curves": {name: {x: [...],
        "accuracy": [means], "interval": [half-widths]}}, "diagnostics":
        {...means per layer}}`.
    """
    metrics, intervals, per_seed = {}, {}, {}
    for name in runs[0]["metrics"]:
        values = [float(r["metrics"][name]) for r in runs]
        if name in MEDIAN_METRICS:
            metrics[name], intervals[name] = _median(values), None
        else:
            metrics[name], intervals[name] = stats.mean_interval(values)
        per_seed[name] = values
    curves = {}
    for name, curve in runs[0]["curves"].items():
        axis = next(k for k in curve if k != "accuracy")
        columns = list(zip(*[r["curves"][name]["accuracy"] for r in runs]))
        summary = [stats.mean_interval(column) for column in columns]
        curves[name] = {axis: list(curve[axis]),
                        "accuracy": [m for m, _ in summary],
                        "interval": [h for _, h in summary]}
    first = runs[0]["diagnostics"]
    diagnostics = dict(first)
    for key in ("activation_l2", "activation_cosine", "jacobian_norm"):
        columns = zip(*[r["diagnostics"][key] for r in runs])
        diagnostics[key] = [sum(c) / len(runs) for c in columns]
    return {"metrics": metrics, "intervals": intervals, "per_seed": per_seed,
            "curves": curves, "diagnostics": diagnostics}


def column_best(entries, key, higher_is_better=True):
    """The best method of one column and whether it beats the runner-up.

    Example:

    >>> entries = [{"key": "a", "per_seed": {"acc": [0.80, 0.82, 0.81]}},
    ...            {"key": "b", "per_seed": {"acc": [0.70, 0.72, 0.71]}},
    ...            {"key": "c", "per_seed": {"acc": [0.60, 0.62, 0.61]}}]
    >>> best = column_best(entries, "acc")
    >>> best["best"], best["runner_up"], best["significant"]
    ('a', 'b', True)

    Args:
        entries: Method entries with `key` and `per_seed` values.
        key: The metric.
        higher_is_better: The direction of "best".

    Returns:
        `{"best", "runner_up", "test", "p", "significant"}` (the two-sided
        p-value of `stats.compare` between the two; not significant with
        one seed or one method), or `None` if no method has the metric.
    """
    have = [e for e in entries if e["per_seed"].get(key) is not None]
    if not have:
        return None
    sign = 1.0 if higher_is_better else -1.0

    def mean(entry):
        values = entry["per_seed"][key]
        return sign * sum(values) / len(values)

    ranked = sorted(have, key=mean, reverse=True)
    if len(ranked) == 1:
        return {"best": ranked[0]["key"], "runner_up": None, "test": None, "p": None,
                "significant": False}
    first, second = ranked[0], ranked[1]
    test = stats.compare(first["per_seed"][key], second["per_seed"][key])
    p = test["p"]
    significant = p == p and p < stats.ALPHA  # p is nan with one seed
    return {"best": first["key"], "runner_up": second["key"], "test": test["test"],
            "p": None if p != p else p, "significant": significant}
