"""Figures of robustness curves and per-layer diagnostics (matplotlib).

Each helper returns a `matplotlib.figure.Figure` built without `pyplot`, so
it needs no display, leaves no global state behind, and can be saved with
`figure.savefig(path)` or shown in a notebook. matplotlib is an optional
dependency (the `plots` extra): it is imported inside the helpers only, and a
missing install raises an `ImportError` that says how to get it.
"""

import math

#: Twenty colours that stay apart from each other (and from the baseline's
#: black), and as many markers: method i gets colour i and marker i, so up
#: to twenty methods never share a look, in colour or in grey print.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#e6ab02", "#1b9e77", "#fb9a99",
    "#b15928", "#6a3d9a", "#a6d854", "#e7298a", "#80b1d3", "#666600",
)
MARKERS = ("s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8", "H",
           "x", "1", "2", "3", "4", "+")
#: The baseline's look: black circles (a marker no other method gets).
_BASELINE = {"color": "black", "marker": "o", "linestyle": "-", "markersize": 6,
             "linewidth": 2.4, "zorder": 3}
_LINES = ("-", "--", ":", "-.")


def method_styles(names, highlight="plain"):
    """A distinct matplotlib style per method: colour, marker (and line).

    The `highlight` method (the baseline) is black and drawn on top. Past
    twenty methods the line style changes too, so no two look alike.

    Example:

    >>> styles = method_styles(["plain", "IRL", "VAT"])
    >>> styles["plain"]["color"], styles["IRL"]["marker"] != styles["VAT"]["marker"]
    ('black', True)

    Args:
        names: Method names, in drawing order.
        highlight: The method drawn in black (or `None`).

    Returns:
        `{name: {"color", "marker", "linestyle", "markersize", "linewidth"}}`.
    """
    styles, i = {}, 0
    for name in names:
        if name == highlight:
            styles[name] = dict(_BASELINE)
            continue
        styles[name] = {"color": PALETTE[i % len(PALETTE)],
                        "marker": MARKERS[i % len(MARKERS)],
                        "linestyle": _LINES[(i // len(PALETTE)) % len(_LINES)],
                        "markersize": 6, "linewidth": 1.6}
        i += 1
    return styles


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "keras_invariance.evaluation.plots needs matplotlib: "
            "`pip install 'keras-invariance[plots]'` (or `pip install "
            "matplotlib`)."
        ) from None
    return Figure


def _check_series(series, who):
    if not isinstance(series, dict) or not series:
        raise ValueError(
            f"{who}: expected a non-empty dict from method name to values; "
            f"received {series!r}."
        )


def plot_curves(curves, xlabel, ylabel="accuracy (%)", title=None,
                figsize=(9.0, 5.0), highlight="plain", percent=True):
    """Accuracy-vs-strength curves, one line per method.

    Example:

    >>> figure = plot_curves({"plain": ([0, 0.1, 0.2], [0.98, 0.9, 0.6])},
    ...                      xlabel="Gaussian noise σ")
    >>> figure.axes[0].get_xlabel(), [float(y) for y in figure.axes[0].lines[0].get_ydata()]
    ('Gaussian noise σ', [98.0, 90.0, 60.0])

    Args:
        curves: `{method: (xs, ys)}` or `{method: (xs, ys, half_widths)}`,
            e.g. σ levels and accuracies from
            `keras_invariance.evaluation.noise_curve`; half-widths (of a
            confidence interval, `None` entries allowed) become error bars.
        xlabel: The x-axis label (e.g. `"FGSM ε (ℓ∞)"`).
        ylabel: The y-axis label.
        title: Optional title.
        figsize: Figure size in inches.
        highlight: A method drawn in black on top (default `"plain"`, if
            present).
        percent: The ys are fractions, drawn in % on a 0–100 axis (the
            default); `False` draws them as given.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: Without matplotlib.
        ValueError: For an empty dict or curves whose xs and ys differ in
            length.
    """
    _check_series(curves, "plot_curves")
    figure = _figure_class()(figsize=figsize, layout="constrained")
    ax = figure.add_subplot()
    styles = method_styles(list(curves), highlight)
    scale = 100.0 if percent else 1.0
    for name, curve in curves.items():
        xs, ys = curve[0], curve[1]
        if len(xs) != len(ys):
            raise ValueError(
                f"plot_curves: the curve of {name!r} has {len(xs)} x values "
                f"but {len(ys)} y values."
            )
        ys = [scale * y for y in ys]
        ax.plot(list(xs), ys, label=name, **styles[name])
        errors = curve[2] if len(curve) > 2 else None
        if errors is not None and any(h is not None for h in errors):
            ax.errorbar(list(xs), ys, yerr=[scale * (h or 0.0) for h in errors],
                        fmt="none", ecolor=styles[name]["color"], elinewidth=1.0,
                        capsize=2.5, alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if percent:
        # From a little under the lowest point (0 if curves reach it) to 100 %.
        lowest = min(scale * y for curve in curves.values() for y in curve[1])
        ax.set_ylim(max(-2.0, 10.0 * (lowest // 10) - 2.0), 102.0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    _legend(figure, ax, len(curves))
    return figure


def plot_tradeoff(panels, xlabel="training-step time ÷ plain's (log scale)",
                  ylabel="accuracy (%)", highlight="plain", width=12.5,
                  height=5.2):
    """Cost vs robustness, one panel per threat, with each panel's Pareto front.

    Each method is a marker at (mean cost, mean score) with error bars (the
    half-widths of their intervals); the front (no other method is both
    cheaper and more robust) is joined by a dashed line. One legend for
    all panels sits below them.

    Example:

    >>> figure = plot_tradeoff([("noise", {"plain": (1.0, None, 0.6, 0.02),
    ...                                    "IRL": (1.8, 0.1, 0.8, 0.03)},
    ...                          ["plain", "IRL"])])
    >>> figure.axes[0].get_title(), figure.axes[0].get_xscale()
    ('noise', 'log')

    Args:
        panels: `[(title, {method: (cost, cost_half_width, score,
            score_half_width)}, front)]`: scores are fractions (drawn in
            %), half-widths may be `None`, `front` lists the Pareto front's
            methods by increasing cost.
        xlabel: The x-axis label.
        ylabel: The y-axis label.
        highlight: The baseline method, drawn in black.
        width: Figure width in inches.
        height: Figure height in inches.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: Without matplotlib.
        ValueError: For no panels.
    """
    if not panels:
        raise ValueError("plot_tradeoff: expected at least one (title, points, front) panel.")
    names = []
    for _, points, _ in panels:
        names += [n for n in points if n not in names]
    styles = method_styles(names, highlight)
    figure = _figure_class()(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    handles = {}
    for ax, (title, points, front) in zip(axes, panels):
        for name, (cost, cost_h, score, score_h) in points.items():
            style = {k: v for k, v in styles[name].items() if k not in ("linestyle", "linewidth")}
            style["markersize"] = 8
            handle = ax.errorbar(
                [cost], [100.0 * score],
                xerr=None if cost_h is None else [[min(cost_h, 0.5 * cost)], [cost_h]],
                yerr=None if score_h is None else [100.0 * score_h],
                linestyle="none", capsize=2.5, elinewidth=1.0, label=name, **style)
            handles.setdefault(name, handle)
        if len(front) > 1:
            ax.plot([points[n][0] for n in front], [100.0 * points[n][2] for n in front],
                    linestyle="--", color="0.45", linewidth=1.2, zorder=0)
        ax.set_xscale("log")
        _ratio_ticks(ax, [points[n][0] for n in points])
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    figure.legend([handles[n] for n in names], names, loc="outside lower center",
                  ncol=min(len(names), 5), fontsize="medium", frameon=False)
    return figure


def plot_per_layer(values, ylabel, baseline=None, title=None,
                   figsize=(9.0, 5.0)):
    """A per-layer quantity across layers (x-axis), one line per method.

    With `baseline`, every method's values are divided layer by layer by the
    baseline method's, as in the IRL paper's Fig. 1 ("normalized to
    baseline"): the baseline is the flat line at 1 and a method below it
    has, e.g., closer clean and noisy activations.

    Example:

    >>> figure = plot_per_layer(
    ...     {"plain": {"hidden": 2.0, "logits": 4.0},
    ...      "IRL": {"hidden": 1.0, "logits": 1.0}},
    ...     ylabel="L2 distance", baseline="plain")
    >>> [float(v) for v in figure.axes[0].lines[1].get_ydata()]
    [0.5, 0.25]

    Args:
        values: `{method: {layer: value}}`, e.g. from
            `activation_distances` (one of its metrics) or `jacobian_norms`.
        ylabel: The y-axis label.
        baseline: Optional method to normalize by (a key of `values`).
        title: Optional title.
        figsize: Figure size in inches.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ImportError: Without matplotlib.
        ValueError: For an empty dict, an unknown `baseline`, or methods
            with different layers.
    """
    _check_series(values, "plot_per_layer")
    if baseline is not None and baseline not in values:
        raise ValueError(
            f"plot_per_layer: `baseline` {baseline!r} is not one of the "
            f"methods {sorted(values)}."
        )
    layers = list(next(iter(values.values())))
    for name, per_layer in values.items():
        if list(per_layer) != layers:
            raise ValueError(
                f"plot_per_layer: every method needs the layers {layers}; "
                f"{name!r} has {list(per_layer)}."
            )
    figure = _figure_class()(figsize=figsize, layout="constrained")
    ax = figure.add_subplot()
    styles = method_styles(list(values), baseline if baseline is not None else "plain")
    for name, per_layer in values.items():
        ys = [per_layer[layer] for layer in layers]
        if baseline is not None:
            ys = [_ratio(v, values[baseline][layer]) for v, layer in zip(ys, layers)]
        ax.plot(range(len(layers)), ys, label=name, **styles[name])
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=30, ha="right")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"{ylabel} / {baseline}" if baseline is not None else ylabel)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    _legend(figure, ax, len(values))
    return figure


def _ratio_ticks(ax, values):
    """Readable ticks (1×, 2×, 5× …) on a log axis of cost ratios."""
    from matplotlib import ticker

    low, high = min(values), max(values)
    candidates = (0.5, 1, 2, 5, 10, 20, 50, 100)
    if high / low < 4:  # a narrow range: finer steps still fit
        candidates = (0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 4)
    ticks = [t for t in candidates if low / 1.15 <= t <= high * 1.15]
    ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _ratio(value, reference):
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def _legend(figure, ax, count):
    # Many methods: the legend goes beside the axes, in a font that stays
    # readable when the figure is shown at a page's width.
    if count > 6:
        ax.legend(fontsize="medium", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False)
        width, height = figure.get_size_inches()
        figure.set_size_inches(width + 2.6, height)
    else:
        ax.legend(fontsize="medium")
