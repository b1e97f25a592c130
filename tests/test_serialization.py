"""Every registered public object round-trips through its config.

The test enumerates what is registered under `keras_invariance>`, so a new
public class without a round-tripping `get_config` (or without an entry
here) fails this test.
"""

import importlib
import json
import pkgutil
import sys

import keras
import numpy as np
import pytest

import keras_invariance
import keras_invariance as ki
from keras_invariance.utils import hyperparameters
from tests.engine_checks import tiny_mlp


@keras.saving.register_keras_serializable(package="keras_invariance_tests")
def double(x):
    return 2.0 * x


def _examples():
    """Non-default instances of every registered class."""
    from keras_invariance.penalties import tangent_prop
    from keras_invariance.perturbations import spatial as spatial_perturbations

    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    return {
        "ActivationDistance": lambda: ki.penalties.ActivationDistance(
            layers={"hidden": 0.5, "logits": 2.0}, distance="cosine", weight=0.3
        ),
        "AdditiveNoise": lambda: ki.perturbations.AdditiveNoise(snr_db=5.0, seed=3),
        "AdversarialLoss": lambda: ki.penalties.AdversarialLoss(
            ki.perturbations.FGSM(epsilon=0.2), weight=0.4
        ),
        "BlankNoise": lambda: ki.perturbations.BlankNoise(blank_id=1, p=0.3, pad_id=0),
        "Compose": lambda: ki.perturbations.Compose(
            [ki.perturbations.Telephony(mu_law=True), ki.perturbations.VolumeNoise(factor=1.5)],
            probabilities=[0.5, 0.25],
            seed=2,
        ),
        "CosineDistance": ki.distances.CosineDistance,
        "CrossEntropy": lambda: ki.distances.CrossEntropy(from_logits=False),
        "Distance": ki.distances.Distance,
        "ExtendedLayer": lambda: ki.pairs.ExtendedLayer(units=4, epsilon=1e-5),
        "FGSM": lambda: ki.perturbations.FGSM(epsilon=0.05, objective="kl"),
        "FastTangentProp": lambda: tangent_prop.FastTangentProp(
            transforms=("translate_x", "rotate"), sigma=0.5, weight=0.2
        ),
        "FunctionPerturbation": lambda: ki.perturbations.FunctionPerturbation(double),
        "GaussianNoise": lambda: ki.perturbations.GaussianNoise(stddev=0.25, seed=1),
        "InDomainImageNoise": lambda: ki.perturbations.InDomainImageNoise(
            brightness=0.3, value_range=(0.0, 1.0)
        ),
        "InvariantAutoencoder": lambda: ki.pairs.InvariantAutoencoder(
            encoder, decoder, invariant_dim=2, invariance_weight=0.5
        ),
        "InvariantModel": lambda: ki.InvariantModel(
            tiny_mlp(),
            alpha=0.2,
            beta=0.8,
            perturbation=ki.perturbations.GaussianNoise(0.1),
            num_samples=2,
            batching="separate",
            penalties=[ki.penalties.ActivationDistance(layers="above:hidden")],
        ),
        "Jacobian": lambda: ki.penalties.Jacobian(num_projections=2, weight=0.1),
        "JensenShannonDivergence": lambda: ki.distances.JensenShannonDivergence(
            from_logits=False, distribution="bernoulli"
        ),
        "KLDivergence": lambda: ki.distances.KLDivergence(from_logits=False),
        "L1Distance": lambda: ki.distances.L1Distance(weights=[1.0, 0.5], reduction="mean"),
        "L2Cosine": lambda: ki.distances.L2Cosine(cosine_weight=0.25),
        "LogMelSpectrogram": lambda: ki.audio.LogMelSpectrogram(
            sample_rate=8000, num_mel_bins=20, upper_hz=3800.0
        ),
        "LayerPerturbation": lambda: ki.perturbations.LayerPerturbation(
            [keras.layers.GaussianNoise(0.1), keras.layers.Dropout(0.2)]
        ),
        "LossIBP": lambda: ki.penalties.LossIBP(weight=0.5, order=2),
        "NoiseRegularization": lambda: ki.penalties.NoiseRegularization(stddev=0.05, weight=2.0),
        "NoiseBank": lambda: ki.perturbations.NoiseBank(
            np.linspace(-0.5, 0.5, 30, dtype="float32").reshape(3, 10),
            snr_db=(-2.0, 8.0),
            sample_rate=8000,
            seed=1,
        ),
        "OutOfDomainImageNoise": lambda: ki.perturbations.OutOfDomainImageNoise(hue=0.1),
        "OutputDivergence": lambda: ki.penalties.OutputDivergence(
            distance="squared_l2", weight=0.7
        ),
        "OverlappingSpeech": lambda: ki.perturbations.OverlappingSpeech(
            snr_db=(4.0, 8.0), shift=False
        ),
        "PGD": lambda: ki.perturbations.PGD(epsilon=0.3, norm="2", steps=3),
        "Penalty": lambda: ki.Penalty(weight=0.5, name="custom"),
        "PerInputPerturbation": lambda: ki.perturbations.PerInputPerturbation(
            {
                "image": ki.perturbations.GaussianNoise(0.2, seed=1),
                "ids": ki.perturbations.BlankNoise(blank_id=0),
            }
        ),
        "Perturbation": lambda: ki.Perturbation(seed=4),
        "PredictionIBP": lambda: ki.penalties.PredictionIBP(weight=0.3, order=2),
        "RandomChoice": lambda: ki.perturbations.RandomChoice(
            [ki.perturbations.Telephony(), ki.perturbations.VolumeNoise()], probabilities=[3.0, 1.0]
        ),
        "RandomSpatialTransform": lambda: spatial_perturbations.RandomSpatialTransform(
            translation=2.0, rotation=10.0
        ),
        "Reverberation": lambda: ki.perturbations.Reverberation(
            rt60=(0.4, 0.5), drr_db=2.0, rir_seconds=0.1, normalize=False
        ),
        "SpatialPGD": lambda: spatial_perturbations.SpatialPGD(steps=2),
        "SquaredL2": lambda: ki.distances.SquaredL2(weights=[0.5, 1.0], reduction="mean"),
        "Telephony": lambda: ki.perturbations.Telephony(band=(300.0, 3400.0), mu_law=True, bits=6),
        "TangentProp": lambda: tangent_prop.TangentProp(
            transforms=[keras.layers.RandomRotation(0.05)], weight=0.1
        ),
        "Tap": lambda: ki.Tap("block"),
        "UnigramNoise": lambda: ki.perturbations.UnigramNoise(unigram=[1.0, 3.0, 6.0], p=0.1),
        "VAT": lambda: ki.penalties.VAT(epsilon=0.5, power_iterations=2),
        "VolumeNoise": lambda: ki.perturbations.VolumeNoise(factor=1.5, direction="up"),
        "WorstOfKSpatial": lambda: spatial_perturbations.WorstOfKSpatial(k=4, objective="kl"),
    }


