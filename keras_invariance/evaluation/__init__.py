"""Robustness evaluation of any Keras model: one home for every metric.

* `accuracy`: clean accuracy, accuracy under Gaussian noise and its curve
  over σ (`noise_curve`);
* `adversarial`: accuracy under FGSM and PGD, ℓ∞ and ℓ2, at one ε or over a
  list (`adversarial_curve`), and the attacked inputs;
* `spatial`: worst-case grid, random, worst-of-k and S-PGD accuracy;
* `representation`: per-layer activation distances between clean and
  perturbed inputs and per-layer Jacobian norms (the IRL paper's Fig. 1);
* `plots`: matplotlib figures of curves and per-layer diagnostics (the
  `plots` extra; imported on use, not here).
"""

from keras_invariance.evaluation.accuracy import add_gaussian_noise
from keras_invariance.evaluation.accuracy import clean_accuracy
from keras_invariance.evaluation.accuracy import noise_curve
from keras_invariance.evaluation.accuracy import noisy_accuracy
from keras_invariance.evaluation.adversarial import adversarial_accuracy
from keras_invariance.evaluation.adversarial import adversarial_curve
from keras_invariance.evaluation.adversarial import adversarial_examples
from keras_invariance.evaluation.adversarial import fgsm_accuracy
from keras_invariance.evaluation.adversarial import pgd_accuracy
from keras_invariance.evaluation.representation import activation_distances
from keras_invariance.evaluation.representation import default_layers
from keras_invariance.evaluation.representation import jacobian_norms
from keras_invariance.evaluation.spatial import grid_accuracy
from keras_invariance.evaluation.spatial import random_transform_accuracy
from keras_invariance.evaluation.spatial import spatial_pgd_accuracy
from keras_invariance.evaluation.spatial import worst_of_k_accuracy

__all__ = [
    "add_gaussian_noise",
    "clean_accuracy",
    "noise_curve",
    "noisy_accuracy",
    "adversarial_accuracy",
    "adversarial_curve",
    "adversarial_examples",
    "fgsm_accuracy",
    "pgd_accuracy",
    "activation_distances",
    "default_layers",
    "jacobian_norms",
    "grid_accuracy",
    "random_transform_accuracy",
    "spatial_pgd_accuracy",
    "worst_of_k_accuracy",
]
