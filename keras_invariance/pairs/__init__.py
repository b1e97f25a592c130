"""Learning an unknown invariance from pairs (Zhang & Arodz).

* `extended_layer`: the extended layer (skip, 2-norm, normalised maps);
* `autoencoder`: the invariant autoencoder, from a target code or from
  (x, x′, d) triples (eq. 2);
* `networks`: the paper's MLP baselines and stacks of extended layers.

The synthetic data generators live in `keras_invariance.datasets.invariance_pairs`.
"""

from keras_invariance.pairs.autoencoder import InvariantAutoencoder
from keras_invariance.pairs.extended_layer import ExtendedLayer
from keras_invariance.pairs.networks import build_extended_network
from keras_invariance.pairs.networks import build_mlp

__all__ = [
    "InvariantAutoencoder",
    "ExtendedLayer",
    "build_extended_network",
    "build_mlp",
]
