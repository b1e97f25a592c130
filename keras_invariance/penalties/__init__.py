"""Invariance penalties R_j."""

from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.derivatives import AdversarialLossPenalty
from keras_invariance.penalties.derivatives import JacobianPenalty
from keras_invariance.penalties.derivatives import LossIBPPenalty
from keras_invariance.penalties.derivatives import NoiseRegularization
from keras_invariance.penalties.derivatives import PredictionIBPPenalty
from keras_invariance.penalties.vat import VATPenalty
