"""The defaults checks of tests/test_defaults_science.py on three more
families: tutorial 07's bag-of-embeddings token model (its IRL-C collapsed
to 0.40 against plain's 0.82 under 0.2's first-step energy calibration), an
attention block with LayerNorm, and a GroupNorm CNN."""

import pytest

from recipes import model_families as mf

# The same checks, collected here again with this module's families.
from tests.test_defaults_science import test_each_term_moves_its_target  # noqa: F401
from tests.test_defaults_science import test_every_preset_ends_near_plain  # noqa: F401
from tests.test_defaults_science import test_the_terms_are_not_inert  # noqa: F401

pytestmark = pytest.mark.science

FAMILIES = ("tokens_pool", "attention_ln", "cnn_gn")


@pytest.fixture(scope="module", params=FAMILIES)
def family_results(request):
    return request.param, mf.study(request.param, mf.EPOCHS, seed=0)
