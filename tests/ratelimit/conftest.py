import pytest

from tests.conftest import pure_fixture, tier_fixture


tier = tier_fixture("ratelimit")
pure = pure_fixture("ratelimit")


@pytest.fixture
def redis_prefix(redis_target, request):
    """A key prefix of this test's own under the lab's; its keys are deleted afterwards (and
    only they: the server may be REDIS_URL's)."""
    import uuid

    from bench.backends.redis import LAB_PREFIX, delete_prefix
    from impls.ratelimit.redis import connect

    prefix = f"{LAB_PREFIX}test:{request.node.name[:40]}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    delete_prefix(connect(redis_target.url, timeout=5.0), prefix)


@pytest.fixture
def redis_client(redis_target):
    """A client that gives up within 5 s (generous: the machine may be loaded)."""
    from impls.ratelimit.redis import connect

    client = connect(redis_target.url, timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def own_server(redis_target):
    """The lab's private server, for tests that pause or flush it; skipped with REDIS_URL."""
    if redis_target.external:
        pytest.skip("REDIS_URL's server is not the lab's to pause or flush")
    return redis_target
