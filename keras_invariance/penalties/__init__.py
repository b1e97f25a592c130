"""Invariance penalties R_j: one idea per module.

* `activation_distance`: IRL's L_dist (`ActivationDistance`) and output
  divergences (`OutputDivergence`: KL / L2, TRADES, eq. 5's model risk).
* `noise_regularization`, `jacobian`, `vat`: the noise / Jacobian / VAT
  family.
* `ibp`: Loss and Prediction IBP; `tangent_prop`: Tangent BP and fast TBP.
* `adversarial_loss`: L(x̃) of an FGSM / PGD search as a penalty.
"""

from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.penalties.activation_distance import OutputDivergence
from keras_invariance.penalties.adversarial_loss import AdversarialLossPenalty
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.ibp import LossIBPPenalty
from keras_invariance.penalties.ibp import PredictionIBPPenalty
from keras_invariance.penalties.jacobian import JacobianPenalty
from keras_invariance.penalties.noise_regularization import NoiseRegularization
from keras_invariance.penalties.tangent_prop import FastTangentProp
from keras_invariance.penalties.tangent_prop import TangentProp
from keras_invariance.penalties.vat import VATPenalty

__all__ = [
    "ActivationDistance",
    "OutputDivergence",
    "AdversarialLossPenalty",
    "Penalty",
    "LossIBPPenalty",
    "PredictionIBPPenalty",
    "JacobianPenalty",
    "NoiseRegularization",
    "FastTangentProp",
    "TangentProp",
    "VATPenalty",
]
