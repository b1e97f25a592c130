"""The summary a person reads first: per threat, which methods, at what cost.

Each threat gets one score per method and seed:

* Gaussian noise: the mean accuracy over the noise curve's σ;
* ℓ∞ attacks: the mean accuracy under PGD (the stronger of the two
  attacks) over the ε of the curve;
* spatial shifts: the accuracy on the worst of the grid's transforms (the
  spatial paper's measure), for image data.

For each threat the summary names the methods that are best within the
uncertainty (the top method and every method whose score is not
significantly below it: the paired t-test over seeds, two-sided, α = 0.05,
`stats.compare`), the cheapest of them in training-step time, the cost-vs-robustness
Pareto front (no other method is both cheaper and more robust, on the
means), and, plainly, the methods that are indistinguishable from plain
training. Clean accuracy significantly below plain's is named too.
"""

from keras_invariance.integrations.report import stats
from keras_invariance.integrations.report import writer


def threats(results):
    """The threats of a report: `(key, name, what the score is, metric keys)`.

    Example:

    >>> results = {"config": {"noise_levels": [0.1, 0.3], "epsilons": [0.05],
    ...                       "grid": [5, 5, 31], "translation": 1, "rotation": 15},
    ...            "methods": [{"metrics": {"spatial_grid_775_accuracy": 0.2}}]}
    >>> [(key, columns) for key, _, _, columns in threats(results)]
    [('noise', ['noise_accuracy_sigma_0.1', 'noise_accuracy_sigma_0.3']), \
('linf', ['pgd_accuracy_eps_0.05']), ('spatial', ['spatial_grid_775_accuracy'])]
    """
    c = results["config"]
    sigmas = ", ".join(f"{s:g}" for s in c["noise_levels"])
    epsilons = ", ".join(f"{e:g}" for e in c["epsilons"])
    found = [
        ("noise", "Gaussian noise",
         f"mean accuracy over σ = {sigmas} (pixel intensities, inputs in [0, 1])",
         [f"noise_accuracy_sigma_{s:g}" for s in c["noise_levels"]]),
        ("linf", "ℓ∞ attacks",
         f"mean accuracy under PGD-{c.get('pgd_steps', '')} over ε = {epsilons} "
         "(ℓ∞, pixel intensities)".replace("PGD- ", "PGD "),
         [f"pgd_accuracy_eps_{e:g}" for e in c["epsilons"]]),
    ]
    metrics = results["methods"][0]["metrics"] if results["methods"] else {}
    grid = [k for k in metrics if k.startswith("spatial_grid_")]
    if grid:
        count = grid[0][len("spatial_grid_"):-len("_accuracy")]
        found.append((
            "spatial", "spatial shifts",
            f"accuracy on the worst of {count} translations and rotations "
            f"(±{c['translation']:g} px, ±{c['rotation']:g}°)"
            + (f", on {c['grid_size']} test examples" if c.get("grid_size") else ""),
            grid[:1]))
    return found


def _per_seed_scores(entry, columns):
    runs = entry.get("runs") or [{"metrics": entry["metrics"]}]
    return [sum(run["metrics"][k] for k in columns) / len(columns) for run in runs]


def _per_seed(entry, key):
    runs = entry.get("runs") or [{"metrics": entry["metrics"]}]
    return [run["metrics"][key] for run in runs]


def pareto_front(points):
    """Keys of the points no other point beats on both cost and score.

    Example:

    >>> pareto_front({"a": (1.0, 0.5), "b": (2.0, 0.7), "c": (2.5, 0.6),
    ...               "d": (0.9, 0.4)})
    ['d', 'a', 'b']

    Args:
        points: `{key: (cost, score)}`; lower cost and higher score are
            better.

    Returns:
        The front's keys, by increasing cost.
    """
    front = []
    for key, (cost, score) in points.items():
        dominated = any(
            c <= cost and s >= score and (c < cost or s > score)
            for other, (c, s) in points.items() if other != key)
        if not dominated:
            front.append(key)
    return sorted(front, key=lambda k: points[k])


