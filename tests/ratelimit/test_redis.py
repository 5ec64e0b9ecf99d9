"""The Redis tier against the lab's Redis: the same decisions as the in-process tiers for the
same timestamps, NOSCRIPT recovery, idle keys that expire, a clear LimiterUnavailable (or the
chosen fail-open / fail-closed answer) within the client's timeout, and a limiter made from a
URL that closes its own client (never one passed in)."""

import socket
import time
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impls.ratelimit import redis as rl_redis

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
keys = st.sampled_from(["a", "b", b"a", 1, "1", 2**70, "ключ"])
steps = st.one_of(st.floats(min_value=-2.0, max_value=2.0, allow_nan=False), st.just(0.0),
                  st.sampled_from([1e-9, 0.1, 1 / 3]))


def _limiter(client, prefix, kind="token", capacity=3.0, rate=2.0, **options):
    # idle_ttl: these timestamps are made up, so the real-time expiry must not cut in.
    return rl_redis.RedisLimiter(client, kind, capacity, rate, prefix=prefix, idle_ttl=3600, **options)


@SETTINGS
@given(kind=st.sampled_from(["token", "leaky"]),
       capacity=st.one_of(st.floats(min_value=0.5, max_value=50.0), st.integers(min_value=1, max_value=9)),
       rate=st.floats(min_value=1e-3, max_value=1e3),
       calls=st.lists(st.tuples(keys, st.sampled_from([1.0, 1.0, 0.5, 2.5, 100.0]), steps), min_size=1, max_size=40))
def test_decisions_equal_the_in_process_tiers(redis_client, redis_prefix, tier, kind, capacity, rate, calls):
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:8]}:"  # every example starts empty
    limiter = _limiter(redis_client, prefix, kind, capacity, rate)
    reference = tier.KeyedLimiter(kind, capacity, rate)
    t = 1_700_000_000.0  # time.time()-like magnitudes: the hard case for float rounding
    for key, cost, step in calls:
        t += step
        assert limiter.acquire(key, cost, t) == reference.acquire(key, cost, t)


@pytest.mark.parametrize("kind", ["token", "leaky"])
def test_batches_equal_the_in_process_tiers(redis_client, redis_prefix, pure, kind):
    rng = np.random.default_rng(11)
    batch = [["a", b"a", 1, "1", 2**70, "z"][i] for i in rng.integers(0, 6, size=700)]
    times = 1_700_000_000.0 + np.cumsum(rng.exponential(0.05, size=700))
    times[::9] -= 0.3  # some go backwards
    reference = pure.KeyedLimiter(kind, 4.0, 3.0)
    expected = [reference.acquire(k, 1.0, float(t)) for k, t in zip(batch, times)]
    expected += reference.acquire_many(batch[:50], float(times[-1]) + 1.0).tolist()
    # batch_size=64: the 700 keys go as 11 script calls in one pipeline
    limiter = _limiter(redis_client, redis_prefix, kind, 4.0, 3.0, batch_size=64)
    got = limiter.acquire_many(batch, times).tolist()
    got += limiter.acquire_many(batch[:50], float(times[-1]) + 1.0).tolist()
    assert got == expected
    assert limiter.acquire_many([], 0.0).tolist() == []


def test_keys_live_under_the_prefix_and_expire_when_idle(redis_client, redis_prefix):
    limiter = rl_redis.RedisLimiter(redis_client, "token", 2.0, 4.0, prefix=redis_prefix)  # full after 0.5 s
    assert limiter.acquire("k") and limiter.acquire(b"k") and limiter.acquire(7)
    stored = sorted(redis_client.scan_iter(match=redis_prefix + "*"))
    assert stored == sorted(limiter.redis_key(k) for k in ("k", b"k", 7))
    ttl_ms = redis_client.pttl(limiter.redis_key("k"))
    assert 0 < ttl_ms <= 1500  # capacity / rate + 1 s


