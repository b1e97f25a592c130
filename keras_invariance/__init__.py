"""keras-invariance: invariance regularizers for an ordinary `model.fit()`.

The top level holds what a user builds a model with: `InvariantModel`,
`Tap`, the base classes `Penalty` and `Perturbation`, and each paper's
presets (`ki.IRL`, `ki.VAT`, …). Everything else lives in its subpackage:
`ki.penalties.*`, `ki.perturbations.*`, `ki.distances.*`, `ki.spatial`
(warps, grids, tangents), `ki.audio` (speech signal processing),
`ki.evaluation` (every robustness metric), `ki.pairs` (learning an
invariance from pairs), `ki.datasets` and `ki.presets`. The integrations
(`keras_invariance.integrations.callbacks`, `.tuning` for Keras Tuner, the
report) are imported on use, so `import keras_invariance` needs only
TensorFlow, Keras and NumPy.

Names that used to be at the top level (`ki.GaussianNoise`, `ki.callbacks`,
…) still work until keras-invariance 0.3, with a `DeprecationWarning`
naming their new path. See ARCHITECTURE.md for the tree and how a training
step flows.
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
from keras_invariance.engine.model import InvariantModel
from keras_invariance.graph.taps import Tap
from keras_invariance.penalties import Penalty
from keras_invariance.perturbations import Perturbation
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
from keras_invariance.utils.deprecated_names import moved_names

__version__ = "0.2.0"

__all__ = [
    # The model and what a user subclasses or taps.
    "InvariantModel",
    "Tap",
    "Penalty",
    "Perturbation",
    # Each paper's configurations.
    "IRL",
    "IRL_PRESETS",
    "VAT",
    "AdversarialTraining",
    "FastTangentBP",
    "JacobianRegularized",
    "LossIBP",
    "NoiseRegularized",
    "PredictionIBP",
    "RegularizedAdversarialTraining",
    "SPATIAL_MODES",
    "SpatialInvariance",
    "TangentBP",
    # The subpackages.
    "audio",
    "datasets",
    "distances",
    "evaluation",
    "pairs",
    "penalties",
    "perturbations",
    "presets",
    "spatial",
    "__version__",
]

#: Top-level names of 0.2 that moved to a subpackage: old name → new path.
#: They resolve with a DeprecationWarning until keras-invariance 0.3.
MOVED = {
    "LogMelSpectrogram": "keras_invariance.audio.LogMelSpectrogram",
    "semi_supervised_dataset": "keras_invariance.datasets.semi_supervised_dataset",
    "CosineDistance": "keras_invariance.distances.CosineDistance",
    "CrossEntropy": "keras_invariance.distances.CrossEntropy",
    "JensenShannonDivergence": "keras_invariance.distances.JensenShannonDivergence",
    "KLDivergence": "keras_invariance.distances.KLDivergence",
    "L1Distance": "keras_invariance.distances.L1Distance",
    "L2Cosine": "keras_invariance.distances.L2Cosine",
    "SquaredL2": "keras_invariance.distances.SquaredL2",
    "distribution": "keras_invariance.engine.distribution",
    "callbacks": "keras_invariance.integrations.callbacks",
    "tuning": "keras_invariance.integrations.tuning",
    "ExtendedLayer": "keras_invariance.pairs.ExtendedLayer",
    "InvariantAutoencoder": "keras_invariance.pairs.InvariantAutoencoder",
    "build_extended_network": "keras_invariance.pairs.build_extended_network",
    "build_mlp": "keras_invariance.pairs.build_mlp",
    "ActivationDistance": "keras_invariance.penalties.ActivationDistance",
    "AdversarialLossPenalty": "keras_invariance.penalties.AdversarialLoss",
    "FastTangentProp": "keras_invariance.penalties.FastTangentProp",
    "JacobianPenalty": "keras_invariance.penalties.Jacobian",
    "LossIBPPenalty": "keras_invariance.penalties.LossIBP",
    "NoiseRegularization": "keras_invariance.penalties.NoiseRegularization",
    "OutputDivergence": "keras_invariance.penalties.OutputDivergence",
    "PredictionIBPPenalty": "keras_invariance.penalties.PredictionIBP",
    "TangentProp": "keras_invariance.penalties.TangentProp",
    "VATPenalty": "keras_invariance.penalties.VAT",
    "FGSM": "keras_invariance.perturbations.FGSM",
    "PGD": "keras_invariance.perturbations.PGD",
    "AdditiveNoise": "keras_invariance.perturbations.AdditiveNoise",
    "BlankNoise": "keras_invariance.perturbations.BlankNoise",
    "Compose": "keras_invariance.perturbations.Compose",
    "FunctionPerturbation": "keras_invariance.perturbations.FunctionPerturbation",
    "GaussianNoise": "keras_invariance.perturbations.GaussianNoise",
    "InDomainImageNoise": "keras_invariance.perturbations.InDomainImageNoise",
    "LayerPerturbation": "keras_invariance.perturbations.LayerPerturbation",
    "NoiseBank": "keras_invariance.perturbations.NoiseBank",
    "OutOfDomainImageNoise": "keras_invariance.perturbations.OutOfDomainImageNoise",
    "OverlappingSpeech": "keras_invariance.perturbations.OverlappingSpeech",
    "PerInputPerturbation": "keras_invariance.perturbations.PerInputPerturbation",
    "RandomChoice": "keras_invariance.perturbations.RandomChoice",
    "RandomSpatialTransform": "keras_invariance.perturbations.RandomSpatialTransform",
    "Reverberation": "keras_invariance.perturbations.Reverberation",
    "SpatialPGD": "keras_invariance.perturbations.SpatialPGD",
    "Telephony": "keras_invariance.perturbations.Telephony",
    "UnigramNoise": "keras_invariance.perturbations.UnigramNoise",
    "VolumeNoise": "keras_invariance.perturbations.VolumeNoise",
    "WorstOfKSpatial": "keras_invariance.perturbations.WorstOfKSpatial",
    "apply_spatial_params": "keras_invariance.spatial.apply_spatial_params",
    "sample_spatial_params": "keras_invariance.spatial.sample_spatial_params",
    "spatial_grid": "keras_invariance.spatial.spatial_grid",
    "tangent_vectors": "keras_invariance.spatial.tangent_vectors",
    "transform_images": "keras_invariance.spatial.transform_images",
    "hyperparameters": "keras_invariance.utils.hyperparameters",
}

# The integrations load on first use (`ki.integrations.tuning` imports Keras
# Tuner); `import keras_invariance` never imports them.
__getattr__ = moved_names(
    __name__, MOVED, aliases={"integrations": "keras_invariance.integrations"}
)


def __dir__():
    return sorted(__all__)
