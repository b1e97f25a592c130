"""Perturbations: how x̃ is drawn from x."""

from keras_invariance.perturbations.base import Perturbation
from keras_invariance.perturbations.noise import FunctionPerturbation
from keras_invariance.perturbations.noise import GaussianNoise
from keras_invariance.perturbations.noise import LayerPerturbation
from keras_invariance.perturbations.noise import get
