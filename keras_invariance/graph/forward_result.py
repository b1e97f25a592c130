"""The result of one forward pass: outputs and tapped activations.

Example:

>>> result = ForwardResult(outputs=1.0, taps={"logits": 1.0})
>>> result.outputs, sorted(result.taps), result.logits
(1.0, ['logits'], 1.0)
"""

import collections


class ForwardResult(collections.namedtuple("ForwardResult", ["outputs", "taps"])):
    """The outputs and tapped activations (`{tap name: activation}`) of a pass.

    `taps["logits"]` is the outputs' logits view
    (`keras_invariance.graph.outputs.logits_view`): the outputs themselves for a
    logits model, centred log p for a softmax. Terms read `logits`; the compiled
    loss reads `outputs`.
    """

    __slots__ = ()

    @property
    def logits(self):
        return self.taps["logits"]
