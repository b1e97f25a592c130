"""Perturbations: how x̃ is drawn from x."""

from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.noise import FunctionPerturbation
from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.perturbations.noise import LayerPerturbation
from keras_invariance.perturbations.per_input import PerInputPerturbation
from keras_invariance.perturbations.resolve import get
from keras_invariance.perturbations.audio_noise import AdditiveNoise
from keras_invariance.perturbations.audio_noise import VolumeNoise
from keras_invariance.perturbations.image_noise import InDomainImageNoise
from keras_invariance.perturbations.image_noise import OutOfDomainImageNoise
from keras_invariance.perturbations.token_noise import BlankNoise
from keras_invariance.perturbations.token_noise import UnigramNoise
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import PGD
from keras_invariance.perturbations.spatial import RandomSpatialTransform
from keras_invariance.perturbations.spatial import SpatialPGD
from keras_invariance.perturbations.spatial import WorstOfKSpatial
