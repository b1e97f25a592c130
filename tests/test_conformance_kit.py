"""The conformance kit (`keras_invariance.testing`) on every shipped term.

Coverage is driven by the serialization registry: every registered
`keras_invariance>` Penalty or Perturbation class needs a row in `COVERAGE`,
so a new term cannot ship untested. Every row runs the cheap checks (fit,
save/load); XLA, bfloat16 and the mirrored check (one subprocess for both)
run on a representative penalty and perturbation.
"""

import inspect

import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance import testing
from keras_invariance.penalties.base import Penalty
from keras_invariance.perturbations.base import Perturbation
from tests import models

P = ki.penalties
X = ki.perturbations


@keras.saving.register_keras_serializable(package="conformance_kit")
def halve(x):
    return 0.5 * x


def noise_clip():
    return np.random.default_rng(1).normal(size=(800,)).astype("float32") * 0.1


def gaussian():
    return X.GaussianNoise(0.1, seed=1)


def jacobian():
    return P.Jacobian(seed=2)


MLP = (None, None)
IMAGES = (models.image_model, models.image_data)
AUDIO = (models.audio_model, models.audio_data)
TOKENS = (models.token_model, models.token_data)

# class name -> (kind, factory, (model_factory, data)).
COVERAGE = {
    # Penalties.
    "ActivationDistance": ("penalty", lambda: P.ActivationDistance(layers="hidden"), MLP),
    "OutputDivergence": ("penalty", lambda: P.OutputDivergence(), MLP),
    "NoiseRegularization": ("penalty", lambda: P.NoiseRegularization(seed=3), MLP),
    "Jacobian": ("penalty", jacobian, MLP),
    "VAT": ("penalty", lambda: P.VAT(epsilon=0.5, seed=4), MLP),
    "LossIBP": ("penalty", lambda: P.LossIBP(), MLP),
    "PredictionIBP": ("penalty", lambda: P.PredictionIBP(), MLP),
    "AdversarialLoss": ("penalty", lambda: P.AdversarialLoss(X.FGSM(epsilon=0.1)), MLP),
    "TangentProp": ("penalty", lambda: P.TangentProp(transforms=("translate_x",)), IMAGES),
    "FastTangentProp": ("penalty", lambda: P.FastTangentProp(transforms=("rotate",)), IMAGES),
    # Perturbations: noise, composition, adversarial.
    "GaussianNoise": ("perturbation", gaussian, MLP),
    # Keras saves no seed state and GaussianNoise(seed=None) draws a fresh
    # seed on load: the wrapper keeps the wrapped generators' states.
    "LayerPerturbation": ("perturbation",
                          lambda: X.LayerPerturbation([keras.layers.GaussianNoise(0.3)]), MLP),
    "FunctionPerturbation": ("perturbation", lambda: X.FunctionPerturbation(halve), MLP),
    "Compose": ("perturbation", lambda: X.Compose([gaussian(), X.FunctionPerturbation(halve)],
                                                  seed=5), MLP),
    "RandomChoice": ("perturbation",
                     lambda: X.RandomChoice([gaussian(), X.FunctionPerturbation(halve)], seed=6),
                     MLP),
    "PerInputPerturbation": ("perturbation", lambda: X.PerInputPerturbation({"x": gaussian()}),
                             MLP),
    "FGSM": ("perturbation", lambda: X.FGSM(epsilon=0.1), MLP),
    "PGD": ("perturbation", lambda: X.PGD(epsilon=0.1, steps=2, seed=7), MLP),
    # Spatial and image.
    "RandomSpatialTransform": ("perturbation", lambda: X.RandomSpatialTransform(seed=8), IMAGES),
    "WorstOfKSpatial": ("perturbation", lambda: X.WorstOfKSpatial(k=2, seed=9), IMAGES),
    "SpatialPGD": ("perturbation", lambda: X.SpatialPGD(steps=2, seed=10), IMAGES),
    "InDomainImageNoise": ("perturbation", lambda: X.InDomainImageNoise(seed=11), IMAGES),
    "OutOfDomainImageNoise": ("perturbation", lambda: X.OutOfDomainImageNoise(seed=12), IMAGES),
    # Audio.
    "AdditiveNoise": ("perturbation", lambda: X.AdditiveNoise(seed=13), AUDIO),
    "VolumeNoise": ("perturbation", lambda: X.VolumeNoise(seed=14), AUDIO),
    "NoiseBank": ("perturbation", lambda: X.NoiseBank(bank=[noise_clip()], seed=15), AUDIO),
    "OverlappingSpeech": ("perturbation", lambda: X.OverlappingSpeech(seed=16), AUDIO),
    "Reverberation": ("perturbation", lambda: X.Reverberation(rir_seconds=0.01, seed=17),
                      AUDIO),
    "Telephony": ("perturbation", lambda: X.Telephony(seed=18), AUDIO),
    # Tokens.
    "BlankNoise": ("perturbation", lambda: X.BlankNoise(blank_id=0, seed=19), TOKENS),
    "UnigramNoise": ("perturbation",
                     lambda: X.UnigramNoise(vocabulary_size=models.VOCABULARY, seed=20), TOKENS),
}

