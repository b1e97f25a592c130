"""Robustness evaluation: accuracy under spatial and other attacks."""

from keras_invariance.evaluation.spatial_attacks import clean_accuracy
from keras_invariance.evaluation.spatial_attacks import grid_accuracy
from keras_invariance.evaluation.spatial_attacks import (
    random_transform_accuracy,
)
from keras_invariance.evaluation.spatial_attacks import worst_of_k_accuracy
from keras_invariance.evaluation.spatial_pgd import spatial_pgd_accuracy
