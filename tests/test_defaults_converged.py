"""Where a default costs accuracy at the study's 20 epochs, trained until
plain training converges it ends within 2 points of plain.

Four families are still learning at 20 epochs (`model_families.CONVERGED_EPOCHS`
has the curves), and every penalty slows training, so the short study reads
slowness as cost. Each preset that `tests/test_defaults_science.py` lets fall
more than 2 points short (`KNOWN_SHORTFALLS`, `"accuracy"`) is trained here,
next to plain, for its family's converged budget, and must end within the
study's 2 points. A shortfall that is not slowness fails here, so the short
study's list cannot hide one: add a preset to `KNOWN_SHORTFALLS` and it is
checked here. The costs that remain at convergence are listed, measured and
bounded in `CONVERGED_SHORTFALLS`.
"""

import collections

import pytest

from recipes import model_families as mf
from tests.test_defaults_science import KNOWN_SHORTFALLS
from tests.test_defaults_science import MARGIN

pytestmark = pytest.mark.science

#: Where a default costs more than 2 points even at convergence (seed 0),
#: with the bound asserted instead. The 1-D CNN on mnist1d: Prediction IBP
#: −4.5 points at 60 epochs (−6.2 at 120) and the Jacobian −4.3 (−4.7),
#: though the Jacobian is within 2 points at 20 epochs; tuned down (README,
#: "Weights and scales") they cost less.
CONVERGED_SHORTFALLS = {
    ("conv1d", "prediction_ibp"): 0.065,
    ("conv1d", "jacobian"): 0.065,
}

#: Family → the presets to train until convergence: those that fall more
#: than 2 points short at 20 epochs, and the converged shortfalls.
SLOW = collections.defaultdict(list)
for (_family, _name), _bounds in KNOWN_SHORTFALLS.items():
    if "accuracy" in _bounds:
        SLOW[_family].append(_name)
for _family, _name in CONVERGED_SHORTFALLS:
    if _name not in SLOW[_family]:
        SLOW[_family].append(_name)


#: This module's families; test_defaults_converged_more.py has the others
#: (files are the suite's unit of scheduling, so the two workers share them).
FAMILIES = ("cnn_gn",)


def test_every_accuracy_shortfall_is_checked_at_convergence():
    from tests import test_defaults_converged_more as more

    assert SLOW, "no accuracy shortfall listed: delete this module"
    assert set(SLOW) == set(FAMILIES) | set(more.FAMILIES), sorted(SLOW)
    for family in SLOW:
        assert mf.CONVERGED_EPOCHS[family] > mf.EPOCHS, (
            f"{family} converges in the study's {mf.EPOCHS} epochs, so its "
            f"shortfalls {SLOW[family]} are real costs, not slowness"
        )


def converged_study(family):
    """`(family, study results)` of plain and the family's `SLOW` presets,
    trained for its converged budget (seed 0)."""
    return family, mf.study(family, mf.CONVERGED_EPOCHS[family], seed=0, names=SLOW[family])


@pytest.fixture(scope="module", params=FAMILIES)
def converged(request):
    return converged_study(request.param)


def test_slow_presets_end_within_two_points_of_plain(converged):
    family, results = converged
    plain = results["plain"]["clean"]
    short = {
        name: round(result["clean"], 4)
        for name, result in results.items()
        if result["clean"] < plain - CONVERGED_SHORTFALLS.get((family, name), MARGIN)
    }
    assert not short, (
        f"{family} at {mf.CONVERGED_EPOCHS[family]} epochs: plain {plain:.4f}, "
        f"below it by more than the margin: {short}"
    )


def test_converged_presets_still_move_their_targets(converged):
    """Longer training does not undo what the penalty does: each term stays
    below plain's (the study's 0.8 bound is asserted at 20 epochs)."""
    family, results = converged
    above = {
        name: round(result["target_ratio"], 3)
        for name, result in results.items()
        if result["target_ratio"] is not None and result["target_ratio"] >= 1.0
    }
    assert not above, f"{family}: terms not lowered at convergence: {above}"
