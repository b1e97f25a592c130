"""The report's numbers over seeds: intervals, tests, bold cells, the summary.

Checked without training: the Student-t, paired and Welch computations against
SciPy, and the table, page and summary on results whose per-seed values are
made up so that every verdict (significantly best, indistinguishable from
plain, worse than plain, on the Pareto front) is known.
"""

import math

import numpy as np
import pytest

from keras_invariance.integrations.report import aggregate
from keras_invariance.integrations.report import page
from keras_invariance.integrations.report import stats
from keras_invariance.integrations.report import summary
from keras_invariance.integrations.report import writer

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 1.5, 2, 2.7, 4, 9.3, 30, 200])
def test_student_t_matches_scipy(df):
    for t in [0.0, 0.1, 1.0, 2.5, 4.3, 12.0, 80.0]:
        assert stats.t_two_sided_p(t, df) == pytest.approx(
            2 * scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-14)
    for p in [0.6, 0.9, 0.975, 0.995, 0.9995]:
        assert stats.t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8)
        assert stats.t_quantile(1 - p, df) == pytest.approx(scipy_stats.t.ppf(1 - p, df),
                                                            rel=1e-8)


def test_interval_and_welch_match_scipy():
    rng = np.random.default_rng(0)
    for n_a, n_b in [(2, 2), (3, 3), (3, 5), (10, 4)]:
        a = rng.normal(0.8, 0.02, n_a)
        b = rng.normal(0.79, 0.05, n_b)
        mean, half = stats.mean_interval(a)
        low, high = scipy_stats.t.interval(0.95, n_a - 1, loc=a.mean(),
                                           scale=scipy_stats.sem(a))
        assert mean == pytest.approx(a.mean()) and half == pytest.approx((high - low) / 2)
        t, df, p = stats.welch_test(a, b)
        expected = scipy_stats.ttest_ind(a, b, equal_var=False)
        assert t == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
        # Welch–Satterthwaite degrees of freedom.
        va, vb = a.var(ddof=1) / n_a, b.var(ddof=1) / n_b
        assert df == pytest.approx((va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1)))


def test_paired_test_matches_scipy_and_sees_what_seeds_share():
    rng = np.random.default_rng(1)
    for n in (2, 3, 6):
        a, b = rng.normal(0.8, 0.03, n), rng.normal(0.79, 0.03, n)
        t, df, p = stats.paired_test(a, b)
        expected = scipy_stats.ttest_rel(a, b)
        assert (t, df, p) == (pytest.approx(expected.statistic), n - 1,
                              pytest.approx(expected.pvalue))
    # Seeds move both methods together (a lucky initialization helps both);
    # a consistent +1 point is then real, though the per-method spreads overlap.
    plain = [0.942, 0.958, 0.971]
    better = [0.951, 0.969, 0.980]
    assert stats.compare(better, plain)["p"] < 0.05
    assert stats.welch_test(better, plain)[2] > 0.05
    assert stats.compare(better, plain[:2])["test"] == "Welch's t-test"
    with pytest.raises(ValueError, match="as many values"):
        stats.paired_test([1.0, 2.0], [1.0])


def test_degenerate_samples():
    assert stats.mean_interval([0.5]) == (0.5, None)
    assert all(math.isnan(v) for v in stats.welch_test([0.5], [0.4, 0.6]))
    assert not stats.significantly_different([0.5], [0.1, 0.2])
    # No spread at all: the means either differ (p = 0) or not (p = 1).
    assert stats.welch_test([1.0, 1.0], [0.0, 0.0])[2] == 0.0
    assert stats.welch_test([1.0, 1.0], [1.0, 1.0])[2] == 1.0
    assert stats.paired_test([1.0, 2.0], [0.5, 1.5])[2] == 0.0
    assert stats.paired_test([1.0, 2.0], [1.0, 2.0])[2] == 1.0


def _entry(key, name, clean, noise, pgd, grid, cost):
    runs = []
    for i in range(3):
        runs.append({"metrics": {
            "clean_accuracy": clean[i], "noise_accuracy_sigma_0.1": noise[i],
            "noise_accuracy_sigma_0.3": noise[i], "pgd_accuracy_eps_0.05": pgd[i],
            "spatial_grid_775_accuracy": grid[i], "step_time_ratio": cost[i]},
            "curves": {"noise": {"sigma": [0, 0.1], "accuracy": [clean[i], noise[i]]}},
            "diagnostics": {"layers": ["logits"], "activation_l2": [1.0],
                            "activation_cosine": [0.1], "jacobian_norm": [1.0]}})
    return {"key": key, "method": name, "family": "f", "call": f"{name}()",
            "train_seconds": 1.0, "configuration": {"weights": {"alpha": 1.0}},
            "runs": runs, **aggregate.aggregate_runs(runs)}


