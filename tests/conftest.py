"""Shared fixtures: tier parametrization comes from the registry, never from a list here."""

import pytest

from impls import registry


def tier_params(family: str) -> list:
    """One pytest param per tier; an unavailable tier is a skip that names its reason."""
    params = []
    unavailable = registry.unavailable(family)
    for tier in registry.TIERS:
        marks = [pytest.mark.skip(reason=f"{tier} unavailable: {unavailable[tier]}")] if tier in unavailable else []
        params.append(pytest.param(tier, id=tier, marks=marks))
    return params


@pytest.fixture(scope="session")
def redis_target():
    """The lab's Redis for the whole session (bench.backends.redis.RedisTarget): a private
    redis-server started once and always stopped, or REDIS_URL's server -- then tests may only
    touch keys under their own prefix, and must not flush, pause or reconfigure it."""
    from bench.backends.redis import redis_target as target

    with target() as found:
        yield found
