"""Shared fixtures: tier parametrization comes from the registry, never from a list here."""

import pytest

from impls import registry


def tier_params(family: str) -> list:
    """One pytest param per tier; an unavailable tier is a skip that names its reason."""
    params = []
    unavailable = registry.unavailable(family)
    for tier in registry.tiers(family):
        marks = [pytest.mark.skip(reason=f"{tier} unavailable: {unavailable[tier]}")] if tier in unavailable else []
        params.append(pytest.param(tier, id=tier, marks=marks))
    return params


def tier_fixture(family: str):
    """A family's `tier` fixture: each tier module of `family` in turn (see tier_params)."""

    @pytest.fixture(params=tier_params(family))
    def tier(request):
        return registry.load(family, request.param)

    return tier


def pure_fixture(family: str):
    """A family's `pure` fixture: the specification tier."""

    @pytest.fixture
    def pure():
        return registry.load(family, "pure")

    return pure


def raised_by(fn) -> tuple[type, str] | None:
    """(exception type, message) that `fn()` raises, or None: what the bad-input tests compare."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return type(exc), str(exc)
    return None


@pytest.fixture(scope="session")
def redis_target():
    """The lab's Redis for the whole session (bench.backends.redis.RedisTarget): a private
    redis-server started once and always stopped, or REDIS_URL's server -- then tests may only
    touch keys under their own prefix, and must not flush, pause or reconfigure it."""
    from bench.backends.redis import redis_target as target

    with target() as found:
        yield found
