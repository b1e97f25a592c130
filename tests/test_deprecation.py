"""Every renamed keyword still works for one release, with a warning.

`CASES` has one row per row of `deprecation.SHIMS`: the call with the old
spelling, the same call with the new one, and what both must share.
"""

import re
import warnings

import keras
import pytest

import keras_invariance as ki
from keras_invariance.utils import deprecation
from keras_invariance.utils import vocabulary
from tests.models import flatten_8x8x1 as cnn
from tests.models import linear_4_3 as mlp


def noise():
    return ki.perturbations.GaussianNoise(0.1)


def _unnamed(config):
    """A config without the auto-numbered `name`s (`l2_cosine_1`, …)."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_unnamed(v) for v in config]
    return config


def model_config(model):
    """What a preset built: α, β, the perturbation's and penalties' configs."""
    perturbation = model.perturbation
    return {
        "alpha": float(model.alpha),
        "beta": float(model.beta),
        "perturbation": None if perturbation is None else (
            type(perturbation).__name__, _unnamed(perturbation.get_config())
        ),
        "penalties": [
            (type(p).__name__, _unnamed(p.get_config())) for p in model.penalties
        ],
    }


def _ours(caught):
    """This package's deprecation warnings among `caught`."""
    return [str(w.message) for w in caught if "is deprecated; use" in str(w.message)]


def layer_config(layer):
    return type(layer).__name__, _unnamed(layer.get_config())


