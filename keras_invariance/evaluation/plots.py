"""Figures of robustness curves and per-layer diagnostics (matplotlib).

Each helper returns a `matplotlib.figure.Figure` built without `pyplot`, so
it needs no display, leaves no global state behind, and can be saved with
`figure.savefig(path)` or shown in a notebook. matplotlib is an optional
dependency (the `plots` extra): it is imported inside the helpers only, and a
missing install raises an `ImportError` that says how to get it.
"""

import math

#: Markers cycled over methods; after ten methods (matplotlib's ten default
#: colors) the line style changes too, so no two methods look alike.
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d", "8")
_LINES = ("-", "--", ":", "-.")


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


def _style(i, highlight=False):
    style = {"marker": _MARKERS[i % len(_MARKERS)], "markersize": 4,
             "linewidth": 1.5, "color": f"C{i % 10}",
             "linestyle": _LINES[(i // 10) % len(_LINES)]}
    if highlight:  # the baseline: black and on top
        style.update(color="black", linewidth=2.2, zorder=3)
    return style


def plot_curves(curves, xlabel, ylabel="accuracy", title=None,
                figsize=(6.4, 4.2), highlight="plain"):
    """Accuracy-vs-strength curves, one line per method.

    Example:

    >>> figure = plot_curves({"plain": ([0, 0.1, 0.2], [0.98, 0.9, 0.6])},
    ...                      xlabel="Gaussian noise σ")
    >>> figure.axes[0].get_xlabel()
    'Gaussian noise σ'

    Args:
        curves: `{method: (xs, ys)}`, e.g. σ levels and accuracies from
            `keras_invariance.evaluation.noise_curve`.
        xlabel: The x-axis label (e.g. `"FGSM ε (ℓ∞)"`).
        ylabel: The y-axis label.
        title: Optional title.
        figsize: Figure size in inches.
        highlight: A method drawn in black on top (default `"plain"`, if
            present).

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
    for i, (name, (xs, ys)) in enumerate(curves.items()):
        if len(xs) != len(ys):
            raise ValueError(
                f"plot_curves: the curve of {name!r} has {len(xs)} x values "
                f"but {len(ys)} y values."
            )
        ax.plot(list(xs), list(ys), label=name, **_style(i, name == highlight))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylabel == "accuracy":
        ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    _legend(figure, ax, len(curves))
    return figure


def plot_per_layer(values, ylabel, baseline=None, title=None,
                   figsize=(6.4, 4.2)):
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
    for i, (name, per_layer) in enumerate(values.items()):
        ys = [per_layer[layer] for layer in layers]
        if baseline is not None:
            ys = [_ratio(v, values[baseline][layer]) for v, layer in zip(ys, layers)]
        ax.plot(range(len(layers)), ys, label=name, **_style(i, name == baseline))
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=30, ha="right")
    ax.set_xlabel("layer")
    ax.set_ylabel(f"{ylabel} / {baseline}" if baseline is not None else ylabel)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    _legend(figure, ax, len(values))
    return figure


def _ratio(value, reference):
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def _legend(figure, ax, count):
    # Many methods: the legend goes beside the axes rather than over curves.
    if count > 6:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        figure.set_size_inches(figure.get_size_inches()[0] + 2.4,
                               figure.get_size_inches()[1])
    else:
        ax.legend(fontsize="small")
