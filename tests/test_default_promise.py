"""Every preset, with its defaults, on the output kinds users have.

A model ending in a softmax, a sigmoid binary classifier, a regression head
and a token model: each preset either trains with a live (finite, non-zero)
term or refuses at construction / `compile()` with a message that says what
to do. (On 0.2, VAT on a Dense(1) MSE model trained with `vat = 0.0` every
epoch, and `ki.VAT(..., from_logits=False)` was refused as an unknown
keyword.) Whether the terms also move what they penalize is the defaults
study's job (tests/test_defaults_science.py).
"""

import keras
import numpy as np
import pytest

import keras_invariance as ki
from tests.models import relu_mlp_6_16 as mlp
from tests.models import relu_token_model as token_model

L = keras.layers
RNG = np.random.default_rng(0)
X = RNG.normal(size=(96, 6)).astype("float32")
IDS = RNG.integers(1, 20, size=(96, 8)).astype("int32")


KINDS = {
    "softmax": (lambda: mlp(3, "softmax"), "sparse_categorical_crossentropy", X,
                (X[:, 0] > 0).astype("int32") + (X[:, 1] > 0)),
    "sigmoid": (lambda: mlp(1, "sigmoid"), "binary_crossentropy", X,
                (X[:, :1] > 0).astype("float32")),
    "regression": (lambda: mlp(1), "mse", X, X[:, :1] - 2 * X[:, 1:2]),
    "tokens": (token_model, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
               IDS, (IDS[:, 0] % 3).astype("int32")),
}


def noise(kind):
    return (
        ki.perturbations.UnigramNoise(vocabulary_size=20, p=0.2)
        if kind == "tokens"
        else ki.perturbations.GaussianNoise(0.3)
    )


def emb(kind):
    return {"embedding_layer": "embedding"} if kind == "tokens" else {}


PRESETS = {
    "irl": (lambda b, k: ki.IRL(b, perturbation=noise(k)), "irl_distance"),
    "irl_c": (lambda b, k: ki.IRL(b, perturbation=noise(k), layers="above:hidden"), "irl_distance"),
    "vat": (lambda b, k: ki.VAT(b, **emb(k)), "vat"),
    "noise_regularization": (lambda b, k: ki.NoiseRegularized(b, **emb(k)), "noise_regularization"),
    "jacobian": (lambda b, k: ki.JacobianRegularized(b, **emb(k)), "jacobian"),
    "loss_ibp": (lambda b, k: ki.LossIBP(b, **emb(k)), "loss_ibp"),
    "prediction_ibp": (lambda b, k: ki.PredictionIBP(b, **emb(k)), "prediction_ibp"),
    "fgsm": (lambda b, k: ki.AdversarialTraining(b), "perturbed_loss"),
    "at_kl": (lambda b, k: ki.RegularizedAdversarialTraining(b, steps=2), "output_divergence"),
    "at_l2": (lambda b, k: ki.RegularizedAdversarialTraining(b, distance="l2", steps=2),
              "output_divergence"),
}

#: (kind, preset) pairs that must refuse, and what the message says to do.
REFUSED = {
    ("regression", "at_kl"): "use distance='squared_l2'",
    ("tokens", "fgsm"): "AdversarialLoss",
    ("tokens", "at_kl"): "AdversarialLoss",
    ("tokens", "at_l2"): "AdversarialLoss",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_trains_or_refuses_with_a_reason(kind, preset):
    build_base, loss, x, y = KINDS[kind]
    build, metric = PRESETS[preset]
    expected = REFUSED.get((kind, preset))
    if kind == "tokens" and preset in ("fgsm", "at_kl", "at_l2"):
        # The adversarial presets perturb the inputs: ids have none to move.
        with pytest.raises(ValueError, match=expected):
            model = build(build_base(), kind)
            model.compile("adam", loss)
            model.fit(x, y, epochs=1, verbose=0)
        return
    model = build(build_base(), kind)
    model.compile(keras.optimizers.Adam(1e-2), loss)
    if expected is not None:
        with pytest.raises(ValueError, match=expected):
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        return
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert min(history[metric]) > 1e-6, (kind, preset, history[metric])
