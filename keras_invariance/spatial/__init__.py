"""Image warps, transform grids, tangent vectors and the S-PGD ascent.

One home for everything spatial that is not a perturbation or a metric:

* `warps`: differentiable, XLA-compatible affine warps (`transform_images`,
  `apply_spatial_params`, `affine_sample`) with Keras' signs and units;
* `grids`: the 775-point worst-case grid and uniform draws in a box;
* `tangents`: Tangent Prop's tangent vectors (Lie operators);
* `keras_layers`: reading the ranges of Keras preprocessing layers;
* `search`: projected sign-gradient ascent over transform parameters.
"""

from keras_invariance.spatial.grids import sample_spatial_params
from keras_invariance.spatial.grids import spatial_grid
from keras_invariance.spatial.keras_layers import BOX_LAYERS
from keras_invariance.spatial.keras_layers import TANGENT_LAYERS
from keras_invariance.spatial.keras_layers import box_from_layers
from keras_invariance.spatial.search import spatial_pgd_search
from keras_invariance.spatial.tangents import IBP_TANGENTS
from keras_invariance.spatial.tangents import TANGENT_NAMES
from keras_invariance.spatial.tangents import gaussian_smooth
from keras_invariance.spatial.tangents import image_gradients
from keras_invariance.spatial.tangents import tangent_vectors
from keras_invariance.spatial.warps import FILL_MODES
from keras_invariance.spatial.warps import affine_sample
from keras_invariance.spatial.warps import apply_spatial_params
from keras_invariance.spatial.warps import transform_images

__all__ = [
    "sample_spatial_params",
    "spatial_grid",
    "BOX_LAYERS",
    "TANGENT_LAYERS",
    "box_from_layers",
    "spatial_pgd_search",
    "IBP_TANGENTS",
    "TANGENT_NAMES",
    "gaussian_smooth",
    "image_gradients",
    "tangent_vectors",
    "FILL_MODES",
    "affine_sample",
    "apply_spatial_params",
    "transform_images",
]
