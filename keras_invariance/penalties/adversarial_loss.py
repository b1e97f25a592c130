"""R = L(f(x̃)) with x̃ from an FGSM or PGD search, as a penalty."""

import keras
from keras import ops

from keras_invariance.ops import numerics
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.perturbations.adversarial import FGSM
from keras_invariance.perturbations.adversarial import Search
from keras_invariance.utils.api_export import keras_invariance_export


@keras_invariance_export("keras_invariance.penalties.AdversarialLoss")
class AdversarialLoss(EmbeddingInputs, Penalty):
    """R = L(f(x̃)), with x̃ from an FGSM or PGD search, as a penalty.

    For float inputs this is the engine's β·L(x̃) written as a penalty (so a
    second search can be combined with the model's perturbation). For token
    models (`embedding_layer=`), the search and the loss are at the
    embedding output e: x̃ = e + r_adv, the adversarial training of text
    classifiers (Miyato et al.: `PGD(ε, norm=2, steps=1,
    random_start=False)` is their r_adv = ε·g/‖g‖₂).

    The search runs on e held constant and leaves no gradient path; the
    final pass (`training=True`) trains the embedding and the rest of the
    model. Rows are weighted by their sample weights (Σ_i w_i ℓ_i / B).

    Example:

    >>> from keras_invariance.perturbations.adversarial import PGD
    >>> AdversarialLoss(PGD(1.0, norm=2, steps=1)).name
    'adversarial_loss'

    Args:
        perturbation: An `FGSM` or `PGD` (default `FGSM(0.1)`).
        weight: λ ≥ 0.
        embedding_layer: For token models, search at this layer's output.
        **kwargs: Keras `Layer` arguments; `name` defaults to
            `"adversarial_loss"`.

    Raises:
        ValueError: For a perturbation that is not a search, or integer
            inputs without `embedding_layer`.

    Reference:
        Demyanov et al., "Invariant backpropagation" (2015), eq. 4–5
        (adversarial training).
    """

    label_free = False

    def __init__(self, perturbation=None, weight=1.0, embedding_layer=None, **kwargs):
        kwargs.setdefault("name", "adversarial_loss")
        super().__init__(weight=weight, **kwargs)
        if perturbation is None:
            perturbation = FGSM(0.1)
        if isinstance(perturbation, dict):
            perturbation = keras.saving.deserialize_keras_object(perturbation)
        if not isinstance(perturbation, Search):
            raise ValueError(
                "`perturbation` must be a search such as "
                f"`keras_invariance.perturbations.FGSM` or `PGD`; received {perturbation!r}."
            )
        self.perturbation = perturbation
        self.init_embedding(embedding_layer)

    def compute(self, context):
        search = self.perturbation
        if self._split is not None:
            x = context.x
            embedded = self._split.embed(x, training=True)
            base = ops.stop_gradient(embedded)
            adversarial = search.search(
                base,
                context,
                forward=lambda e: self._split.tail_forward(
                    x, e, training=search.training
                ),
            )
            r_adv = ops.stop_gradient(adversarial - base)
            outputs = self._split.tail_forward(x, embedded + r_adv, training=True)
        else:
            self.check_float_inputs(context.x)
            adversarial = search.search(context.x, context)
            outputs = context.forward(adversarial, training=True).outputs
        return numerics.weighted_mean(
            context.per_example_loss(outputs), context.sample_weight
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "perturbation": keras.saving.serialize_keras_object(
                    self.perturbation
                ),
            }
        )
        return config
