"""Gradient terms on token models: `embedding_layer=`, and its errors."""


import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.penalties import AdversarialLossPenalty
from keras_invariance.penalties import JacobianPenalty
from keras_invariance.penalties import LossIBPPenalty
from keras_invariance.penalties import NoiseRegularization
from keras_invariance.penalties import PredictionIBPPenalty
from keras_invariance.penalties import VATPenalty
from keras_invariance.perturbations.adversarial import PGD
from tests.derivative_checks import compiled
from tests.derivative_checks import token_model

TOKEN_TERMS = {
    "jacobian": lambda **kw: JacobianPenalty(**kw),
    "loss_ibp": lambda **kw: LossIBPPenalty(**kw),
    "prediction_ibp": lambda **kw: PredictionIBPPenalty(**kw),
    "prediction_ibp_forward": lambda **kw: PredictionIBPPenalty(
        jvp="forward", name="prediction_ibp_forward", **kw
    ),
    "vat": lambda **kw: VATPenalty(**kw),
    "noise_regularization": lambda **kw: NoiseRegularization(adversarial=True, **kw),
    "adversarial_loss": lambda **kw: AdversarialLossPenalty(
        PGD(0.5, norm=2, steps=1, random_start=False), **kw
    ),
}


@pytest.mark.parametrize("name", sorted(TOKEN_TERMS))
def test_integer_inputs_need_an_embedding_layer(name):
    """The graph model's int32 inputs are known: the error comes at construction."""
    with pytest.raises(ValueError, match="embedding_layer"):
        ki.InvariantModel(token_model(), penalties=[TOKEN_TERMS[name]()])


@pytest.mark.parametrize("name", sorted(TOKEN_TERMS))
def test_token_model_trains_at_embedding_output(name):
    model = compiled(
        ki.InvariantModel(
            token_model(), penalties=[TOKEN_TERMS[name](embedding_layer="emb")]
        )
    )
    x = np.random.default_rng(0).integers(0, 20, (16, 6)).astype("int32")
    y = np.random.default_rng(1).integers(0, 3, 16).astype("int32")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history[name][-1])


def test_embedding_layer_needs_a_graph_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="Functional or Sequential"):
        ki.InvariantModel(Net(), penalties=[LossIBPPenalty(embedding_layer="emb")])
