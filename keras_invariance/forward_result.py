"""The result of one forward pass: outputs and tapped activations.

Example:

>>> result = ForwardResult(outputs=1.0, taps={"logits": 1.0})
>>> result.outputs, sorted(result.taps)
(1.0, ['logits'])
"""

import collections

#: The outputs and tapped activations (`{tap name: activation}`, including
#: `"logits"` for the outputs) of one forward pass.
ForwardResult = collections.namedtuple("ForwardResult", ["outputs", "taps"])
