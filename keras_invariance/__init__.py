"""keras-invariance: invariance regularizers for an ordinary `model.fit()`.

The public names live here (`ki.IRL`, `ki.GaussianNoise`, …); the
subpackages are their homes: `presets` (one module per paper family),
`penalties`, `perturbations`, `distances`, `spatial` (warps, grids,
tangents), `audio` (speech signal processing), `evaluation` (every
robustness metric), `callbacks`, `tuning` (Keras Tuner), `pairs` (learning
an invariance from pairs) and `datasets`.
See ARCHITECTURE.md for the tree and how a training step flows.
"""

from keras_invariance import audio
from keras_invariance import datasets
from keras_invariance import distances
from keras_invariance import evaluation
from keras_invariance import pairs
from keras_invariance import penalties
from keras_invariance import perturbations
from keras_invariance import presets
from keras_invariance import spatial
from keras_invariance.audio import LogMelSpectrogram
from keras_invariance.datasets.semi_supervised import semi_supervised_dataset
from keras_invariance.distances import CosineDistance
from keras_invariance.distances import CrossEntropy
from keras_invariance.distances import JensenShannonDivergence
from keras_invariance.distances import KLDivergence
from keras_invariance.distances import L1Distance
from keras_invariance.distances import L2Cosine
from keras_invariance.distances import SquaredL2
from keras_invariance.engine import distribution
from keras_invariance.engine.model import InvariantModel
from keras_invariance.graph.taps import Tap
from keras_invariance.integrations import callbacks
from keras_invariance.integrations import tuning
from keras_invariance.pairs import ExtendedLayer
from keras_invariance.pairs import InvariantAutoencoder
from keras_invariance.pairs import build_extended_network
from keras_invariance.pairs import build_mlp
from keras_invariance.penalties import ActivationDistance
from keras_invariance.penalties import AdversarialLossPenalty
from keras_invariance.penalties import FastTangentProp
from keras_invariance.penalties import JacobianPenalty
from keras_invariance.penalties import LossIBPPenalty
from keras_invariance.penalties import NoiseRegularization
from keras_invariance.penalties import OutputDivergence
from keras_invariance.penalties import Penalty
from keras_invariance.penalties import PredictionIBPPenalty
from keras_invariance.penalties import TangentProp
from keras_invariance.penalties import VATPenalty
from keras_invariance.perturbations import FGSM
from keras_invariance.perturbations import PGD
from keras_invariance.perturbations import AdditiveNoise
from keras_invariance.perturbations import BlankNoise
from keras_invariance.perturbations import Compose
from keras_invariance.perturbations import FunctionPerturbation
from keras_invariance.perturbations import GaussianNoise
from keras_invariance.perturbations import InDomainImageNoise
from keras_invariance.perturbations import LayerPerturbation
from keras_invariance.perturbations import NoiseBank
from keras_invariance.perturbations import OutOfDomainImageNoise
from keras_invariance.perturbations import OverlappingSpeech
from keras_invariance.perturbations import PerInputPerturbation
from keras_invariance.perturbations import Perturbation
from keras_invariance.perturbations import RandomChoice
from keras_invariance.perturbations import RandomSpatialTransform
from keras_invariance.perturbations import Reverberation
from keras_invariance.perturbations import SpatialPGD
from keras_invariance.perturbations import Telephony
from keras_invariance.perturbations import UnigramNoise
from keras_invariance.perturbations import VolumeNoise
from keras_invariance.perturbations import WorstOfKSpatial
from keras_invariance.presets import IRL
from keras_invariance.presets import IRL_PRESETS
from keras_invariance.presets import SPATIAL_MODES
from keras_invariance.presets import VAT
from keras_invariance.presets import AdversarialTraining
from keras_invariance.presets import FastTangentBP
from keras_invariance.presets import JacobianRegularized
from keras_invariance.presets import LossIBP
from keras_invariance.presets import NoiseRegularized
from keras_invariance.presets import PredictionIBP
from keras_invariance.presets import RegularizedAdversarialTraining
from keras_invariance.presets import SpatialInvariance
from keras_invariance.presets import TangentBP
from keras_invariance.spatial import apply_spatial_params
from keras_invariance.spatial import sample_spatial_params
from keras_invariance.spatial import spatial_grid
from keras_invariance.spatial import tangent_vectors
from keras_invariance.spatial import transform_images
from keras_invariance.utils import hyperparameters

__version__ = "0.2.0"