def test_server_clock(redis_client, redis_prefix):
    limiter = rl_redis.RedisLimiter(redis_client, "token", 3.0, 1e-6, prefix=redis_prefix, clock="server")
    assert [limiter.acquire("k") for _ in range(4)] == [True, True, True, False]
    assert limiter.acquire_many(["j"] * 4).tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match="clock='server'"):
        limiter.acquire("k", now=5.0)


def test_script_is_loaded_again_after_noscript(own_server, redis_client, redis_prefix):
    limiter = _limiter(redis_client, redis_prefix, batch_size=10)
    assert limiter.acquire("a", 1.0, 0.0)
    redis_client.script_flush()
    assert limiter.acquire("a", 1.0, 0.0)  # NOSCRIPT -> SCRIPT LOAD -> EVALSHA again
    redis_client.script_flush()
    assert limiter.acquire_many(["b"] * 25, 0.0).tolist() == [True] * 3 + [False] * 22  # pipelined
    assert [limiter.acquire("a", 1.0, 0.0) for _ in range(2)] == [True, False]  # capacity 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_reported_within_the_timeout():
    client = rl_redis.connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    start = time.monotonic()
    with pytest.raises(rl_redis.LimiterUnavailable, match="ConnectionError"):
        rl_redis.RedisLimiter(client, "token", 1.0, 1.0).acquire("k")
    assert time.monotonic() - start < 2.0  # refused at once; the bound is only against a hang
    assert rl_redis.RedisLimiter(client, "token", 1.0, 1.0, on_unavailable="fail_open").acquire("k") is True
    assert rl_redis.RedisLimiter(client, "token", 1.0, 1.0, on_unavailable="fail_closed").acquire("k") is False
    opened = rl_redis.RedisLimiter(client, "token", 1.0, 1.0, on_unavailable="fail_open", batch_size=2)
    assert opened.acquire_many(["a", "b", "c"]).tolist() == [True, True, True]
    closed = rl_redis.RedisLimiter(client, "leaky", 1.0, 1.0, on_unavailable="fail_closed")
    assert closed.acquire_many(["a", "b"]).tolist() == [False, False]


def test_paused_server_is_reported_within_the_timeout(own_server, redis_prefix):
    admin = rl_redis.connect(own_server.url, timeout=5.0)
    client = rl_redis.connect(own_server.url, timeout=0.2)
    limiter = rl_redis.RedisLimiter(client, "token", 5.0, 1.0, prefix=redis_prefix)
    assert limiter.acquire("k")
    pause_ms = 3000
    admin.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")  # scripts wait; CLIENT UNPAUSE does not
    try:
        start = time.monotonic()
        with pytest.raises(rl_redis.LimiterUnavailable, match="Timeout"):
            limiter.acquire("k")
        assert time.monotonic() - start < pause_ms / 1000 * 0.7  # the client's timeout, not the pause
        failing_open = rl_redis.RedisLimiter(client, "token", 5.0, 1.0, prefix=redis_prefix, on_unavailable="fail_open")
        assert failing_open.acquire_many(["k"] * 3).tolist() == [True] * 3
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    assert limiter.acquire("k")  # back, on a fresh connection


def test_a_client_that_could_hang_is_refused(redis_target):
    import redis

    with pytest.raises(ValueError, match="socket_timeout"):
        rl_redis.RedisLimiter(redis.Redis.from_url(redis_target.url, socket_timeout=None), "token", 1.0, 1.0)


