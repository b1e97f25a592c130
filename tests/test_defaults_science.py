"""The presets' defaults train well on model families they were not tuned on.

Every preset, with its default arguments only, on four model families
(`recipes/model_families.py`: an MLP and a BatchNorm CNN on scikit-learn's
digits, a 1-D CNN on the mnist1d generator, a GRU on generated token
sequences) must end within 2 points of plain training's clean accuracy. One
seed, the same 20 epochs as `recipes/default_weights.py`, which prints the
whole table. Data augmentation is held to a looser bound: it trains on
perturbed inputs only (α = 0) by definition, so its clean accuracy depends
on the perturbation's strength, not on a weight.
"""

import pytest

from recipes import model_families as mf

pytestmark = pytest.mark.science

EPOCHS = 20
MARGIN = 0.02
DATA_AUGMENTATION_MARGIN = 0.10


@pytest.fixture(scope="module", params=mf.FAMILIES)
def family_results(request):
    family = request.param
    data = mf.family_data(family, seed=0)
    results = {}
    for name, build in mf.presets(family, data[2]).items():
        model = mf.train(build, family, data, EPOCHS, seed=0)
        results[name] = mf.evaluate(model, family, data, seed=0)
    return family, results


def test_no_preset_collapses(family_results):
    family, results = family_results
    plain = results["plain"][0]
    failures = {}
    for name, (clean, _) in results.items():
        margin = DATA_AUGMENTATION_MARGIN if name == "data_augmentation" else MARGIN
        if clean < plain - margin:
            failures[name] = round(clean, 4)
    assert not failures, f"{family}: plain {plain:.4f}, below it by > margin: {failures}"


def test_the_terms_are_not_inert(family_results):
    """Robust presets change what they target: noisy accuracy beats plain."""
    family, results = family_results
    plain_noisy = results["plain"][1]
    for name in ("irl_batching", "irl_loss"):
        assert results[name][1] > plain_noisy, (family, name, results[name], plain_noisy)
