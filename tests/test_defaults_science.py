"""The presets' defaults train well, and move what they penalize, on model
families they were not tuned on.

Every preset, with its default arguments only, on seven model families
(`recipes/model_families.py`): an MLP and BatchNorm / GroupNorm CNNs on
scikit-learn's digits, a 1-D CNN and an attention block with LayerNorm on
the mnist1d generator, a GRU and tutorial 07's bag-of-embeddings model on
generated token sequences. Each must end within 2 points of plain training's
clean accuracy, and every preset with a penalty must lower the term it
penalizes, measured on the test split, to at most 0.8× its value at the
plain model's weights (`model_families.target_ratio`). One seed, the same 20
epochs as `recipes/default_weights.py`, which prints the whole table. Data
augmentation is held to a looser accuracy bound: it trains on perturbed
inputs only (α = 0) by definition, so its clean accuracy depends on the
perturbation's strength, not on a weight.

The families are split over this file and test_defaults_science_more.py so
that the suite's two workers share them (files are the unit of scheduling).
"""

import pytest

from recipes import model_families as mf

pytestmark = pytest.mark.science

FAMILIES = ("mlp", "cnn_bn", "conv1d", "rnn_tokens")
EPOCHS = 20
MARGIN = 0.02
DATA_AUGMENTATION_MARGIN = 0.10
#: A default must lower its target to at most this fraction of plain's.
TARGET_RATIO = 0.8


@pytest.fixture(scope="module", params=FAMILIES)
def family_results(request):
    return request.param, mf.study(request.param, EPOCHS, seed=0)


def check_no_preset_collapses(family_results):
    family, results = family_results
    plain = results["plain"]["clean"]
    failures = {}
    for name, result in results.items():
        margin = DATA_AUGMENTATION_MARGIN if name == "data_augmentation" else MARGIN
        if result["clean"] < plain - margin:
            failures[name] = round(result["clean"], 4)
    assert not failures, f"{family}: plain {plain:.4f}, below it by > margin: {failures}"


def check_each_term_moves_its_target(family_results):
    family, results = family_results
    weak = {
        name: round(result["target_ratio"], 3)
        for name, result in results.items()
        if result["target_ratio"] is not None and result["target_ratio"] > TARGET_RATIO
    }
    assert not weak, f"{family}: penalized terms above {TARGET_RATIO}× plain's: {weak}"


def check_the_terms_are_not_inert(family_results):
    """Robust presets change what they target: noisy accuracy beats plain."""
    family, results = family_results
    plain_noisy = results["plain"]["noisy"]
    for name in ("irl_batching", "irl_loss"):
        assert results[name]["noisy"] >= plain_noisy, (family, name, results[name], plain_noisy)


def test_no_preset_collapses(family_results):
    check_no_preset_collapses(family_results)


def test_each_term_moves_its_target(family_results):
    check_each_term_moves_its_target(family_results)


def test_the_terms_are_not_inert(family_results):
    check_the_terms_are_not_inert(family_results)
