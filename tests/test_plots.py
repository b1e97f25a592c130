"""Plotting helpers: the figures hold the data given, errors are clear."""

import builtins

import numpy as np
import pytest

from keras_invariance.evaluation import plots

matplotlib = pytest.importorskip("matplotlib")


def test_curves_hold_every_method_and_point(tmp_path):
    curves = {"plain": ([0, 0.1, 0.2], [0.9, 0.7, 0.3]),
              "IRL": ([0, 0.1, 0.2], [0.88, 0.8, 0.6])}
    figure = plots.plot_curves(curves, xlabel="σ", title="noise")
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.lines] == ["plain", "IRL"]
    # Fractions are drawn in %, as the report's table shows them.
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [88.0, 80.0, 60.0])
    assert ax.get_ylabel() == "accuracy (%)" and ax.get_ylim() == (28.0, 102.0)
    raw = plots.plot_curves(curves, xlabel="σ", ylabel="loss", percent=False).axes[0]
    np.testing.assert_allclose(raw.lines[1].get_ydata(), [0.88, 0.8, 0.6])
    assert ax.get_title() == "noise" and ax.lines[0].get_color() == "black"
    path = tmp_path / "f.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_many_methods_get_distinct_colours_and_markers():
    names = ["plain"] + [f"m{i}" for i in range(19)]
    ax = plots.plot_curves({n: ([0, 1], [1.0, 0.5]) for n in names}, xlabel="ε").axes[0]
    colours = [line.get_color() for line in ax.lines]
    markers = [line.get_marker() for line in ax.lines]
    # Twenty methods: no colour and no marker is used twice, so each method
    # is told apart by either alone.
    assert len(set(colours)) == 20 and len(set(markers)) == 20
    assert colours[0] == "black"
    # The same method keeps its look in every figure of a report.
    assert plots.method_styles(names) == plots.method_styles(names)
    # Beyond the palette, the line style changes: still no two alike.
    many = plots.method_styles([f"m{i}" for i in range(30)], highlight=None)
    looks = {(s["color"], s["marker"], s["linestyle"]) for s in many.values()}
    assert len(looks) == 30


def test_curves_with_intervals_get_error_bars():
    ax = plots.plot_curves({"plain": ([0, 0.1], [0.9, 0.5], [None, 0.05])},
                           xlabel="σ").axes[0]
    (bars,) = ax.containers
    segments = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[90, 90], [45, 55]])


def test_tradeoff_marks_every_method_and_joins_the_front():
    points = {"plain": (1.0, None, 0.6, 0.02), "IRL": (1.8, 0.1, 0.8, 0.03),
              "Jacobian": (7.0, 0.5, 0.61, 0.04)}
    figure = plots.plot_tradeoff([("Gaussian noise", points, ["plain", "IRL"]),
                                  ("ℓ∞ attacks", points, ["plain"])])
    noise, linf = figure.axes
    assert noise.get_xscale() == "log" and noise.get_title() == "Gaussian noise"
    (front,) = [line for line in noise.lines if line.get_linestyle() == "--"]
    np.testing.assert_allclose(front.get_xydata(), [[1.0, 60.0], [1.8, 80.0]])
    assert not [line for line in linf.lines if line.get_linestyle() == "--"]
    (legend,) = figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["plain", "IRL", "Jacobian"]
    assert [t.get_text() for t in noise.get_xticklabels()] == ["1×", "2×", "5×"]
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_tradeoff([])


def test_per_layer_values_are_normalized_to_the_baseline():
    values = {"plain": {"a": 2.0, "b": 4.0, "c": 0.0},
              "IRL": {"a": 1.0, "b": 1.0, "c": 0.0}}
    ax = plots.plot_per_layer(values, "L2", baseline="plain").axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.5, 0.25, 1.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    raw = plots.plot_per_layer(values, "L2").axes[0]
    np.testing.assert_allclose(raw.lines[1].get_ydata(), [1.0, 1.0, 0.0])


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_curves({}, xlabel="σ")
    with pytest.raises(ValueError, match="2 x values but 3 y values"):
        plots.plot_curves({"m": ([0, 1], [1, 1, 1])}, xlabel="σ")
    with pytest.raises(ValueError, match="`baseline` 'std'"):
        plots.plot_per_layer({"m": {"a": 1.0}}, "L2", baseline="std")
    with pytest.raises(ValueError, match="every method needs the layers"):
        plots.plot_per_layer({"m": {"a": 1.0}, "n": {"b": 1.0}}, "L2")


def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"keras-invariance\[plots\]"):
        plots.plot_curves({"m": ([0], [1])}, xlabel="σ")
