"""Backend numerics shared by the penalties, perturbations and engine.

* `numerics`: row flattening, global (cross-replica) means, vjps and jvps.
* `random_ops`: random draws keyed to the step, so every replica, device
  count and `steps_per_execution` draws the same noise.
* `second_order`: forward-over-reverse products (Prediction IBP, TangentProp).
* `scales`: the per-step statistics normalized terms divide by.
* `seeding`: `SeedState`, a term's seed and its saved generator state.

Nothing here imports any other part of the package except `utils`.
"""

# Internal: import the modules themselves; nothing is re-exported here.
__all__ = []