def _different(a, b):
    return stats.significantly_different(a, b)


def _example_results():
    """Two methods, three seeds, one noise level: for the examples."""
    def runs(noise, pgd):
        return [{"metrics": {"clean_accuracy": 0.95, "step_time_ratio": cost,
                             "noise_accuracy_sigma_0.3": n, "pgd_accuracy_eps_0.1": p}}
                for n, p, cost in zip(noise, pgd, (1.0, 1.0, 1.0))]

    methods = [
        {"key": "plain", "method": "plain", "runs": runs([0.50, 0.52, 0.54], [0.1, 0.1, 0.1])},
        {"key": "irl", "method": "IRL", "runs": runs([0.80, 0.81, 0.82], [0.1, 0.11, 0.09])},
    ]
    for m in methods:
        m["metrics"] = {"step_time_ratio": 1.0 if m["key"] == "plain" else 1.8}
    return {"config": {"noise_levels": [0.3], "epsilons": [0.1], "pgd_steps": 10},
            "statistics": {"seeds": [0, 1, 2]}, "methods": methods}


def summarize(results):
    """The per-threat recommendation of a report's results.

    Example:

    >>> summary = summarize(_example_results())
    >>> [(t["key"], t["best"], t.get("like_plain")) for t in summary["threats"]]
    [('noise', ['irl'], []), ('linf', ['plain', 'irl'], ['irl'])]

    Args:
        results: The report's results (methods with per-seed `runs`).

    Returns:
        `{"threats": [...], "clean": {...}}`: for each threat its name,
        what the score is, each method's score (mean, interval, per seed)
        and cost, the methods best within uncertainty, the cheapest of them,
        the Pareto front, and the methods indistinguishable from, above and
        below plain; for clean accuracy, each method's difference to plain
        and whether it is significant.
    """
    entries = results["methods"]
    names = {e["key"]: e["method"] for e in entries}
    plain = next((e for e in entries if e["key"] == "plain"), None)
    costs = {e["key"]: e["metrics"].get("step_time_ratio") for e in entries}
    out = {"threats": [], "clean": {}}
    for key, name, measure, columns in threats(results):
        scores = {}
        for e in entries:
            values = _per_seed_scores(e, columns)
            mean, interval = stats.mean_interval(values)
            scores[e["key"]] = {"mean": mean, "interval": interval, "per_seed": values}
        ranked = sorted(scores, key=lambda k: scores[k]["mean"], reverse=True)
        top = ranked[0]
        best = [k for k in ranked if k == top or not _different(
            scores[k]["per_seed"], scores[top]["per_seed"])]
        # With one seed there is no test: only the top is "best".
        if len(scores[top]["per_seed"]) < 2:
            best = [top]
        cheapest = min(best, key=lambda k: (costs[k] if costs[k] is not None else 1e9))
        threat = {"key": key, "name": name, "measure": measure, "columns": columns,
                  "scores": scores, "costs": costs, "top": top, "best": best,
                  "cheapest_best": cheapest,
                  "pareto": pareto_front({k: (costs[k], scores[k]["mean"])
                                          for k in scores if costs[k] is not None})}
        if plain is not None and len(scores["plain"]["per_seed"]) > 1:
            reference = scores["plain"]
            like, above, below = [], [], []
            for k in ranked:
                if k == "plain":
                    continue
                if not _different(scores[k]["per_seed"], reference["per_seed"]):
                    like.append(k)
                elif scores[k]["mean"] > reference["mean"]:
                    above.append(k)
                else:
                    below.append(k)
            threat.update(like_plain=like, above_plain=above, below_plain=below)
        out["threats"].append(threat)
    if plain is not None:
        reference = _per_seed(plain, "clean_accuracy")
        for e in entries:
            values = _per_seed(e, "clean_accuracy")
            out["clean"][e["key"]] = {
                "difference": sum(values) / len(values) - sum(reference) / len(reference),
                "significant": e["key"] != "plain" and _different(values, reference)}
    out["names"] = names
    return out


