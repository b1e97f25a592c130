"""Datasets of keras-invariance.

* `digits`: scikit-learn's embedded 8×8 digits (the `digits` extra,
  `pip install 'keras-invariance[digits]'`, imported when they load);
* `invariance_pairs`: the synthetic pairs of the learned-invariance paper;
* `semi_supervised`: labeled and unlabeled rows in one dataset;
* `synthetic_speech`: keyword clips and noises for the speech checks.
"""

from keras_invariance.datasets.digits import digits_classifier
from keras_invariance.datasets.digits import load_digits
from keras_invariance.datasets.digits import to_images
from keras_invariance.datasets.invariance_pairs import dft_modulus
from keras_invariance.datasets.invariance_pairs import dft_targets
from keras_invariance.datasets.invariance_pairs import invariant_features
from keras_invariance.datasets.invariance_pairs import make_pair_dataset
from keras_invariance.datasets.invariance_pairs import make_pairs
from keras_invariance.datasets.invariance_pairs import make_supervised_dataset
from keras_invariance.datasets.invariance_pairs import random_cycle
from keras_invariance.datasets.invariance_pairs import transform
from keras_invariance.datasets.invariance_pairs import uniform_features
from keras_invariance.datasets.semi_supervised import semi_supervised_dataset
from keras_invariance.datasets.synthetic_speech import KEYWORDS
from keras_invariance.datasets.synthetic_speech import synthetic_keywords
from keras_invariance.datasets.synthetic_speech import synthetic_noises

__all__ = [
    "digits_classifier",
    "load_digits",
    "to_images",
    "dft_modulus",
    "dft_targets",
    "invariant_features",
    "make_pair_dataset",
    "make_pairs",
    "make_supervised_dataset",
    "random_cycle",
    "transform",
    "uniform_features",
    "semi_supervised_dataset",
    "KEYWORDS",
    "synthetic_keywords",
    "synthetic_noises",
]
