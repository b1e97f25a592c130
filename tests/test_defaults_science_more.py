"""The defaults checks of tests/test_defaults_science.py on three more
families: tutorial 07's bag-of-embeddings token model (its IRL-C collapsed
to 0.40 against plain's 0.82 under 0.2's first-step energy calibration), an
attention block with LayerNorm, and a GroupNorm CNN."""

import pytest

from recipes import model_families as mf
from tests.test_defaults_science import EPOCHS
from tests.test_defaults_science import check_each_term_moves_its_target
from tests.test_defaults_science import check_no_preset_collapses
from tests.test_defaults_science import check_the_terms_are_not_inert

pytestmark = pytest.mark.science

FAMILIES = ("tokens_pool", "attention_ln", "cnn_gn")



@pytest.fixture(scope="module", params=FAMILIES)
def family_results(request):
    return request.param, mf.study(request.param, EPOCHS, seed=0)


def test_no_preset_collapses(family_results):
    check_no_preset_collapses(family_results)


def test_each_term_moves_its_target(family_results):
    check_each_term_moves_its_target(family_results)


def test_the_terms_are_not_inert(family_results):
    check_the_terms_are_not_inert(family_results)
