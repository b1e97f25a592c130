"""The report's PNG figures, drawn with `keras_invariance.evaluation.plots`."""

import importlib.util
import os

from keras_invariance.evaluation import plots
from keras_invariance.integrations.report.writer import FIGURES


def have_matplotlib():
    """Whether matplotlib can be imported (the `plots` extra).

    Example:

    >>> isinstance(have_matplotlib(), bool)
    True
    """
    return importlib.util.find_spec("matplotlib") is not None


def _pareto_panels(results):
    summary = results["summary"]
    names = summary["names"]
    panels = []
    for threat in summary["threats"]:
        points = {}
        for e in results["methods"]:
            score = threat["scores"][e["key"]]
            cost = e["metrics"].get("step_time_ratio")
            if cost is None:
                continue
            points[names[e["key"]]] = (cost, e.get("intervals", {}).get("step_time_ratio"),
                                       score["mean"], score["interval"])
        front = [names[k] for k in threat["pareto"] if names[k] in points]
        panels.append((threat["name"], points, front))
    return panels


def write_figures(results, output_dir):
    """Writes every figure of `FIGURES` as a PNG; returns their file names.

    Accuracies are drawn in % with the error bars of their 95 % intervals
    over seeds; σ and ε are pixel intensities (inputs in [0, 1]). Per-layer
    figures are normalized to plain training when it was run (as the IRL
    paper's Fig. 1 normalizes to its baseline). The cost-vs-robustness
    figure needs the results' `summary`; without one it is skipped.

    Example:

    >>> import tempfile
    >>> results = {"methods": [{"method": "plain", "curves": {
    ...     "noise": {"sigma": [0, 1], "accuracy": [1, 0.5]},
    ...     "fgsm_linf": {"epsilon": [0, 1], "accuracy": [1, 0.2]},
    ...     "pgd_linf": {"epsilon": [0, 1], "accuracy": [1, 0.1]}},
    ...     "diagnostics": {"layers": ["logits"], "activation_l2": [1.0],
    ...                     "activation_cosine": [0.1], "jacobian_norm": [2.0]}}]}
    >>> len(write_figures(results, tempfile.mkdtemp()))
    6

    Args:
        results: The results dict (`methods` with `curves` and
            `diagnostics`, and `summary`).
        output_dir: Where the PNGs go.

    Returns:
        The file names written, in `FIGURES` order.
    """
    methods = results["methods"]
    names = [m["method"] for m in methods]
    baseline = "plain" if "plain" in names else None
    drawn = {}
    if results.get("summary"):
        drawn["pareto.png"] = plots.plot_tradeoff(_pareto_panels(results))

    def curves(key, axis):
        return {m["method"]: (m["curves"][key][axis], m["curves"][key]["accuracy"],
                              m["curves"][key].get("interval"))
                for m in methods}

    unit = "pixel intensity, inputs in [0, 1]"
    drawn["accuracy_vs_noise.png"] = plots.plot_curves(
        curves("noise", "sigma"), xlabel=f"Gaussian noise σ ({unit})")
    drawn["accuracy_vs_fgsm.png"] = plots.plot_curves(
        curves("fgsm_linf", "epsilon"), xlabel=f"FGSM ε (ℓ∞, {unit})")
    drawn["accuracy_vs_pgd.png"] = plots.plot_curves(
        curves("pgd_linf", "epsilon"), xlabel=f"PGD ε (ℓ∞, {unit})")
    for file, key, label in (
        ("layer_l2_distance.png", "activation_l2", "mean L2 distance"),
        ("layer_cosine_distance.png", "activation_cosine", "mean cosine distance"),
        ("layer_jacobian_norm.png", "jacobian_norm", "mean ‖∂a/∂x‖_F"),
    ):
        values = {m["method"]: dict(zip(m["diagnostics"]["layers"], m["diagnostics"][key]))
                  for m in methods}
        drawn[file] = plots.plot_per_layer(values, ylabel=label, baseline=baseline)
    written = []
    for file in FIGURES:
        if file not in drawn:
            continue
        figure = drawn[file]
        figure.suptitle(FIGURES[file], fontsize="large")
        figure.savefig(os.path.join(output_dir, file), dpi=100)
        written.append(file)
    return written