# Bases a user subclasses; they compute nothing themselves.
ABSTRACT = {"Penalty", "Perturbation"}


def registered_terms():
    names = set()
    for key, obj in keras.saving.get_custom_objects().items():
        package, _, name = key.partition(">")
        if package != "keras_invariance" or not inspect.isclass(obj):
            continue
        # Old spellings (JacobianPenalty, …) register the same class again.
        if name != obj.__name__ or name.startswith("_") or name in ABSTRACT:
            continue
        if issubclass(obj, (Penalty, Perturbation)) and not inspect.isabstract(obj):
            names.add(name)
    return names


def test_every_registered_term_has_a_conformance_case():
    missing = sorted(registered_terms() - set(COVERAGE))
    assert not missing, f"add a row to COVERAGE in {__file__} for {missing}"
    stale = sorted(set(COVERAGE) - registered_terms())
    assert not stale, f"COVERAGE names classes that are not registered: {stale}"
    assert {"TangentProp", "FastTangentProp", "SpatialPGD", "Telephony", "BlankNoise"} <= set(
        COVERAGE)


def run(name, checks, **options):
    kind, factory, (model_factory, data) = COVERAGE[name]
    check = testing.check_penalty if kind == "penalty" else testing.check_perturbation
    check(factory, model_factory, data, checks=checks, **options)


@pytest.mark.parametrize("name", sorted(COVERAGE))
def test_fit_and_save_load(name, tmp_path):
    run(name, ("fit", "save_load"))


@pytest.mark.parametrize("name", ["Jacobian", "GaussianNoise"])
def test_xla_and_bfloat16(name):
    run(name, ("xla", "bfloat16"))
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mirrored_equivalence_in_one_subprocess():
    testing.check_mirrored([
        {"kind": "penalty", "factory": jacobian, "steps": 2, "batch_size": 8},
        {"kind": "perturbation", "factory": gaussian, "steps": 2, "batch_size": 8},
    ])


# ------------------------------------------------------- the checks can fail


class Silent(Penalty):
    """A penalty that is always zero: the fit check must reject it."""

    def compute(self, context):
        return keras.ops.zeros(())


class Forgetful(Penalty):
    """Drops `scale` from its config: the save/load check must notice."""

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def compute(self, context):
        return self.scale * keras.ops.mean(keras.ops.square(context.clean.outputs))


def test_fit_check_rejects_a_constant_zero_term():
    with pytest.raises(AssertionError, match=r"\[fit\].*0 at every epoch"):
        testing.check_penalty(lambda: Silent(name="silent"), checks=("fit",))


def test_save_load_check_rejects_a_term_that_cannot_be_loaded():
    with pytest.raises(AssertionError, match=r"\[save_load\]"):
        testing.check_penalty(lambda: Forgetful(scale=3.0, name="forgetful"),
                              checks=("save_load",))


class Unkeyed(Perturbation):
    """Noise from the layer's own generator, not keyed to the global row:
    each replica draws the same values for its half of the batch, so the
    mirrored check must tell two replicas from one device."""

    def perturb(self, x, context=None):
        return x + 0.3 * keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)


def unkeyed():
    return Unkeyed(seed=3)


def test_mirrored_check_rejects_draws_that_are_not_keyed_to_the_global_row():
    with pytest.raises(AssertionError, match=r"\[mirrored\].*differ by"):
        testing.check_mirrored([
            {"kind": "perturbation", "factory": unkeyed, "steps": 2, "batch_size": 8},
        ])


def test_mirrored_check_asks_for_importable_factories():
    with pytest.raises(AssertionError, match=r"\[mirrored\].*module-level"):
        testing.check_mirrored([{"kind": "penalty", "factory": lambda: jacobian()}])


def test_unknown_checks_are_rejected():
    with pytest.raises(ValueError, match="choose from"):
        testing.check_penalty(jacobian, checks=("fit", "speed"))
