"""The report's outputs: the text table, `results.json`, the output directory.

`report.html` is written by `keras_invariance.integrations.report.page`.
"""

import json
import os
import tempfile

from keras_invariance.integrations.report.data import ReportError

RESULTS = "results.json"
PAGE = "report.html"
#: What a `--quick` run says in its table, page and JSON.
SMOKE_BANNER = ("SMOKE RUN (--quick): numbers are not meaningful; a few epochs on a "
                "few hundred examples check that every method runs")
#: Every figure the report draws: file name → (title, what it shows).
FIGURES = {
    "pareto.png": "Cost vs robustness per threat: the Pareto front (mean ± 95 % CI)",
    "accuracy_vs_noise.png": "Accuracy under Gaussian noise (Invariant BP, Fig. 3)",
    "accuracy_vs_fgsm.png": "Accuracy under FGSM, ℓ∞ (Invariant BP, Fig. 2)",
    "accuracy_vs_pgd.png": "Accuracy under PGD, ℓ∞",
    "layer_l2_distance.png": "Per-layer L2 distance, clean vs noisy (IRL, Fig. 1a)",
    "layer_cosine_distance.png": "Per-layer cosine distance, clean vs noisy (IRL, Fig. 1b)",
    "layer_jacobian_norm.png": "Per-layer Jacobian norm on clean data (IRL, Fig. 1c)",
}
OUTPUTS = (RESULTS, PAGE) + tuple(FIGURES)


def prepare_output_dir(path, overwrite):
    """Creates `path` if needed and checks the report can write there.

    Example:

    >>> import tempfile
    >>> prepare_output_dir(tempfile.mkdtemp(), overwrite=False)

    Args:
        path: The output directory.
        overwrite: Whether report files already there may be replaced.

    Raises:
        ReportError: If it is not a writable directory, or already holds
            report files (`OUTPUTS`) and `overwrite` is off.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise ReportError(f"--output-dir {path} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write_check_"):
            pass
    except OSError as error:
        raise ReportError(
            f"--output-dir {path} cannot be written ({error.strerror or error}); "
            "choose another directory"
        ) from None
    existing = [name for name in OUTPUTS if os.path.exists(os.path.join(path, name))]
    if existing and not overwrite:
        raise ReportError(
            f"--output-dir {path} already holds {', '.join(existing)}; pass "
            "--overwrite to replace them, or choose another directory"
        )


def columns(results):
    """The table's columns: `(group, label, metric key, format)` tuples.

    Example:

    >>> columns({"config": {"noise_levels": [0.1], "epsilons": [0.05]},
    ...          "methods": [{"metrics": {}}]})[1]
    ('noise σ', '0.1', 'noise_accuracy_sigma_0.1', 'acc')
    """
    config = results["config"]
    cols = [("", "clean", "clean_accuracy", "acc")]
    cols += [("noise σ", f"{s:g}", f"noise_accuracy_sigma_{s:g}", "acc")
             for s in config["noise_levels"]]
    cols += [("FGSM ε", f"{e:g}", f"fgsm_accuracy_eps_{e:g}", "acc") for e in config["epsilons"]]
    cols += [("PGD ε", f"{e:g}", f"pgd_accuracy_eps_{e:g}", "acc") for e in config["epsilons"]]
    metrics = results["methods"][0]["metrics"] if results["methods"] else {}
    for key in metrics:
        if key.startswith("spatial_"):
            label = key[len("spatial_"):-len("_accuracy")].replace("_", "-")
            cols.append(("spatial", label, key, "acc"))
    cols += [("diagnostics", "‖J‖_F", "jacobian_norm_logits", "num"),
             ("diagnostics", "Δlogit", "activation_l2_logits", "num"),
             ("cost", "step ×", "step_time_ratio", "ratio")]
    return cols


def format_value(value, kind, interval=None):
    """One number of the table, with its interval: `96.2±0.8` (accuracies in %).

    Example:

    >>> format_value(0.9621, "acc", 0.0083), format_value(1.234, "ratio")
    ('96.2±0.8', '1.23')

    Args:
        value: The mean (`None` for a missing value).
        kind: `"acc"` (a fraction shown in %), `"ratio"` or `"num"`.
        interval: The interval's half-width, or `None`.

    Returns:
        A string (`"–"` for a missing value).
    """
    if value is None:
        return "–"
    if kind == "acc":
        text = f"{100 * value:.1f}"
        return text if interval is None else f"{text}±{100 * interval:.1f}"
    if kind == "ratio":
        text = f"{value:.2f}"
        return text if interval is None else f"{text}±{interval:.2f}"
    text = f"{value:.3g}"
    return text if interval is None else f"{text}±{interval:.2g}"


def cell(entry, key, kind):
    """A method's cell for a column key (mean ± interval)."""
    intervals = entry.get("intervals", {})
    return format_value(entry["metrics"].get(key), kind, intervals.get(key))