BAD_INPUT = {  # the Redis tier's call, and the in-process call that takes the same bad argument
    "kind": (lambda c: rl_redis.RedisLimiter(c, "fixed", 1.0, 1.0), lambda m: m.KeyedLimiter("fixed", 1.0, 1.0)),
    "capacity": (lambda c: rl_redis.RedisLimiter(c, "token", 0.0, 1.0), lambda m: m.KeyedLimiter("token", 0.0, 1.0)),
    "rate": (lambda c: rl_redis.RedisLimiter(c, "token", 1.0, "fast"), lambda m: m.KeyedLimiter("token", 1.0, "fast")),
    "key": (lambda c: rl_redis.RedisLimiter(c, "token", 1.0, 1.0).acquire(1.5),
            lambda m: m.KeyedLimiter("token", 1.0, 1.0).acquire(1.5)),
    "cost": (lambda c: rl_redis.RedisLimiter(c, "token", 1.0, 1.0).acquire("k", -1.0),
             lambda m: m.KeyedLimiter("token", 1.0, 1.0).acquire("k", -1.0)),
    "key in a batch": (lambda c: rl_redis.RedisLimiter(c, "token", 1.0, 1.0).acquire_many(["k", None], 0.0),
                       lambda m: m.KeyedLimiter("token", 1.0, 1.0).acquire_many(["k", None], 0.0)),
    "now of a batch": (lambda c: rl_redis.RedisLimiter(c, "token", 1.0, 1.0).acquire_many(["k"], [1.0, 2.0]),
                       lambda m: m.KeyedLimiter("token", 1.0, 1.0).acquire_many(["k"], [1.0, 2.0])),
}


@pytest.mark.parametrize("via", ["client", "url"])
@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_raises_what_pure_raises(redis_client, redis_target, pure, case, via):
    """The same checks (impls.ratelimit.contract) as every tier, whether the limiter is given a
    client or a URL; nothing reaches the server."""
    redis_call, pure_call = BAD_INPUT[case]
    with pytest.raises(Exception) as expected:
        pure_call(pure)
    with pytest.raises(expected.type) as got:
        redis_call(redis_client if via == "client" else redis_target.url)
    assert str(got.value) == str(expected.value)


# --- a limiter made from a URL owns its client ---------------------------------------

def _named(url: str, name: str) -> str:
    """`url` whose connections call themselves `name` (CLIENT SETNAME), to find them in CLIENT LIST."""
    return f"{url}{'&' if '?' in url else '?'}client_name={name}"


def _connections_named(admin, name: str, expected: int, within: float = 5.0) -> int:
    """How many of the server's connections are called `name`, once that is `expected` or
    `within` seconds have passed (the server notices a closed socket a moment later)."""
    deadline = time.monotonic() + within
    while True:
        count = sum(1 for c in admin.client_list() if c.get("name") == name)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def test_a_url_makes_a_client_that_the_limiter_closes(redis_target, redis_client, redis_prefix):
    name = f"lab-test-{uuid.uuid4().hex[:12]}"
    with rl_redis.RedisLimiter(_named(redis_target.url, name), "token", 2.0, 1e-6, prefix=redis_prefix) as limiter:
        assert [limiter.acquire("k") for _ in range(3)] == [True, True, False]
        assert limiter.acquire_many(["j"] * 3).tolist() == [True, True, False]
        assert _connections_named(redis_client, name, 1) == 1
    assert _connections_named(redis_client, name, 0) == 0  # closed at the end of the with block
    closing = rl_redis.RedisLimiter(_named(redis_target.url, name), "leaky", 1.0, 1.0, prefix=redis_prefix)
    assert closing.acquire("k")
    closing.close()
    closing.close()  # closing twice is harmless
    assert _connections_named(redis_client, name, 0) == 0


def test_a_url_limiter_decides_as_a_client_limiter(redis_target, redis_client, redis_prefix):
    calls = [("a", 1.0, 0.0), ("a", 1.0, 0.0), (b"a", 2.5, 0.1), (7, 1.0, 0.2), ("a", 1.0, 0.9), ("a", 1.0, 1.4)]
    given = _limiter(redis_client, f"{redis_prefix}client:")
    with rl_redis.RedisLimiter(redis_target.url, "token", 3.0, 2.0, prefix=f"{redis_prefix}url:", idle_ttl=3600) as made:
        assert [made.acquire(*call) for call in calls] == [given.acquire(*call) for call in calls]


def test_a_client_passed_in_is_never_closed(redis_client, redis_prefix):
    with rl_redis.RedisLimiter(redis_client, "token", 2.0, 1.0, prefix=redis_prefix) as limiter:
        assert limiter.acquire("k")
        connection = redis_client.client_id()  # the pool's one connection, the limiter's too
        limiter.close()
    assert redis_client.client_id() == connection  # the same connection: never closed, still open
