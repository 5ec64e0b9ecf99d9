import pytest

from impls import registry
from tests.conftest import tier_params


@pytest.fixture(params=tier_params("hashring"))
def tier(request):
    """Each hash-ring tier module in turn."""
    return registry.load("hashring", request.param)


@pytest.fixture
def pure():
    return registry.load("hashring", "pure")