#: (owner, old) → (call with the old spelling, with the new one, summary).
CASES = {
    ("IRL", "gamma"): (
        lambda: ki.IRL(mlp(), perturbation=noise(), gamma=0.3),
        lambda: ki.IRL(mlp(), perturbation=noise(), weight=0.3),
        model_config,
    ),
    ("IRL", "paper_scale"): (
        lambda: ki.IRL(mlp(), perturbation=noise(), paper_scale=True),
        lambda: ki.IRL(mlp(), perturbation=noise(), scale="paper"),
        model_config,
    ),
    ("LossIBP", "beta"): (
        lambda: ki.LossIBP(mlp(), beta=0.2),
        lambda: ki.LossIBP(mlp(), weight=0.2),
        model_config,
    ),
    ("LossIBP", "paper_scale"): (
        lambda: ki.LossIBP(mlp(), paper_scale=True),
        lambda: ki.LossIBP(mlp(), scale="paper"),
        model_config,
    ),
    ("PredictionIBP", "beta"): (
        lambda: ki.PredictionIBP(mlp(), beta=0.2),
        lambda: ki.PredictionIBP(mlp(), weight=0.2),
        model_config,
    ),
    ("PredictionIBP", "paper_scale"): (
        lambda: ki.PredictionIBP(mlp(), paper_scale=True),
        lambda: ki.PredictionIBP(mlp(), scale="paper"),
        model_config,
    ),
    ("TangentBP", "paper_scale"): (
        lambda: ki.TangentBP(cnn(), paper_scale=True),
        lambda: ki.TangentBP(cnn(), scale="paper"),
        model_config,
    ),
    ("FastTangentBP", "paper_scale"): (
        lambda: ki.FastTangentBP(cnn(), paper_scale=True),
        lambda: ki.FastTangentBP(cnn(), scale="paper"),
        model_config,
    ),
    ("NoiseRegularized", "paper_scale"): (
        lambda: ki.NoiseRegularized(mlp(), paper_scale=True),
        lambda: ki.NoiseRegularized(mlp(), scale="paper"),
        model_config,
    ),
    ("JacobianRegularized", "paper_scale"): (
        lambda: ki.JacobianRegularized(mlp(), paper_scale=True),
        lambda: ki.JacobianRegularized(mlp(), scale="paper"),
        model_config,
    ),
    ("ActivationDistance", "normalize"): (
        lambda: ki.penalties.ActivationDistance(normalize=False),
        lambda: ki.penalties.ActivationDistance(scale="paper"),
        layer_config,
    ),
    ("InputGradientPenalty", "normalize"): (
        lambda: ki.penalties.PredictionIBP(normalize=False),
        lambda: ki.penalties.PredictionIBP(scale="paper"),
        layer_config,
    ),
    ("TangentProp", "normalize"): (
        lambda: ki.penalties.TangentProp(normalize=False),
        lambda: ki.penalties.TangentProp(scale="paper"),
        layer_config,
    ),
    ("SpatialInvariance", "lam"): (
        lambda: ki.SpatialInvariance(cnn(), preset="da_kl", lam=0.4),
        lambda: ki.SpatialInvariance(cnn(), preset="da_kl", weight=0.4),
        model_config,
    ),
    ("SpatialInvariance", "rank_by"): (
        lambda: ki.SpatialInvariance(cnn(), preset="at_kl", rank_by="loss"),
        lambda: ki.SpatialInvariance(cnn(), preset="at_kl", objective="loss"),
        model_config,
    ),
    ("SpatialInvariance", "mode"): (
        lambda: ki.SpatialInvariance(cnn(), mode="at_l2"),
        lambda: ki.SpatialInvariance(cnn(), preset="at_l2"),
        model_config,
    ),
    ("AdversarialTraining", "kind"): (
        lambda: ki.AdversarialTraining(mlp(), kind="fast", epsilon=0.2),
        lambda: ki.AdversarialTraining(mlp(), attack="fast", epsilon=0.2),
        model_config,
    ),
    ("RegularizedAdversarialTraining", "kind"): (
        lambda: ki.RegularizedAdversarialTraining(mlp(), kind="fgsm"),
        lambda: ki.RegularizedAdversarialTraining(mlp(), attack="fgsm"),
        model_config,
    ),
    ("RegularizedAdversarialTraining", "search"): (
        lambda: ki.RegularizedAdversarialTraining(mlp(), search="divergence"),
        lambda: ki.RegularizedAdversarialTraining(mlp(), objective="divergence"),
        model_config,
    ),
    ("RegularizedAdversarialTraining", "divergence"): (
        lambda: ki.RegularizedAdversarialTraining(mlp(), divergence="l2"),
        lambda: ki.RegularizedAdversarialTraining(mlp(), distance="l2"),
        model_config,
    ),
    ("VAT", "divergence"): (
        lambda: ki.penalties.VAT(divergence="squared_l2"),
        lambda: ki.penalties.VAT(distance="squared_l2"),
        layer_config,
    ),
    ("WorstOfKSpatial", "rank_by"): (
        lambda: ki.perturbations.WorstOfKSpatial(rank_by="kl"),
        lambda: ki.perturbations.WorstOfKSpatial(objective="kl"),
        layer_config,
    ),
}


def test_every_shim_has_a_case():
    assert set(CASES) == set(deprecation.SHIMS)


