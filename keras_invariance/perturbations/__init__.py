"""Perturbations: how x̃ is drawn from x."""

from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from keras_invariance.perturbations.audio_noise import AdditiveNoise
from keras_invariance.perturbations.audio_noise import VolumeNoise
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.compose import Compose
from keras_invariance.perturbations.compose import RandomChoice
from keras_invariance.perturbations.image_noise import InDomainImageNoise
from keras_invariance.perturbations.image_noise import OutOfDomainImageNoise
from keras_invariance.perturbations.noise import FunctionPerturbation
from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.perturbations.noise import LayerPerturbation
from keras_invariance.perturbations.noise_bank import NoiseBank
from keras_invariance.perturbations.norm_balls import project_to_ball
from keras_invariance.perturbations.norm_balls import random_in_ball
from keras_invariance.perturbations.norm_balls import steepest_direction
from keras_invariance.perturbations.overlap import OverlappingSpeech
from keras_invariance.perturbations.per_input import PerInputPerturbation
from keras_invariance.perturbations.resolve import get
from keras_invariance.perturbations.reverberation import Reverberation
from keras_invariance.perturbations.spatial import RandomSpatialTransform
from keras_invariance.perturbations.spatial import SpatialPGD
from keras_invariance.perturbations.spatial import WorstOfKSpatial
from keras_invariance.perturbations.telephony import Telephony
from keras_invariance.perturbations.token_noise import BlankNoise
from keras_invariance.perturbations.token_noise import UnigramNoise

__all__ = [
    "FGSM",
    "PGD",
    "AdditiveNoise",
    "VolumeNoise",
    "Perturbation",
    "Compose",
    "RandomChoice",
    "InDomainImageNoise",
    "OutOfDomainImageNoise",
    "FunctionPerturbation",
    "GaussianNoise",
    "LayerPerturbation",
    "NoiseBank",
    "project_to_ball",
    "random_in_ball",
    "steepest_direction",
    "OverlappingSpeech",
    "PerInputPerturbation",
    "get",
    "Reverberation",
    "RandomSpatialTransform",
    "SpatialPGD",
    "WorstOfKSpatial",
    "Telephony",
    "BlankNoise",
    "UnigramNoise",
]
