"""Gradient terms on token models: `embedding_layer=`, and its errors."""


import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.penalties import VAT
from keras_invariance.penalties import AdversarialLoss
from keras_invariance.penalties import Jacobian
from keras_invariance.penalties import LossIBP
from keras_invariance.penalties import NoiseRegularization
from keras_invariance.penalties import PredictionIBP
from keras_invariance.perturbations.adversarial import PGD
from tests.derivative_checks import compiled
from tests.derivative_checks import token_model

TOKEN_TERMS = {
    "jacobian": lambda **kw: Jacobian(**kw),
    "loss_ibp": lambda **kw: LossIBP(**kw),
    "prediction_ibp": lambda **kw: PredictionIBP(**kw),
    "prediction_ibp_forward": lambda **kw: PredictionIBP(
        jvp="forward", name="prediction_ibp_forward", **kw
    ),
    "vat": lambda **kw: VAT(**kw),
    "noise_regularization": lambda **kw: NoiseRegularization(adversarial=True, **kw),
    "adversarial_loss": lambda **kw: AdversarialLoss(
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
        ki.InvariantModel(Net(), penalties=[LossIBP(embedding_layer="emb")])