def _version(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def test_shims_are_deleted_by_their_removal_release():
    # When this fails: delete the expired rows of `deprecation.SHIMS`, their
    # `renamed(...)` calls and `upgrade_config` mappings, and their CASES.
    current = _version(ki.__version__)
    expired = sorted(
        f"{shim.owner}({shim.old}=)"
        for shim in deprecation.SHIMS.values()
        if current >= _version(shim.removal)
    )
    assert not expired, (
        f"keras-invariance {ki.__version__} still accepts {expired}, "
        "deprecated until this release; remove them."
    )


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_old_keyword_warns_and_builds_what_the_new_one_builds(key):
    old_call, new_call, summary = CASES[key]
    shim = deprecation.SHIMS[key]
    with pytest.warns(DeprecationWarning) as caught:
        old = old_call()
    messages = [str(w.message) for w in caught if w.category is DeprecationWarning]
    ours = [m for m in messages if f"({shim.old}=...) is deprecated" in m]
    assert ours, messages
    assert f"use `{shim.new}=" in ours[0] and shim.removal in ours[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new = new_call()
    assert not _ours(caught)
    assert summary(old) == summary(new)


def test_old_boolean_true_means_the_default_scale():
    with pytest.warns(DeprecationWarning, match="scale='normalized'"):
        penalty = ki.penalties.Jacobian(normalize=True)
    assert penalty.scale == "normalized"
    with pytest.warns(DeprecationWarning):
        model = ki.IRL(mlp(), perturbation=noise(), paper_scale=False)
    assert model.penalties[0].scale == "normalized"


def test_subclass_warning_names_the_class_called():
    with pytest.warns(DeprecationWarning, match=r"NoiseRegularization\(normalize="):
        ki.penalties.NoiseRegularization(normalize=False)


@pytest.mark.parametrize(
    "cls",
    [ki.penalties.ActivationDistance, ki.penalties.OutputDivergence,
     ki.penalties.NoiseRegularization, ki.penalties.Jacobian, ki.penalties.LossIBP,
     ki.penalties.PredictionIBP, ki.penalties.TangentProp],
)
@pytest.mark.parametrize("normalize", [True, False])
def test_config_saved_by_0_2_0_loads_without_warning(cls, normalize):
    config = cls().get_config()
    assert config.pop("scale") == "normalized"
    config["normalize"] = normalize  # what 0.2.0 wrote
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = cls.from_config(config)
    assert not _ours(caught)
    assert restored.scale == ("normalized" if normalize else "paper")
    assert "normalize" not in restored.get_config()


def test_0_2_0_irl_penalty_config_round_trips_through_keras():
    # The dict a saved 0.2.0 model holds for its IRL penalty.
    old = {
        "module": "keras_invariance.penalties.activation_distance",
        "class_name": "ActivationDistance",
        "config": {
            "name": "irl_distance", "trainable": True, "weight": 1.0,
            "layers": {"hidden": 0.5}, "distance": "squared_l2",
            "layer_weight": 1.0, "normalize": False,
        },
        "registered_name": "keras_invariance>ActivationDistance",
    }
    penalty = keras.saving.deserialize_keras_object(old)
    assert penalty.scale == "paper" and penalty.layers == {"hidden": 0.5}


def test_passing_both_names_is_an_error():
    with pytest.raises(TypeError, match="both `lam=` and its replacement `weight=`"):
        ki.SpatialInvariance(cnn(), lam=0.1, weight=0.2)
    with pytest.raises(TypeError, match="both `normalize=` and its replacement"):
        ki.penalties.TangentProp(normalize=False, scale="paper")
    with pytest.raises(TypeError, match="both `paper_scale=` and its replacement"):
        ki.IRL(mlp(), perturbation=noise(), paper_scale=True, scale="paper")


def test_unknown_scale_says_what_to_pass():
    with pytest.raises(ValueError, match="`scale` must be one of"):
        ki.penalties.ActivationDistance(scale="raw")
    with pytest.raises(ValueError, match="paper_scale=True` is `scale='paper'"):
        ki.LossIBP(mlp(), scale=True)


def test_an_unrecorded_shim_is_refused():
    with pytest.raises(KeyError):
        deprecation.renamed({"old": 1}, "old", "new", None, "Nobody")


def test_every_scale_default_is_normalized():
    assert vocabulary.SCALES == ("normalized", "paper")
    for cls in [ki.penalties.ActivationDistance, ki.penalties.NoiseRegularization,
                ki.penalties.Jacobian, ki.penalties.LossIBP,
                ki.penalties.PredictionIBP, ki.penalties.TangentProp]:
        assert cls().scale == "normalized"


def test_warning_points_at_the_callers_line():
    # Through a subclass chain too, so Python's default filters show it there.
    with pytest.warns(DeprecationWarning) as caught:
        ki.penalties.NoiseRegularization(normalize=False)
    (ours,) = [w for w in caught if "is deprecated; use" in str(w.message)]
    assert ours.filename == __file__