def _registered():
    for module in pkgutil.walk_packages(keras_invariance.__path__, "keras_invariance."):
        importlib.import_module(module.name)
    # Only classes defined at module level count (a doctest may register a
    # throwaway class of its own).
    return sorted(
        name.split(">", 1)[1]
        for name, cls in keras.saving.get_custom_objects().items()
        if name.startswith("keras_invariance>")
        and getattr(sys.modules.get(cls.__module__), cls.__name__, None) is cls
        # A renamed class's former name (`register_old_names`) is an alias.
        and name == f"keras_invariance>{cls.__name__}"
    )


def _normalized(config):
    return json.loads(json.dumps(config, default=str))


def test_every_registered_class_has_a_round_trip_example():
    missing = sorted(set(_registered()) - set(_examples()))
    assert not missing, f"add round-trip examples for {missing}"


@pytest.mark.parametrize("name", _registered())
def test_config_round_trip(name):
    obj = _examples()[name]()
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"] == f"keras_invariance>{name}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(obj)
    assert _normalized(restored.get_config()) == _normalized(obj.get_config())
    # Configs carry hyperparameters (scalar non-trainable variables), not
    # learned weights.
    scalars = [w for w in obj.non_trainable_weights if tuple(w.shape) == ()]
    restored_scalars = [
        w for w in restored.non_trainable_weights if tuple(w.shape) == ()
    ]
    assert len(scalars) == len(restored_scalars)
    for a, b in zip(scalars, restored_scalars):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


def test_hyperparameter_values_survive_in_config():
    noise = ki.perturbations.GaussianNoise(0.1)
    noise.stddev.assign(0.7)
    restored = ki.perturbations.GaussianNoise.from_config(noise.get_config())
    assert hyperparameters.value_of(restored.stddev) == pytest.approx(0.7)
