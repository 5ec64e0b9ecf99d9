"""The Redis tier: one token or leaky bucket per key, kept in Redis and shared by every process.

`RedisLimiter` decides in a Lua script, atomically per call, with exactly the arithmetic of
`impls.ratelimit.pure` (the same double operations in the same order; Lua numbers are
doubles), so for the same keys and timestamps it makes the same decisions as the in-process
tiers. A bucket's state is its two doubles packed as 16 bytes (``struct.pack('<dd')``: exact,
no decimal round trip), written with ``PSETEX key ttl`` -- the write and its PEXPIRE in one
call, a quarter cheaper in a script than ``SET ... PX`` -- so an idle key vanishes once it
could only be full again.

* Scripts are run by EVALSHA (the SHA is computed here; nothing is sent until the first
  call) and loaded again on NOSCRIPT (a SCRIPT FLUSH, a restarted or failed-over server).
* `acquire` runs a one-key script (GET, decide, PSETEX); `acquire_many` decides up to
  `batch_size` keys per script call, in order (a key may repeat), with one MGET and one
  PSETEX per distinct key, and sends larger batches as one pipeline of such calls. Both scripts
  share the Lua `decide` function.
* Time comes from the client (`now`, default time.time(), so that every process and host
  shares one clock) and works where TIME is refused inside scripts; ``clock="server"`` uses
  the server's TIME instead. Timestamps that go backwards never refill, as in pure.
* Keys are stored as ``prefix + "s:"/"b:"/"i:" + key`` so that "1", b"1" and 1 stay three
  buckets, as in the in-process tiers.
* Unreachable or slow: every call fails within the client's socket timeouts (see `connect`;
  a client without a socket timeout is refused, since it could hang forever). What the caller
  sees then is `on_unavailable`: "raise" a `LimiterUnavailable`, "fail_open" (admit) or
  "fail_closed" (refuse).
* The limiter takes a redis-py client, which stays the caller's, or a Redis URL: then it makes
  a client of its own with `connect` and closes it in `close()` (or at the end of a with
  block).

Unlike KeyedLimiter there is no max_keys: Redis' own memory limit bounds the keys.
"""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from impls.ratelimit import contract

ON_UNAVAILABLE = ("raise", "fail_open", "fail_closed")
CLOCKS = ("client", "server")
#: Keys per script call in acquire_many: large enough to amortize a call, small enough that
#: one call never holds the (single-threaded) server for more than about a millisecond.
DEFAULT_BATCH = 500

# The bucket arithmetic, shared by both scripts: impls.ratelimit.pure's, operation for
# operation (kind 0 token, 1 leaky; v is tokens or level). Returns admitted, v, last.
_DECIDE = """
local function decide(kind, capacity, rate, cost, v, last, t)
    local elapsed = t - last
    local admitted
    if kind == 0 then
        if elapsed > 0 then
            v = v + elapsed * rate
            if v > capacity then v = capacity end
            last = t
        end
        admitted = v >= cost
        if admitted then v = v - cost end
    else
        if elapsed > 0 then
            v = v - elapsed * rate
            if v < 0 then v = 0 end
            last = t
        end
        admitted = v + cost <= capacity
        if admitted then v = v + cost end
    end
    return admitted, v, last
end
local function server_time()
    if redis.replicate_commands then redis.replicate_commands() end  -- TIME before writes (Redis < 5)
    local t = redis.call('TIME')
    return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# One key. ARGV: kind, capacity, rate, cost, ttl in ms, now ('' for the server's TIME).
# Returns 1 or 0.
_ACQUIRE = _DECIDE + """
local kind, capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = ARGV[6] == '' and server_time() or tonumber(ARGV[6])
local raw = redis.call('GET', KEYS[1])
local v, last
if raw then
    v, last = struct.unpack('<dd', raw)
elseif cost > capacity then
    return 0  -- a fresh bucket refuses it and stays full: nothing to store
else
    v, last = (kind == 0 and capacity or 0), t
end
local admitted
admitted, v, last = decide(kind, capacity, rate, cost, v, last, t)
redis.call('PSETEX', KEYS[1], ARGV[5], struct.pack('<dd', v, last))
return admitted and 1 or 0
"""

# Many keys, decided in order (a key may repeat): one MGET, then one PSETEX per distinct key.
# ARGV: kind, capacity, rate, cost, ttl in ms, then how time is given: 's' and one timestamp
# for all, 'k' and one per key, or 't' for the server's TIME. Returns '1'/'0' per key.
_ACQUIRE_MANY = _DECIDE + """
local kind, capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ttl, mode = ARGV[5], ARGV[6]
local now
if mode == 't' then now = server_time() elseif mode == 's' then now = tonumber(ARGV[7]) end
local stored = redis.call('MGET', unpack(KEYS))
local values, lasts, out = {}, {}, {}
for i = 1, #KEYS do
    local key = KEYS[i]
    local t = now
    if mode == 'k' then t = tonumber(ARGV[6 + i]) end
    local v, last = values[key], lasts[key]
    if v == nil and stored[i] then
        v, last = struct.unpack('<dd', stored[i])
    end
    if v == nil and cost > capacity then
        out[i] = '0'  -- a fresh bucket refuses it and stays full: nothing to store
    else
        if v == nil then v, last = (kind == 0 and capacity or 0), t end
        local admitted
        admitted, v, last = decide(kind, capacity, rate, cost, v, last, t)
        values[key], lasts[key] = v, last
        out[i] = admitted and '1' or '0'
    end