@pytest.fixture()
def made_up():
    """Four methods whose verdicts are known by construction."""
    entries = [
        _entry("plain", "plain", [0.95, 0.96, 0.97], [0.50, 0.55, 0.60],
               [0.20, 0.21, 0.22], [0.10, 0.12, 0.11], [1.0, 1.0, 1.0]),
        # Clearly the most robust to noise, at twice the cost.
        _entry("irl", "IRL", [0.95, 0.96, 0.96], [0.80, 0.81, 0.82],
               [0.30, 0.31, 0.32], [0.10, 0.11, 0.12], [2.0, 2.1, 1.9]),
        # Like plain on every threat, more expensive.
        _entry("jac", "Jacobian", [0.95, 0.97, 0.96], [0.52, 0.58, 0.55],
               [0.19, 0.22, 0.21], [0.11, 0.10, 0.12], [7.0, 7.5, 7.2]),
        # Best for spatial shifts, worse than plain under noise, costs clean accuracy.
        _entry("da", "spatial D.A.", [0.90, 0.91, 0.90], [0.30, 0.31, 0.32],
               [0.20, 0.22, 0.21], [0.40, 0.42, 0.41], [1.5, 1.6, 1.4]),
    ]
    results = {"config": {"noise_levels": [0.1, 0.3], "epsilons": [0.05], "pgd_steps": 10,
                          "grid": [5, 5, 31], "translation": 1.0, "rotation": 15.0,
                          "noise": 0.3, "epochs": 1, "batch_size": 8, "learning_rate": 1e-3,
                          "seed": 0, "worst_of": 10, "diagnostics_size": 8, "tune": None},
               "statistics": {"seeds": [0, 1, 2]}, "methods": entries,
               "data": {"description": "made up", "test_examples": 100},
               "versions": {"keras_invariance": "0", "keras": "3", "tensorflow": "2"},
               "wall_seconds": 1.0, "smoke_run": False}
    results["best"] = {key: aggregate.column_best(entries, key)
                       for _, _, key, kind in writer.columns(results) if kind == "acc"}
    results["summary"] = summary.summarize(results)
    return results


def test_per_seed_values_means_and_intervals(made_up):
    irl = made_up["methods"][1]
    assert irl["per_seed"]["noise_accuracy_sigma_0.1"] == [0.80, 0.81, 0.82]
    assert irl["metrics"]["noise_accuracy_sigma_0.1"] == pytest.approx(0.81)
    # s = 0.01, n = 3: half-width t(0.975, 2)·s/√3.
    assert irl["intervals"]["noise_accuracy_sigma_0.1"] == pytest.approx(
        scipy_stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3))
    assert irl["curves"]["noise"]["accuracy"][1] == pytest.approx(0.81)


def test_only_a_significantly_better_best_is_bold(made_up):
    best = made_up["best"]
    assert best["noise_accuracy_sigma_0.1"]["best"] == "irl"
    assert best["noise_accuracy_sigma_0.1"]["significant"]
    assert best["spatial_grid_775_accuracy"]["best"] == "da"
    assert best["spatial_grid_775_accuracy"]["significant"]
    # Clean accuracy: IRL, Jacobian and plain are within noise of each other.
    assert not best["clean_accuracy"]["significant"]
    table = writer.format_table(made_up)
    irl_row = next(line for line in table.splitlines() if line.startswith("IRL "))
    assert "81.0±2.5*" in irl_row
    assert "*" not in next(line for line in table.splitlines() if line.startswith("plain"))


def test_page_bolds_the_significant_cells_only(made_up, tmp_path):
    made_up["figures"] = []
    path = page.write_html(made_up, tmp_path, [])
    text = open(path, encoding="utf-8").read()
    table = text.split("<h2>All results</h2>")[1].split("<h2>Figures</h2>")[0]
    assert table.count('class="best"') == sum(
        bool(b and b["significant"]) for b in made_up["best"].values())
    assert '<td class="best">81.0<span class="ci">±2.5</span></td>' in table
    assert "SMOKE RUN" not in text
    assert "paired t-test over seeds" in text


def test_summary_says_which_method_for_which_threat(made_up):
    threats = {t["key"]: t for t in made_up["summary"]["threats"]}
    noise, linf, spatial = threats["noise"], threats["linf"], threats["spatial"]
    assert noise["best"] == ["irl"] and spatial["best"] == ["da"]
    assert noise["like_plain"] == ["jac"] and noise["below_plain"] == ["da"]
    assert set(spatial["like_plain"]) == {"irl", "jac"}
    # Jacobian is dominated everywhere: never on the front.
    assert noise["pareto"] == ["plain", "irl"]
    assert all("jac" not in t["pareto"] for t in threats.values())
    clean = made_up["summary"]["clean"]
    assert clean["da"]["significant"]
    assert clean["da"]["difference"] == pytest.approx(0.9033333 - 0.96)
    assert not clean["jac"]["significant"]
    text = summary.format_summary(made_up)
    assert "indistinguishable from plain: Jacobian" in text
    assert "best within uncertainty: IRL 81.0±2.5 % at 2.00×" in text
    assert "clean accuracy significantly below plain's: spatial D.A. (-5.7 points)" in text
    assert linf["best"] == ["irl"]


def test_pareto_front():
    assert summary.pareto_front({"a": (1, 0.5), "b": (2, 0.5), "c": (3, 0.9)}) == ["a", "c"]
    assert summary.pareto_front({"a": (1, 0.5)}) == ["a"]
