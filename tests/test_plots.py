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
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.88, 0.8, 0.6])
    assert ax.get_title() == "noise" and ax.lines[0].get_color() == "black"
    path = tmp_path / "f.png"
    figure.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_many_methods_get_distinct_styles():
    curves = {f"m{i}": ([0, 1], [1.0, 0.5]) for i in range(14)}
    ax = plots.plot_curves(curves, xlabel="ε", highlight=None).axes[0]
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in ax.lines}
    assert len(styles) == 14


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
