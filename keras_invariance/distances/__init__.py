"""Per-example distances d(u, v) between clean and perturbed activations.

`core` holds the squared L2, cosine, L2-cosine, KL and cross-entropy; `more`
the L1 and Jensen–Shannon distances; `base` the `Distance` class they share;
`resolve` the resolution of names (`get`, `resolve_objective`,
`for_outputs`).
"""

from keras_invariance.distances.base import Distance
from keras_invariance.distances.core import CosineDistance
from keras_invariance.distances.core import CrossEntropy
from keras_invariance.distances.core import KLDivergence
from keras_invariance.distances.core import L2Cosine
from keras_invariance.distances.core import SquaredL2
from keras_invariance.distances.core import cosine_similarity
from keras_invariance.distances.core import cross_entropy
from keras_invariance.distances.core import kl_divergence
from keras_invariance.distances.core import relative_squared_l2
from keras_invariance.distances.core import squared_l2
from keras_invariance.distances.more import JensenShannonDivergence
from keras_invariance.distances.more import L1Distance
from keras_invariance.distances.more import jensen_shannon
from keras_invariance.distances.more import l1
from keras_invariance.distances.resolve import LOSS_OBJECTIVE
from keras_invariance.distances.resolve import for_outputs
from keras_invariance.distances.resolve import get
from keras_invariance.distances.resolve import resolve_objective
from keras_invariance.distances.resolve import serialize

__all__ = [
    "Distance",
    "LOSS_OBJECTIVE",
    "CosineDistance",
    "CrossEntropy",
    "KLDivergence",
    "L2Cosine",
    "SquaredL2",
    "cosine_similarity",
    "cross_entropy",
    "for_outputs",
    "get",
    "kl_divergence",
    "relative_squared_l2",
    "resolve_objective",
    "serialize",
    "squared_l2",
    "JensenShannonDivergence",
    "L1Distance",
    "jensen_shannon",
    "l1",
]