def too_close(count, seeds):
    """Says that `count` methods could not be separated with `seeds` seeds.

    Example:

    >>> too_close(5, 3)
    '5 methods cannot be told apart from the top with 3 seeds; --seeds 5 or more narrows this'
    """
    return (f"{count} methods cannot be told apart from the top with {seeds} seeds; "
            f"--seeds {max(5, seeds + 2)} or more narrows this")


def score_text(threat, key):
    """A method's threat score as text, e.g. `81.0±2.5 %`."""
    s = threat["scores"][key]
    return writer.format_value(s["mean"], "acc", s["interval"]) + " %"


def cost_text(threat, key):
    """A method's cost as text, e.g. `1.80×` (training-step time ÷ plain's)."""
    cost = threat["costs"][key]
    return "?" if cost is None else f"{cost:.2f}×"


def format_summary(results):
    """The summary as text: a paragraph per threat, then clean accuracy.

    Example:

    >>> results = _example_results()
    >>> results["summary"] = summarize(results)
    >>> print(format_summary(results).splitlines()[2])
      best within uncertainty: IRL 81.0±2.5 % at 1.80×

    Args:
        results: The report's results with `summary` (see `summarize`).

    Returns:
        A string.
    """
    summary = results["summary"]
    names = summary["names"]
    seeds = len(results.get("statistics", {}).get("seeds", [0]))
    lines = []
    if results.get("smoke_run"):
        lines.append(f"*** {writer.SMOKE_BANNER} ***")
    if seeds > 1:
        lines.append(
            f"SUMMARY ({seeds} seeds; a±b = mean ± half-width of the 95 % interval; "
            "'within uncertainty' = not significantly below the top by a paired t-test "
            "over seeds at p < 0.05; cost = median training-step time ÷ plain's)")
    else:
        lines.append("SUMMARY (one seed: no uncertainty is known, so differences may "
                     "not be real; run with --seeds 3 or more)")
    for threat in summary["threats"]:
        lines.append(f"{threat['name']}: {threat['measure']}")
        best = "; ".join(f"{names[k]} {score_text(threat, k)} at {cost_text(threat, k)}"
                         for k in threat["best"])
        label = "best within uncertainty" if seeds > 1 else "highest"
        lines.append(f"  {label}: {best}")
        if len(threat["best"]) > 1:
            k = threat["cheapest_best"]
            lines.append(f"  cheapest of these: {names[k]} ({cost_text(threat, k)})")
        if len(threat["best"]) > 3:
            lines.append(f"  ({too_close(len(threat['best']), seeds)})")
        lines.append("  Pareto front (cost → robustness): " + " → ".join(
            f"{names[k]} ({cost_text(threat, k)}, {score_text(threat, k)})"
            for k in threat["pareto"]))
        if "like_plain" in threat:
            lines.append(f"  plain: {score_text(threat, 'plain')}")
            if threat["like_plain"]:
                lines.append("  indistinguishable from plain: "
                             + ", ".join(names[k] for k in threat["like_plain"]))
            if threat["below_plain"]:
                lines.append("  worse than plain: "
                             + ", ".join(names[k] for k in threat["below_plain"]))
    drops = [(k, c["difference"]) for k, c in summary["clean"].items()
             if c["significant"] and c["difference"] < 0]
    if drops:
        lines.append("clean accuracy significantly below plain's: " + ", ".join(
            f"{names[k]} ({100 * d:+.1f} points)" for k, d in drops))
    elif summary["clean"] and seeds > 1:
        lines.append("clean accuracy: no method is significantly below plain's")
    return "\n".join(lines)