def is_bold(results, entry, key):
    """Whether `entry` is a column's best and significantly above the next."""
    best = results.get("best", {}).get(key)
    return bool(best and best["significant"] and best["best"] == entry.get("key"))


def format_table(results):
    """The results as a fixed-width text table (accuracies in %).

    A cell is mean±half-width of the 95 % interval over seeds; `*` marks a
    column's best when the paired t-test over seeds says it beats the
    runner-up.

    Example:

    >>> results = {"config": {"noise_levels": [], "epsilons": []},
    ...            "methods": [{"method": "plain", "metrics": {
    ...                "clean_accuracy": 0.9, "jacobian_norm_logits": 2.0,
    ...                "activation_l2_logits": 1.0, "step_time_ratio": 1.0}}]}
    >>> print(format_table(results).splitlines()[-1])
    plain    90.0      2       1    1.00

    Returns:
        A string of lines: the smoke-run banner if any, a group row, a
        header row, a rule, one row per method.
    """
    cols = columns(results)
    width = max([len("method")] + [len(m["method"]) for m in results["methods"]])
    cells = [[cell(m, key, kind) + ("*" if is_bold(results, m, key) else "")
              for _, _, key, kind in cols]
             for m in results["methods"]]
    sizes = [max([len(label)] + [len(row[i]) for row in cells])
             for i, (_, label, _, _) in enumerate(cols)]
    groups, i = "", 0
    while i < len(cols):
        # A group's label spans its run of columns.
        j = i
        while j + 1 < len(cols) and cols[j + 1][0] == cols[i][0]:
            j += 1
        span = sum(sizes[i:j + 1]) + 2 * (j - i)
        groups += "  " + cols[i][0].ljust(span)[:span]
        i = j + 1
    header = "method".ljust(width) + "".join(
        f"  {label:>{size}}" for (_, label, _, _), size in zip(cols, sizes))
    lines = [" " * width + groups.rstrip(), header, "-" * len(header)]
    if results.get("smoke_run"):
        lines.insert(0, f"*** {SMOKE_BANNER} ***")
    for method, row in zip(results["methods"], cells):
        lines.append(method["method"].ljust(width) + "".join(
            f"  {c:>{size}}" for c, size in zip(row, sizes)))
    return "\n".join(lines)


def table_legend(results):
    """What the table's numbers mean, in two lines.

    Example:

    >>> table_legend({"config": {"noise": 0.3}, "statistics": {"seeds": [0]}})[:14]
    'accuracies in '
    """
    seeds = results.get("statistics", {}).get("seeds", [None])
    noise = results["config"]["noise"]
    if len(seeds) > 1:
        spread = (f"mean±half-width of the 95 % Student-t interval over {len(seeds)} "
                  "training seeds (step ×: median over seeds); * = best of its column and "
                  "better than the next (paired t-test over seeds, p < 0.05)")
    else:
        spread = "one seed: no intervals, no test (pass --seeds 3 or more)"
    return ("accuracies in %; ‖J‖_F and Δlogit: logit Jacobian norm and L2 distance "
            f"under σ={noise:g}; step ×: step time / plain's\n{spread}")


def write_json(results, output_dir):
    """Writes `results.json`; returns its path."""
    path = os.path.join(output_dir, RESULTS)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    return path
