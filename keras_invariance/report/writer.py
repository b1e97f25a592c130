"""The report's outputs: the text table, `results.json` and `report.html`.

`report.html` is one self-contained page: inline CSS, the table, each
method's configuration and weights, and the figures as `<img>` tags
referencing the PNGs next to it (relative paths), so it opens from the
output directory with no network access.
"""

import html
import json
import os
import tempfile

from keras_invariance.report.data import ReportError

RESULTS = "results.json"
PAGE = "report.html"
#: Every figure the report draws: file name → (title, what it shows).
FIGURES = {
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


def _cell(value, kind):
    if value is None:
        return "–"
    if kind == "acc":
        return f"{100 * value:.1f}"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{value:.3g}"


def format_table(results):
    """The results as a fixed-width text table (accuracies in %).

    Example:

    >>> results = {"config": {"noise_levels": [], "epsilons": []},
    ...            "methods": [{"method": "plain", "metrics": {
    ...                "clean_accuracy": 0.9, "jacobian_norm_logits": 2.0,
    ...                "activation_l2_logits": 1.0, "step_time_ratio": 1.0}}]}
    >>> print(format_table(results).splitlines()[-1])
    plain    90.0      2       1    1.00

    Returns:
        A string of lines: a group row, a header row, a rule, one row per
        method.
    """
    cols = columns(results)
    width = max([len("method")] + [len(m["method"]) for m in results["methods"]])
    cells = [[_cell(m["metrics"].get(key), kind) for _, _, key, kind in cols]
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
    for method, row in zip(results["methods"], cells):
        lines.append(method["method"].ljust(width) + "".join(
            f"  {cell:>{size}}" for cell, size in zip(row, sizes)))
    return "\n".join(lines)


def write_json(results, output_dir):
    """Writes `results.json`; returns its path."""
    path = os.path.join(output_dir, RESULTS)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    return path


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { padding: 0.25em 0.55em; text-align: right; border-bottom: 1px solid #ddd; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr:hover td { background: #fafaf0; } .best { font-weight: bold; color: #05621e; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 560px; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; max-width: 560px; }
table.config td, table.config th { text-align: left; vertical-align: top; }
code { background: #f3f3f3; padding: 0 0.2em; } .small { font-size: 0.85em; color: #555; }
"""


def write_html(results, output_dir, figures):
    """Writes `report.html` (table, configurations, figures); returns its path.

    Args:
        results: The results dict (as written to `results.json`).
        output_dir: The output directory.
        figures: File names of the PNGs written there (relative `<img>`
            sources).
    """
    e = html.escape
    cols = columns(results)
    best = {}
    for _, _, key, kind in cols:
        values = [m["metrics"].get(key) for m in results["methods"]]
        values = [v for v in values if v is not None]
        if kind == "acc" and values:
            best[key] = max(values)
    head_groups, previous = [], None
    for group, *_ in cols:
        if group == previous and head_groups:
            head_groups[-1][1] += 1
        else:
            head_groups.append([group, 1])
        previous = group
    rows = []
    for m in results["methods"]:
        cells = []
        for _, _, key, kind in cols:
            value = m["metrics"].get(key)
            cls = ' class="best"' if value is not None and best.get(key) == value else ""
            cells.append(f"<td{cls}>{_cell(value, kind)}</td>")
        rows.append(f"<tr><td>{e(m['method'])}</td>{''.join(cells)}</tr>")
    config_rows = []
    for m in results["methods"]:
        weights = ", ".join(f"{e(k)}={v:g}" for k, v in m["configuration"]["weights"].items())
        config_rows.append(
            f"<tr><td>{e(m['method'])}</td><td>{e(m['family'])}</td>"
            f"<td><code>{e(m['call'])}</code></td><td>{weights}</td>"
            f"<td>{m['metrics'].get('step_time_ms', 0):.1f}</td>"
            f"<td>{m['train_seconds']:.1f}</td></tr>")
    c = results["config"]
    data = results["data"]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>keras-invariance robustness report</title><style>{_STYLE}</style></head>
<body>
<h1>Robustness report</h1>
<p>{e(data['description'])}. {len(results['methods'])} methods, {c['epochs']} epochs each,
batch {c['batch_size']}, Adam {c['learning_rate']:g}, seed {c['seed']}.
Accuracies in % on {data['test_examples']} test examples; the best of each column is bold.
Noise σ and attack ε are in pixels (inputs in [0, 1]); FGSM and PGD ({c['pgd_steps']} steps)
are ℓ∞ and clipped to [0, 1]; spatial attacks search ±{c['translation']:g} px and
±{c['rotation']:g}° (random: one draw, worst-of-{c['worst_of']}: every one of
{c['worst_of']} draws must be right, grid: all {c['grid'][0]}×{c['grid'][1]}×{c['grid'][2]}
transforms). Diagnostics on {c['diagnostics_size']} test examples, Gaussian σ = {c['noise']:g}:
logit Jacobian norm ‖J‖<sub>F</sub> and logit L2 distance. <i>step ×</i> is each method's median
training-step time over plain training's, in this process. Wall time {results['wall_seconds']:.0f} s.</p>
<table>
<tr><th></th>{''.join(f'<th colspan="{n}">{e(g)}</th>' for g, n in head_groups)}</tr>
<tr><th>method</th>{''.join(f'<th>{e(label)}</th>' for _, label, _, _ in cols)}</tr>
{''.join(rows)}
</table>
<h2>Figures</h2>
{''.join(f'<figure><img src="{e(name)}" alt="{e(FIGURES[name])}"><figcaption>{e(FIGURES[name])}</figcaption></figure>' for name in figures)}
{'' if figures else '<p>No figures: matplotlib is not installed (<code>pip install "keras-invariance[plots]"</code>).</p>'}
<h2>Configurations and the weights actually used</h2>
<p class="small">Every method is a public preset with its default weights; the values below are read
from the trained model's variables. IRL rows train with Gaussian noise σ = {c['noise']:g}.</p>
<table class="config"><tr><th>method</th><th>paper family</th><th>call</th><th>weights</th><th>ms/step</th><th>train s</th></tr>
{''.join(config_rows)}
</table>
<p class="small">Everything on this page is in <code>results.json</code>
(one object per method: configuration, metrics, curves, diagnostics, training history).
keras-invariance {e(results['versions']['keras_invariance'])}, Keras {e(results['versions']['keras'])},
TensorFlow {e(results['versions']['tensorflow'])}.</p>
</body></html>
"""
    path = os.path.join(output_dir, PAGE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
