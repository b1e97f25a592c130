"""Every renamed keyword still works for one release, with a warning."""

import keras
import pytest

import keras_invariance as ki
from keras_invariance.utils import deprecation


def mlp():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def cnn():
    return keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )


def noise():
    return ki.perturbations.GaussianNoise(0.1)


CASES = {
    "IRL gamma": (
        lambda: ki.IRL(mlp(), perturbation=noise(), gamma=0.3),
        "weight",
        lambda m: float(m.penalties[0].weight) == pytest.approx(0.3),
    ),
    "LossIBP beta": (
        lambda: ki.LossIBP(mlp(), beta=0.2),
        "weight",
        lambda m: float(m.penalties[0].weight) == pytest.approx(0.2),
    ),
    "PredictionIBP beta": (
        lambda: ki.PredictionIBP(mlp(), beta=0.2),
        "weight",
        lambda m: float(m.penalties[0].weight) == pytest.approx(0.2),
    ),
    "SpatialInvariance lam": (
        lambda: ki.SpatialInvariance(cnn(), mode="da_kl", lam=0.4),
        "weight",
        lambda m: float(m.penalties[0].weight) == pytest.approx(0.4),
    ),
    "SpatialInvariance rank_by": (
        lambda: ki.SpatialInvariance(cnn(), mode="at_kl", rank_by="loss"),
        "objective",
        lambda m: m.perturbation.objective == "loss",
    ),
    "AdversarialTraining kind": (
        lambda: ki.AdversarialTraining(mlp(), kind="fast", epsilon=0.2),
        "attack",
        lambda m: float(m.alpha) == 0.0,
    ),
    "RegularizedAdversarialTraining kind": (
        lambda: ki.RegularizedAdversarialTraining(mlp(), kind="fgsm"),
        "attack",
        lambda m: isinstance(m.perturbation, ki.perturbations.FGSM),
    ),
    "RegularizedAdversarialTraining search": (
        lambda: ki.RegularizedAdversarialTraining(mlp(), search="divergence"),
        "objective",
        lambda m: m.perturbation.objective == "kl",
    ),
    "RegularizedAdversarialTraining divergence": (
        lambda: ki.RegularizedAdversarialTraining(mlp(), divergence="l2"),
        "distance",
        lambda m: type(m.penalties[0].distance).__name__ == "SquaredL2",
    ),
    "VATPenalty divergence": (
        lambda: ki.penalties.VATPenalty(divergence="squared_l2"),
        "distance",
        lambda p: type(p.distance).__name__ == "SquaredL2",
    ),
    "WorstOfKSpatial rank_by": (
        lambda: ki.perturbations.WorstOfKSpatial(rank_by="kl"),
        "objective",
        lambda p: p.objective == "kl",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_old_keyword_warns_names_the_new_one_and_still_works(case):
    build, new, check = CASES[case]
    with pytest.warns(DeprecationWarning, match=f"use `{new}=`"):
        obj = build()
    assert check(obj)


def test_passing_both_names_is_an_error():
    with pytest.raises(TypeError, match="both `lam=` and its replacement `weight=`"):
        ki.SpatialInvariance(cnn(), lam=0.1, weight=0.2)


def test_message_names_the_removal_release():
    with pytest.warns(DeprecationWarning, match=deprecation.REMOVAL):
        ki.LossIBP(mlp(), beta=0.1)
