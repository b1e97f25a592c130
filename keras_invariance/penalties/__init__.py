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
from keras_invariance.penalties.adversarial_loss import AdversarialLoss
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.ibp import LossIBP
from keras_invariance.penalties.ibp import PredictionIBP
from keras_invariance.penalties.jacobian import Jacobian
from keras_invariance.penalties.noise_regularization import NoiseRegularization
from keras_invariance.penalties.tangent_prop import FastTangentProp
from keras_invariance.penalties.tangent_prop import TangentProp
from keras_invariance.penalties.vat import VAT
from keras_invariance.utils.api_export import register_old_names
from keras_invariance.utils.deprecated_names import moved_names

__all__ = [
    "ActivationDistance",
    "OutputDivergence",
    "AdversarialLoss",
    "Penalty",
    "LossIBP",
    "PredictionIBP",
    "Jacobian",
    "NoiseRegularization",
    "FastTangentProp",
    "TangentProp",
    "VAT",
]

#: The 0.2 class names (with the `Penalty` suffix), kept for one release.
RENAMED = {
    "AdversarialLossPenalty": "keras_invariance.penalties.AdversarialLoss",
    "JacobianPenalty": "keras_invariance.penalties.Jacobian",
    "LossIBPPenalty": "keras_invariance.penalties.LossIBP",
    "PredictionIBPPenalty": "keras_invariance.penalties.PredictionIBP",
    "VATPenalty": "keras_invariance.penalties.VAT",
}
# Files saved by 0.2 name these classes `keras_invariance>JacobianPenalty`, …:
# they keep loading, as the renamed classes.
register_old_names(RENAMED)
__getattr__ = moved_names(__name__, RENAMED)
