"""The extension points shared by penalties and perturbations (issue 20).

One `bind` signature on both base classes; seed and seed-state saving in
one mixin (`utils.seeding.SeedState`); the `embedding_layer=` split and the
float-input check of the gradient terms in one mixin
(`penalties.input_terms.EmbeddingInputs`); layer selection as a helper held
by composition (`penalties.layer_selection.LayerSelection`).
"""

import inspect

import keras
import numpy as np
import pytest

import keras_invariance as ki
from keras_invariance.ops.seeding import SeedState
from keras_invariance.penalties import VAT
from keras_invariance.penalties import AdversarialLoss
from keras_invariance.penalties import Jacobian
from keras_invariance.penalties import LossIBP
from keras_invariance.penalties import NoiseRegularization
from keras_invariance.penalties import PredictionIBP
from keras_invariance.penalties.activation_distance import ActivationDistance
from keras_invariance.penalties.activation_distance import LayerwiseSquaredL2
from keras_invariance.penalties.base import Penalty
from keras_invariance.penalties.input_terms import EmbeddingInputs
from keras_invariance.penalties.layer_selection import LayerSelection
from keras_invariance.perturbations.base import Perturbation
from keras_invariance.utils import validation
from tests.derivative_checks import token_model
from tests.models import linear_mlp_4_5_3 as mlp

INPUT_TERMS = {
    "Jacobian": Jacobian,
    "NoiseRegularization": NoiseRegularization,
    "VAT": VAT,
    "LossIBP": LossIBP,
    "PredictionIBP": PredictionIBP,
    "AdversarialLoss": AdversarialLoss,
}

SEEDED_PENALTIES = {
    "Jacobian": lambda seed: Jacobian(seed=seed),
    "NoiseRegularization": lambda seed: NoiseRegularization(seed=seed),
    "VAT": lambda seed: VAT(seed=seed),
    "TangentProp": lambda seed: ki.penalties.TangentProp(num_projections=2, seed=seed),
}


def _subclasses(base):
    found, stack = set(), [base]
    while stack:
        for cls in stack.pop().__subclasses__():
            if cls.__module__.startswith("keras_invariance") and cls not in found:
                found.add(cls)
                stack.append(cls)
    return sorted(found, key=lambda c: c.__qualname__)


# bind ------------------------------------------------------------------------


def test_bind_signatures_match():
    assert inspect.signature(Penalty.bind) == inspect.signature(Perturbation.bind)
    assert list(inspect.signature(Penalty.bind).parameters) == [
        "self", "model", "subclassed"
    ]


@pytest.mark.parametrize(
    "cls", _subclasses(Penalty) + _subclasses(Perturbation), ids=lambda c: c.__name__
)
def test_every_bind_override_keeps_the_signature(cls):
    assert inspect.signature(cls.bind) == inspect.signature(Penalty.bind)


def test_perturbation_bind_reads_no_graph_of_a_subclassed_model():
    # The per-input check is skipped (as for `None`) when the graph is unknown.
    per_input = ki.perturbations.PerInputPerturbation(
        {"missing": ki.perturbations.GaussianNoise(0.1)})
    per_input.bind(mlp(), subclassed=True)
    with pytest.raises(ValueError, match="does not have"):
        ki.perturbations.PerInputPerturbation(
            {"missing": ki.perturbations.GaussianNoise(0.1)}).bind(mlp())


# Seeds -----------------------------------------------------------------------


def test_both_bases_share_the_seed_mixin():
    assert issubclass(Penalty, SeedState)
    assert issubclass(Perturbation, SeedState)


@pytest.mark.parametrize("name", sorted(SEEDED_PENALTIES))
def test_seed_is_in_the_config_and_round_trips(name):
    term = SEEDED_PENALTIES[name](7)
    config = term.get_config()
    assert config["seed"] == 7
    restored = type(term).from_config(config)
    assert restored.seed == 7
    np.testing.assert_array_equal(
        restored.seed_generator.state.numpy(), term.seed_generator.state.numpy()
    )


def test_unseeded_terms_have_no_seed_in_their_config():
    for term in (LossIBP(), ki.penalties.FastTangentProp(),
                 ki.penalties.ActivationDistance(), AdversarialLoss()):
        assert "seed" not in term.get_config(), type(term).__name__
    assert "seed" in ki.perturbations.GaussianNoise(0.1).get_config()
    assert "seed" in ki.penalties.TangentProp().get_config()


def test_tangent_prop_without_projections_makes_no_generator():
    assert not ki.penalties.TangentProp()._seed_generators
    assert len(ki.penalties.TangentProp(num_projections=1)._seed_generators) == 1


@pytest.mark.parametrize(
    "make",
    [lambda: Jacobian(seed=None), lambda: ki.perturbations.GaussianNoise(0.1, seed=None)],
    ids=["penalty", "perturbation"],
)
def test_seed_state_round_trips_through_own_variables(make):
    layer = make()
    layer.seed_generator.state.assign(np.array([11, 5], "int64").astype(
        layer.seed_generator.state.dtype
    ))
    store = {}
    layer.save_own_variables(store)
    assert "seed_state_0" in store
    fresh = make()
    fresh.load_own_variables(store)
    np.testing.assert_array_equal(
        fresh.seed_generator.state.numpy(), layer.seed_generator.state.numpy()
    )


