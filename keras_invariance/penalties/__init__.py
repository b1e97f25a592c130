"""Invariance penalties R_j."""

from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.penalties.base import Penalty
