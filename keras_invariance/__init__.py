"""keras-invariance: invariance regularizers for an ordinary `model.fit()`."""

from keras_invariance import distances
from keras_invariance import penalties
from keras_invariance import perturbations
from keras_invariance.distances import CosineDistance
from keras_invariance.distances import CrossEntropy
from keras_invariance.distances import KLDivergence
from keras_invariance.distances import L2Cosine
from keras_invariance.distances import SquaredL2
from keras_invariance.methods import IRL
from keras_invariance.methods import IRL_PRESETS
from keras_invariance.model import InvariantModel
from keras_invariance.penalties import ActivationDistance
from keras_invariance.penalties import OutputDivergence
from keras_invariance.penalties import Penalty
from keras_invariance.perturbations import FunctionPerturbation
from keras_invariance.perturbations import GaussianNoise
from keras_invariance.perturbations import LayerPerturbation
from keras_invariance.perturbations import Perturbation
from keras_invariance.perturbations import AdditiveNoise
from keras_invariance.perturbations import BlankNoise
from keras_invariance.perturbations import InDomainImageNoise
from keras_invariance.perturbations import OutOfDomainImageNoise
from keras_invariance.perturbations import UnigramNoise
from keras_invariance.perturbations import VolumeNoise
from keras_invariance.semi_supervised import semi_supervised_dataset
from keras_invariance.taps import Tap
from keras_invariance import hyperparameters
from keras_invariance import datasets
from keras_invariance import layers
from keras_invariance.autoencoders import InvariantAutoencoder
from keras_invariance.autoencoders import build_extended_network
from keras_invariance.autoencoders import build_mlp
from keras_invariance.layers import ExtendedLayer
from keras_invariance import evaluation
from keras_invariance import spatial
from keras_invariance.spatial import apply_spatial_params
from keras_invariance.spatial import sample_spatial_params
from keras_invariance.spatial import spatial_grid
from keras_invariance.spatial import tangent_vectors
from keras_invariance.spatial import transform_images

__version__ = "0.1.0"
