"""Robustness evaluation of any Keras model: one home for every metric.

* `accuracy`: clean accuracy, accuracy under Gaussian noise;
* `adversarial`: accuracy under FGSM;
* `spatial`: worst-case grid, random, worst-of-k and S-PGD accuracy.
"""

from keras_invariance.evaluation.accuracy import add_gaussian_noise
from keras_invariance.evaluation.accuracy import clean_accuracy
from keras_invariance.evaluation.accuracy import noisy_accuracy
from keras_invariance.evaluation.adversarial import fgsm_accuracy
from keras_invariance.evaluation.spatial import grid_accuracy
from keras_invariance.evaluation.spatial import random_transform_accuracy
from keras_invariance.evaluation.spatial import spatial_pgd_accuracy
from keras_invariance.evaluation.spatial import worst_of_k_accuracy
