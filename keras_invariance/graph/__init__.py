"""What the package reads from a user's Keras graph.

* `taps`: named intermediate activations (`Tap`), nested paths included.
* `embedding`: the cut between a token model's embedding and the rest.
* `outputs`, `output_structure`: the kind of each output (softmax, sigmoid,
  logits, regression) and multi-output structures.
* `structures`, `forward_result`: multi-input structures and the result of
  one forward pass.
* `batchnorm`: finding BatchNormalization layers and their training policy.

Nothing here imports the engine, the penalties or the perturbations.
"""

# Internal: import the modules themselves; nothing is re-exported here.
__all__ = []