end
for key, v in pairs(values) do
    redis.call('PSETEX', key, ttl, struct.pack('<dd', v, lasts[key]))
end
return table.concat(out)
"""


class _Script:
    """A Lua script run by EVALSHA, loaded again when the server answers NOSCRIPT."""

    def __init__(self, body: str):
        self.body = body
        self.sha = hashlib.sha1(body.encode()).hexdigest()

    def run(self, client, keys: list, args: list):
        try:
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.body)
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


_ONE = _Script(_ACQUIRE)
_MANY = _Script(_ACQUIRE_MANY)


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(arg), arg)


class _PackedCall:
    """EVALSHA of a one-key script, its constant arguments packed (RESP) once, sent on one of
    the client's pooled connections.

    Why not client.execute_command: its generic packing and bookkeeping cost about 5 us a
    call on the lab's machine, as much as the script itself. What is kept from redis-py is
    what matters here: its connections (timeouts, reconnects) and its reply parser.
    """

    def __init__(self, script: _Script, constants: list):
        self.script = script
        self.head = b"*%d\r\n" % (7 + len(constants)) + _bulk(b"EVALSHA") + _bulk(script.sha.encode()) + _bulk(b"1")
        self.constants = b"".join(map(_bulk, constants))

    def call(self, client, key: bytes, args: tuple):
        packed = b"".join((self.head, _bulk(key), self.constants, *map(_bulk, args)))
        try:
            return self._send(client, packed)
        except redis.exceptions.NoScriptError:
            client.script_load(self.script.body)
            return self._send(client, packed)

    @staticmethod
    def _send(client, packed: bytes):
        pool = client.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command([packed])
            return connection.read_response()
        except redis.exceptions.ResponseError:
            raise  # the whole reply was read: the connection is fine
        except BaseException:
            connection.disconnect()  # a reply may still be on its way: never reuse this one
            raise
        finally:
            pool.release(connection)


class LimiterUnavailable(RuntimeError):
    """Redis could not decide within the client's timeouts (unreachable, paused, busy)."""


