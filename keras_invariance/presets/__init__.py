"""Presets: each paper's configurations as one short constructor call.

One module per paper family; every factory returns an `InvariantModel`,
takes `penalties=[...]` to combine further terms, and passes other keyword
arguments (`perturbation`, `batching`, `name`, …) to `InvariantModel`.

* `irl`: Invariant Representation Learning (Salazar et al., 2018).
* `noise_jacobian_vat`: noise regularization, the Jacobian penalty, VAT.
* `invariant_backprop`: Loss / Prediction IBP, adversarial training,
  Tangent BP (Demyanov et al., 2015).
* `regularized_augmentation`: D.A. / A.T. with a KL or L2 invariance
  regularizer, spatial and ℓp (Yang et al., 2019).
"""

from keras_invariance.presets.invariant_backprop import AdversarialTraining
from keras_invariance.presets.invariant_backprop import FastTangentBP
from keras_invariance.presets.invariant_backprop import LossIBP
from keras_invariance.presets.invariant_backprop import PredictionIBP
from keras_invariance.presets.invariant_backprop import TangentBP
from keras_invariance.presets.irl import IRL
from keras_invariance.presets.irl import IRL_PRESETS
from keras_invariance.presets.noise_jacobian_vat import VAT
from keras_invariance.presets.noise_jacobian_vat import JacobianRegularized
from keras_invariance.presets.noise_jacobian_vat import NoiseRegularized
from keras_invariance.presets.regularized_augmentation import SPATIAL_MODES
from keras_invariance.presets.regularized_augmentation import RegularizedAdversarialTraining
from keras_invariance.presets.regularized_augmentation import SpatialInvariance

__all__ = [
    "AdversarialTraining",
    "FastTangentBP",
    "LossIBP",
    "PredictionIBP",
    "TangentBP",
    "IRL",
    "IRL_PRESETS",
    "VAT",
    "JacobianRegularized",
    "NoiseRegularized",
    "SPATIAL_MODES",
    "RegularizedAdversarialTraining",
    "SpatialInvariance",
]
