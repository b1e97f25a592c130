"""The checks of tests/test_defaults_converged.py on the other families
with shortfalls at 20 epochs: attention with LayerNorm, the BatchNorm CNN
and the 1-D CNN."""

import pytest

from tests.test_defaults_converged import converged_study

# The same checks, collected here again with this module's families.
from tests.test_defaults_converged import test_converged_presets_still_move_their_targets  # noqa: F401
from tests.test_defaults_converged import test_slow_presets_end_within_two_points_of_plain  # noqa: F401

pytestmark = pytest.mark.science

FAMILIES = ("attention_ln", "cnn_bn", "conv1d")


@pytest.fixture(scope="module", params=FAMILIES)
def converged(request):
    return converged_study(request.param)