def test_seed_state_survives_save_and_load(tmp_path):
    model = ki.InvariantModel(
        mlp(), alpha=0.5, beta=0.5, perturbation=ki.perturbations.GaussianNoise(0.1),
        penalties=[Jacobian(layers="hidden")],
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.integers(0, 3, 8).astype("int32")
    model.fit(x, y, batch_size=4, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for before, after in (
        (model.perturbation, loaded.perturbation),
        (model.penalties[0], loaded.penalties[0]),
    ):
        np.testing.assert_array_equal(
            after.seed_generator.state.numpy(), before.seed_generator.state.numpy()
        )
    assert loaded.penalties[0].get_config() == model.penalties[0].get_config()


# The embedding / float-input mixin --------------------------------------------


@pytest.mark.parametrize("name", sorted(INPUT_TERMS))
def test_input_terms_share_the_mixin(name):
    assert issubclass(INPUT_TERMS[name], EmbeddingInputs)
    assert INPUT_TERMS[name]().get_config()["embedding_layer"] is None


@pytest.mark.parametrize("name", sorted(INPUT_TERMS))
def test_integer_inputs_message(name):
    with pytest.raises(ValueError) as error:
        ki.InvariantModel(token_model(), penalties=[INPUT_TERMS[name]()])
    message = str(error.value)
    assert message.startswith(f"{name} needs float inputs but received int32 inputs.")
    assert message.endswith(validation.EMBEDDING_HINT)


@pytest.mark.parametrize("name", sorted(INPUT_TERMS))
def test_integer_inputs_at_the_step_message(name):
    # A subclassed model's inputs are checked at the step, with the same words.
    term = INPUT_TERMS[name]()
    with pytest.raises(ValueError) as error:
        term.check_float_inputs(np.zeros((2, 3), "int32"))
    assert str(error.value) == (
        f"{name} needs float inputs but received int32 inputs. "
        + validation.EMBEDDING_HINT
    )
    term.check_float_inputs(np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("name", sorted(INPUT_TERMS))
def test_unknown_embedding_layer_message(name):
    with pytest.raises(ValueError, match="No layer named 'nope' .*Available layer names"):
        ki.InvariantModel(token_model(), penalties=[INPUT_TERMS[name](embedding_layer="nope")])


@pytest.mark.parametrize("name", sorted(INPUT_TERMS))
def test_embedding_layer_splits_and_drops_the_input_tape(name):
    term = INPUT_TERMS[name](embedding_layer="emb")
    term.bind(token_model())
    assert term._split is not None
    assert term.requires_input_gradient is False
    assert term.get_config()["embedding_layer"] == "emb"


def test_float_model_needs_no_split():
    term = Jacobian()
    term.bind(mlp())
    assert term._split is None
    assert term.requires_input_gradient is True


# Layer selection ---------------------------------------------------------------


def test_layerwise_terms_compose_the_selection():
    for cls in (Jacobian, NoiseRegularization, LayerwiseSquaredL2):
        assert not issubclass(cls, ActivationDistance), cls.__name__
    term = NoiseRegularization(layers={"hidden": 2.0, "logits": 0.5})
    assert isinstance(term._selection, LayerSelection)
    with pytest.raises(RuntimeError, match="not attached"):
        term.tap_names
    term.bind(mlp())
    assert term.tap_names == ["hidden", "logits"]
    assert float(term.layer_weights["hidden"]) == 2.0
    assert "layer_weight_hidden" in [v.name for v in term.non_trainable_variables]
    term.layer_weights["hidden"].assign(3.0)
    config = term.get_config()
    assert config["layers"] == {"hidden": 3.0, "logits": 0.5}
    assert "distance" not in config
    assert NoiseRegularization.from_config(config).layers == config["layers"]


def test_selection_configs_are_unchanged():
    assert {"layers", "layer_weight", "distance", "scale"} <= set(
        ki.penalties.ActivationDistance().get_config()
    )
    for term in (Jacobian(), NoiseRegularization()):
        config = term.get_config()
        assert {"layers", "layer_weight", "scale"} <= set(config)
        assert "distance" not in config
    config = ki.penalties.OutputDivergence().get_config()
    assert "layers" not in config and "layer_weight" not in config


@pytest.mark.parametrize(
    "layers, message",
    [([], "at least one layer"), ({}, "at least one layer"), (3, "must be a layer name"),
     ({"hidden": -1.0}, "layers\\['hidden'\\]")],
)
def test_selection_errors(layers, message):
    with pytest.raises(ValueError, match=message):
        LayerSelection(layers)
    with pytest.raises(ValueError, match=message):
        Jacobian(layers=layers)


def test_selection_unknown_layer_lists_the_available_ones():
    with pytest.raises(ValueError, match="hidden"):
        LayerSelection("nope").bind(Penalty(name="p"), mlp())


@pytest.mark.parametrize(
    "make, leading",
    [(lambda: ki.penalties.ActivationDistance(layers=["hidden", "logits"]), 1),
     (lambda: NoiseRegularization(layers=["hidden", "logits"]), 2)],
    ids=["activation_distance", "noise_regularization"],
)
def test_selection_loads_a_legacy_store_with_energies(make, leading):
    # 0.2 saved a first-step energy after each γ_ℓ; the selection skips them.
    saved = make()
    saved.bind(mlp())
    saved.layer_weights["hidden"].assign(0.25)
    saved.layer_weights["logits"].assign(0.75)
    store = {}
    saved.save_own_variables(store)
    values = [store[str(i)] for i in range(leading)]
    for gamma in (0.25, 0.75):
        values += [np.float32(gamma), np.float32(99.0)]
    legacy = {str(i): v for i, v in enumerate(values)}
    legacy.update({k: v for k, v in store.items() if not k.isdigit()})
    fresh = make()
    fresh.bind(mlp())
    fresh.load_own_variables(legacy)
    assert float(fresh.layer_weights["hidden"]) == 0.25
    assert float(fresh.layer_weights["logits"]) == 0.75
