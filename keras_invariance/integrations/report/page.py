"""`report.html`: one self-contained page a person reads from the top.

Inline CSS, no script and nothing fetched: the summary (per threat, the
methods best within uncertainty and their cost) and the cost-vs-robustness
figure first, then the full table (mean ± interval, bold only where a
column's best is significantly better than the next), the curves and
diagnostics, and each method's configuration and weights. Figures are
`<img>` tags referencing the PNGs next to the page, so it opens from the
output directory with no network access.
"""

import html
import os

from keras_invariance.integrations.report import summary as summary_lib
from keras_invariance.integrations.report import writer

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1250px;
       color: #222; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; font-size: 0.82em; margin: 1em 0; }
th, td { padding: 0.25em 0.45em; text-align: right; border-bottom: 1px solid #ddd;
         white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr:hover td { background: #fafaf0; } .best { font-weight: bold; color: #05621e; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
table.config td, table.config th { text-align: left; vertical-align: top;
                                   white-space: normal; }
code { background: #f3f3f3; padding: 0 0.2em; } .small { font-size: 0.85em; color: #555; }
.banner { background: #b00020; color: white; font-weight: bold; padding: 0.8em 1em;
          font-size: 1.2em; margin: 1em 0; }
.threat { margin: 0.6em 0 1em 0; } .threat h3 { margin: 0.2em 0; font-size: 1.05em; }
.threat ul { margin: 0.2em 0; }
.ci { display: block; font-size: 0.78em; color: #666; font-weight: normal; }
"""


def _summary_html(results):
    e = html.escape
    summary = results["summary"]
    names = summary["names"]
    seeds = len(results["statistics"]["seeds"])
    parts = []
    for threat in summary["threats"]:
        def score(k):
            return e(summary_lib.score_text(threat, k))

        def cost(k):
            return e(summary_lib.cost_text(threat, k))

        label = "Best within uncertainty" if seeds > 1 else "Highest (one seed: no test)"
        best = "; ".join(f"<b>{e(names[k])}</b> {score(k)} at {cost(k)} plain's step time"
                         for k in threat["best"])
        items = [f"<li>{label}: {best}.</li>"]
        if len(threat["best"]) > 1:
            k = threat["cheapest_best"]
            items.append(f"<li>Cheapest of these: <b>{e(names[k])}</b> ({cost(k)}).</li>")
        if len(threat["best"]) > 3:
            items.append(f"<li>{e(summary_lib.too_close(len(threat['best']), seeds))}.</li>")
        front = " → ".join(f"{e(names[k])} ({cost(k)}, {score(k)})" for k in threat["pareto"])
        items.append(f"<li>Pareto front, cheapest first: {front}.</li>")
        if "like_plain" in threat:
            items.append(f"<li>Plain training: {score('plain')}.</li>")
            if threat["like_plain"]:
                items.append("<li>Indistinguishable from plain (no significant difference): "
                             + e(", ".join(names[k] for k in threat["like_plain"])) + ".</li>")
            if threat["below_plain"]:
                items.append("<li>Worse than plain: "
                             + e(", ".join(names[k] for k in threat["below_plain"])) + ".</li>")
        parts.append(f'<div class="threat"><h3>{e(threat["name"])}</h3>'
                     f'<span class="small">{e(threat["measure"])}</span>'
                     f'<ul>{"".join(items)}</ul></div>')
    drops = [(k, c["difference"]) for k, c in summary["clean"].items()
             if c["significant"] and c["difference"] < 0]
    if drops:
        parts.append("<p>Clean accuracy significantly below plain's: " + e(", ".join(
            f"{names[k]} ({100 * d:+.1f} points)" for k, d in drops)) + ".</p>")
    return "".join(parts)


def _main_table(results):
    e = html.escape
    cols = writer.columns(results)
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
            cls = ' class="best"' if writer.is_bold(results, m, key) else ""
            # The interval goes under the mean, so 18 columns fit the page.
            text = writer.cell(m, key, kind).replace("±", '<span class="ci">±', 1)
            text += "</span>" if "ci" in text else ""
            cells.append(f"<td{cls}>{text}</td>")
        rows.append(f"<tr><td>{e(m['method'])}</td>{''.join(cells)}</tr>")
    return (
        "<table>"
        f"<tr><th></th>{''.join(f'<th colspan={n}>{e(g)}</th>' for g, n in head_groups)}</tr>"
        f"<tr><th>method</th>{''.join(f'<th>{e(label)}</th>' for _, label, _, _ in cols)}</tr>"
        f"{''.join(rows)}</table>")


def _config_table(results):
    e = html.escape
    rows = []
    for m in results["methods"]:
        weights = ", ".join(f"{e(k)}={v:g}" for k, v in m["configuration"]["weights"].items())
        tuning = m.get("tuning")
        if tuning is not None:
            weights += (f"<br><span class='small'>tuned: {e(tuning['note'])}</span>")
        rows.append(
            f"<tr><td>{e(m['method'])}</td><td>{e(m['family'])}</td>"
            f"<td><code>{e(m['call'])}</code></td><td>{weights}</td>"
            f"<td>{writer.cell(m, 'step_time_ms', 'num')}</td>"
            f"<td>{m['train_seconds']:.1f}</td></tr>")
    return ("<table class='config'><tr><th>method</th><th>paper family</th><th>call</th>"
            "<th>weights</th><th>ms/step</th><th>train s (all seeds)</th></tr>"
            f"{''.join(rows)}</table>")


def write_html(results, output_dir, figures):
    """Writes `report.html`; returns its path.

    Example:

    >>> import tempfile
    >>> results = {"smoke_run": True, "config": {
    ...     "noise_levels": [0.1], "epsilons": [0.05], "epochs": 1, "batch_size": 8,
    ...     "learning_rate": 1e-3, "seed": 0, "pgd_steps": 2, "translation": 1,
    ...     "rotation": 15, "worst_of": 2, "grid": [1, 1, 1], "diagnostics_size": 4,
    ...     "noise": 0.3, "tune": None},
    ...     "statistics": {"seeds": [0]},
    ...     "data": {"description": "toy", "test_examples": 4},
    ...     "methods": [{"key": "plain", "method": "plain", "family": "IRL",
    ...                  "call": "IRL()", "train_seconds": 1.0,
    ...                  "configuration": {"weights": {"alpha": 1.0}},
    ...                  "metrics": {"clean_accuracy": 0.5, "step_time_ratio": 1.0,
    ...                              "noise_accuracy_sigma_0.1": 0.4,
    ...                              "pgd_accuracy_eps_0.05": 0.2}}],
    ...     "versions": {"keras_invariance": "0", "keras": "3", "tensorflow": "2"},
    ...     "wall_seconds": 1.0}
    >>> results["summary"] = summary_lib.summarize(results)
    >>> path = write_html(results, tempfile.mkdtemp(), [])
    >>> "SMOKE RUN" in open(path, encoding="utf-8").read()
    True

    Args:
        results: The results dict (as written to `results.json`).
        output_dir: The output directory.
        figures: File names of the PNGs written there (relative `<img>`
            sources).
    """
    e = html.escape
    c = results["config"]
    data = results["data"]
    seeds = results["statistics"]["seeds"]
    banner = (f'<div class="banner">{e(writer.SMOKE_BANNER)}</div>'
              if results.get("smoke_run") else "")
    if len(seeds) > 1:
        spread = (f"Each number is the mean over {len(seeds)} training seeds "
                  f"({', '.join(map(str, seeds))}: initial weights, batch order, training "
                  "noise) ± the half-width of its 95 % Student-t confidence interval; the "
                  "test inputs, noise draws and attack starts are the same for every run. "
                  "Seed s gives every method the same initial weights and batch order, so "
                  "runs pair up by seed: a column's best is <b class='best'>bold</b> only "
                  "when the paired t-test over seeds (two-sided, p &lt; 0.05) says it beats "
                  "the runner-up, and the summary's comparisons use the same test.")
    else:
        spread = ("One training seed: no interval and no test, so no number is bold and "
                  "differences may not be real (run with <code>--seeds 3</code> or more).")
    mode = ("Every method at its preset's default weights." if c.get("tune") is None else
            f"Fair mode: each method's weights were chosen on a validation split with "
            f"{c['tune']} Keras Tuner trials (see the configurations below).")
    pareto = [f for f in figures if f == "pareto.png"]
    others = [f for f in figures if f != "pareto.png"]

    def figure(name):
        return (f'<figure><img src="{e(name)}" alt="{e(writer.FIGURES[name])}">'
                f'<figcaption>{e(writer.FIGURES[name])}</figcaption></figure>')

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>keras-invariance robustness report</title><style>{_STYLE}</style></head>
<body>
<h1>Robustness report</h1>
{banner}
<p>{e(data['description'])}. {len(results['methods'])} methods, {c['epochs']} epochs each,
batch {c['batch_size']}, Adam {c['learning_rate']:g}. {mode}</p>
<h2>Summary: which method for which threat</h2>
{_summary_html(results)}
{''.join(figure(f) for f in pareto)}
<h2>All results</h2>
<p>Accuracies in % on {data['test_examples']} test examples. {spread}
Noise σ and attack ε are pixel intensities (inputs in [0, 1]); FGSM and PGD
({c['pgd_steps']} steps) are ℓ∞ and clipped to [0, 1]; spatial attacks search
±{c['translation']:g} px and ±{c['rotation']:g}° (random: one draw, worst-of-{c['worst_of']}:
every one of {c['worst_of']} draws must be right, grid: all
{c['grid'][0]}×{c['grid'][1]}×{c['grid'][2]} transforms, on the first
{min(c.get('grid_size') or data['test_examples'],
     data['test_examples'])} test examples). Diagnostics on
{c['diagnostics_size']} test examples, Gaussian σ = {c['noise']:g}: logit Jacobian norm
‖J‖<sub>F</sub> and logit L2 distance. <i>step ×</i> is each method's median
training-step time over plain training's of the same seed, in this process (the median over
seeds: timings depend on the machine's load, so they get no interval).
Wall time {results['wall_seconds']:.0f} s.</p>
{_main_table(results)}
<h2>Figures</h2>
{''.join(figure(f) for f in others)}
{'' if figures else ('<p>No figures: matplotlib is not installed '
                     '(<code>pip install "keras-invariance[plots]"</code>).</p>')}
<h2>Configurations and the weights actually used</h2>
<p class="small">Every method is a public preset; the weights below are read from the trained
model's variables (first seed). IRL rows train with Gaussian noise σ = {c['noise']:g}.</p>
{_config_table(results)}
<p class="small">Everything on this page is in <code>results.json</code>, with every seed's
values (<code>per_seed</code>, and each run's metrics, curves and training history under
<code>runs</code>). keras-invariance {e(results['versions']['keras_invariance'])},
Keras {e(results['versions']['keras'])}, TensorFlow {e(results['versions']['tensorflow'])}.</p>
</body></html>
"""
    path = os.path.join(output_dir, writer.PAGE)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