def connect(url: str, timeout: float = 0.25) -> redis.Redis:
    """A client whose every call fails within about `timeout` seconds: connect and read
    timeouts set, no retries (redis-py's default retries back off for seconds)."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0)


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)):
        return False  # a configuration error: failing open on it would hide it
    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    # Another script running too long, or a replica without its master: busy, not broken.
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith(("BUSY", "MASTERDOWN", "TRYAGAIN"))


class RedisLimiter:
    """One token or leaky bucket per key in Redis (see the module doc).

    `acquire(key, cost=1.0, now=None) -> bool` and `acquire_many(keys, now=None, cost=1.0)
    -> numpy bool array` decide as KeyedLimiter does for the same timestamps. Thread-safe as
    far as the client is (redis-py's is); every call is atomic in Redis, across processes.

    `client` is a redis-py client with a socket timeout (as `connect` makes them), or a Redis
    URL such as "redis://127.0.0.1:6379/0": then the limiter makes its own client with
    `connect(url)` and `close()` (or leaving a with block) closes it. A client passed in is
    never closed by the limiter.
    """

    def __init__(self, client: redis.Redis | str, kind: str, capacity: float, rate: float, prefix: str = "lab:rl:",
                 clock: str = "client", on_unavailable: str = "raise", idle_ttl: float | None = None,
                 batch_size: int = DEFAULT_BATCH):
        self._kind = contract.check_kind(kind)
        self._capacity = contract.check_capacity(capacity)
        self._rate = contract.check_rate(rate)
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str, got {prefix!r}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be 'client' or 'server', got {clock!r}")
        if on_unavailable not in ON_UNAVAILABLE:
            raise ValueError(f"on_unavailable must be one of {', '.join(ON_UNAVAILABLE)}, got {on_unavailable!r}")
        owns_client = isinstance(client, str)  # a URL: made below, once every argument is checked
        if not owns_client and client.connection_pool.connection_kwargs.get("socket_timeout") is None:
            raise ValueError("the client has no socket_timeout, so a stalled server would hang every call; "
                             "set one (impls.ratelimit.redis.connect does)")
        # Idle for capacity / rate seconds, a bucket can only be full (token) or empty
        # (leaky): it may vanish. A second more absorbs skew between client and server clocks.
        ttl = (self._capacity / self._rate + 1.0) if idle_ttl is None else contract.positive_finite("idle_ttl", idle_ttl)
        self._ttl_ms = str(min(max(1, math.ceil(ttl * 1000)), 2**53)).encode()
        self._prefix = prefix
        self._prefix_bytes = prefix.encode()
        self._clock = clock
        self._on_unavailable = on_unavailable
        self._batch = int(batch_size)
        if self._batch < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        # The script's arguments that never change, encoded once.
        self._head = [b"1" if self._kind == "leaky" else b"0", repr(self._capacity).encode(),
                      repr(self._rate).encode()]
        self._one = _PackedCall(_ONE, self._head)
        self._owns_client = owns_client
        self._client = connect(client) if owns_client else client

    def close(self) -> None:
        """Close the client the limiter made from a URL; a client passed in is left open."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RedisLimiter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    kind = property(lambda self: self._kind)
    capacity = property(lambda self: self._capacity)
    rate = property(lambda self: self._rate)
    prefix = property(lambda self: self._prefix)

    def redis_key(self, key) -> bytes:
        """The Redis key of `key`'s bucket (the key checked as everywhere: str, bytes or int)."""
        key = contract.check_key(key)
        if type(key) is str:
            return self._prefix_bytes + b"s:" + key.encode()
        if type(key) is bytes:
            return self._prefix_bytes + b"b:" + key
        return self._prefix_bytes + b"i:" + str(key).encode()

    def _batch_time_args(self, now) -> list:
        if self._clock == "server":
            return [b"t"]
        if isinstance(now, float):
            return [b"s", repr(now).encode()]
        return [b"k", *map(repr, now.tolist())]

    def _when_unavailable(self, exc: BaseException, n: int) -> np.ndarray:
        """What `on_unavailable` says callers see: an error, or n admits or refusals."""
        if self._on_unavailable == "raise":
            raise LimiterUnavailable(f"rate limiter unavailable: {type(exc).__name__}: {exc}") from exc
        return np.full(n, self._on_unavailable == "fail_open", dtype=np.bool_)

    def _check_clock(self, now) -> None:
        if now is not None and self._clock == "server":
            raise ValueError("now cannot be given with clock='server': the server's TIME is used")

    def acquire(self, key, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` for `key` at `now` (default time.time(); see clock) if its bucket allows it."""
        rkey = self.redis_key(key)
        cost = contract.check_cost(cost)
        now = contract.check_now(now)
        self._check_clock(now)
        if self._clock == "server":
            stamp = b""
        else:
            stamp = repr(time.time() if now is None else now).encode()
        try:
            return self._one.call(self._client, rkey, (repr(cost).encode(), self._ttl_ms, stamp)) == 1
        except Exception as exc:
            if not _is_unavailable(exc):
                raise
            return bool(self._when_unavailable(exc, 1)[0])

    def acquire_many(self, keys, now=None, cost: float = 1.0) -> np.ndarray:
        """acquire(key, cost, t) for each key in order, as KeyedLimiter.acquire_many: `now` is
        None (the clock, read once), one timestamp for all, or one per key."""
        seq, times, cost = contract.batch_args(keys, now, cost)
        rkeys = [self.redis_key(k) for k in (seq.tolist() if isinstance(seq, np.ndarray) else seq)]
        self._check_clock(times)
        n = len(rkeys)
        if n == 0:
            return np.zeros(0, dtype=np.bool_)
        if times is None and self._clock == "client":
            times = time.time()  # one reading for the whole batch, as in-process
        head = [*self._head, repr(cost).encode(), self._ttl_ms]
        chunks = []
        for start in range(0, n, self._batch):
            part = times if times is None or isinstance(times, float) else times[start:start + self._batch]
            chunks.append((rkeys[start:start + self._batch], head + self._batch_time_args(part)))
        try:
            replies = [_MANY.run(self._client, *chunks[0])] if len(chunks) == 1 else self._pipelined(chunks)
        except Exception as exc:
            if not _is_unavailable(exc):
                raise
            return self._when_unavailable(exc, n)
        return np.frombuffer(b"".join(replies), dtype=np.uint8) == ord("1")

    def _pipelined(self, chunks: list) -> list:
        """One round trip for every chunk; chunks refused with NOSCRIPT are run again, in
        order, once the script is loaded (a flush mid-pipeline stops all that follow it)."""
        pipe = self._client.pipeline(transaction=False)
        for keys, args in chunks:
            pipe.execute_command("EVALSHA", _MANY.sha, len(keys), *keys, *args)
        replies = pipe.execute(raise_on_error=False)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
            replies = [_MANY.run(self._client, *chunk) if isinstance(r, redis.exceptions.NoScriptError) else r
                       for chunk, r in zip(chunks, replies)]
        for r in replies:
            if isinstance(r, Exception):
                raise r
        return replies
