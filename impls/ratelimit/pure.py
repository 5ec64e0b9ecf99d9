"""Token and leaky buckets and a keyed limiter in plain Python: the specification of the family.

Every tier makes exactly the same decisions for the same calls and timestamps, because each
one performs the same IEEE double operations in the same order (no fast-math anywhere):

Token bucket, state ``(tokens, last)``, starts full ``(capacity, now)``::

    elapsed = now - last
    if elapsed > 0:                      # a timestamp that goes backwards never refills
        tokens = tokens + elapsed * rate
        if tokens > capacity: tokens = capacity
        last = now                       # and never moves `last` back
    admitted = tokens >= cost
    if admitted: tokens = tokens - cost

Leaky bucket (a meter), state ``(level, last)``, starts empty ``(0, now)``::

    elapsed = now - last
    if elapsed > 0:
        level = level - elapsed * rate
        if level < 0: level = 0
        last = now
    admitted = level + cost <= capacity
    if admitted: level = level + cost

So tokens stay in ``[0, capacity]`` and the level in ``[0, capacity]``, whatever the
timestamps; a ``cost`` above ``capacity`` is never admitted. ``retry_after`` is the wait
after which that acquire *would* be admitted, found so that float rounding cannot make it an
ulp too short (see `_ready_time`).

KeyedLimiter keeps one bucket per key. A bucket that is full again (tokens back at capacity,
level back at 0) carries no information, so sweeps drop it: a sweep drops every bucket full at
the `now` of the call that triggers it. A new key triggers one when the limiter holds
`sweep_at` buckets: at first min(1024, max_keys), after each sweep twice what is left (at most
max_keys), so sweeping costs O(1) per new key, amortized, and memory stays within twice the
keys active in one refill period. With `max_keys` buckets a new key is *refused* (acquire
returns False) until a sweep makes room -- dropping a live bucket instead would forget what
its key has spent and over-admit it; keys that have a bucket are unaffected. At that bound a
sweep is only tried from `_full_at` on: the moment an eighth of the buckets kept by the last
sweep can be full again (never before the instant after it). A flood of new keys therefore
costs O(1) each, and a refused key waits at most about one refill period (capacity / rate).

Thread safety: every method of every class holds the object's lock, so concurrent calls
behave as if made one at a time in some order -- many threads on one limiter never admit
more than ``capacity + rate * elapsed`` per key.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from impls.ratelimit import checks

_INF = math.inf


# ---------------------------------------------------------------------------------------
# Bucket arithmetic on a state list [value, last]: value is tokens (token) or level (leaky).
# ---------------------------------------------------------------------------------------
def token_refilled(tokens: float, last: float, now: float, capacity: float, rate: float) -> float:
    elapsed = now - last
    if elapsed > 0.0:
        tokens = tokens + elapsed * rate
        if tokens > capacity:
            tokens = capacity
    return tokens


def leaky_drained(level: float, last: float, now: float, rate: float) -> float:
    elapsed = now - last
    if elapsed > 0.0:
        level = level - elapsed * rate
        if level < 0.0:
            level = 0.0
    return level


def _after(x: float) -> float:
    """The gap from x to the next double up (the first step of a doubling search)."""
    return math.nextafter(x, _INF) - x


def _wait_until(ready: float, now: float) -> float:
    """A wait w with now + w >= ready in double arithmetic (ready > now)."""
    wait = ready - now
    step = _after(wait)
    while now + wait < ready:
        wait = wait + step
        step = step + step
    return wait


class _Token:
    """Token-bucket arithmetic; every method mirrors the compiled tiers line by line."""

    @staticmethod
    def fresh(capacity: float, now: float) -> list:
        return [capacity, now]

    @staticmethod
    def take(state: list, cost: float, now: float, capacity: float, rate: float) -> bool:
        tokens, last = state
        elapsed = now - last
        if elapsed > 0.0:
            tokens = tokens + elapsed * rate
            if tokens > capacity:
                tokens = capacity
            last = now
        admitted = tokens >= cost
        if admitted:
            tokens = tokens - cost
        state[0] = tokens
        state[1] = last
        return admitted

    @staticmethod
    def available(state: list, now: float, capacity: float, rate: float) -> float:
        return token_refilled(state[0], state[1], now, capacity, rate)

    @staticmethod
    def is_full(state: list, now: float, capacity: float, rate: float) -> bool:
        return token_refilled(state[0], state[1], now, capacity, rate) >= capacity

    @staticmethod
    def full_time(state: list, capacity: float, rate: float) -> float:
        return state[1] + (capacity - state[0]) / rate

    @staticmethod
    def wait(state: list, cost: float, now: float, capacity: float, rate: float) -> float:
        if cost > capacity:
            return _INF
        tokens, last = state
        if token_refilled(tokens, last, now, capacity, rate) >= cost:
            return 0.0
        # When the refill reaches cost in exact arithmetic, then nudged up (by doubling
        # steps) until the refill as acquire computes it agrees: rounding may leave it short.
        ready = last + (cost - tokens) / rate
        step = _after(ready)
        while token_refilled(tokens, last, ready, capacity, rate) < cost:
            ready = ready + step
            step = step + step
        return _wait_until(ready, now)


class _Leaky:
    """Leaky-bucket (meter) arithmetic; every method mirrors the compiled tiers line by line."""

    @staticmethod
    def fresh(capacity: float, now: float) -> list:
        return [0.0, now]

    @staticmethod
    def take(state: list, cost: float, now: float, capacity: float, rate: float) -> bool:
        level, last = state
        elapsed = now - last
        if elapsed > 0.0:
            level = level - elapsed * rate
            if level < 0.0:
                level = 0.0
            last = now
        admitted = level + cost <= capacity
        if admitted:
            level = level + cost
        state[0] = level
        state[1] = last
        return admitted

    @staticmethod
    def available(state: list, now: float, capacity: float, rate: float) -> float:
        return capacity - leaky_drained(state[0], state[1], now, rate)

    @staticmethod
    def is_full(state: list, now: float, capacity: float, rate: float) -> bool:
        return leaky_drained(state[0], state[1], now, rate) <= 0.0

    @staticmethod
    def full_time(state: list, capacity: float, rate: float) -> float:
        return state[1] + state[0] / rate

    @staticmethod
    def wait(state: list, cost: float, now: float, capacity: float, rate: float) -> float:
        if cost > capacity:
            return _INF
        level, last = state
        if leaky_drained(level, last, now, rate) + cost <= capacity:
            return 0.0
        ready = last + (level + cost - capacity) / rate
        step = _after(ready)
        while leaky_drained(level, last, ready, rate) + cost > capacity:
            ready = ready + step
            step = step + step
        return _wait_until(ready, now)


_KINDS = {"token": _Token, "leaky": _Leaky}



# ---------------------------------------------------------------------------------------
# Single buckets
# ---------------------------------------------------------------------------------------
class _Bucket:
    _ops: type

    def __init__(self, capacity: float, rate: float, now: float | None = None):
        self._capacity, self._rate, start = checks.bucket_args(capacity, rate, now)
        self._state = self._ops.fresh(self._capacity, checks.timestamp(start))
        self._lock = threading.Lock()

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def rate(self) -> float:
        return self._rate

    def acquire(self, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` at `now` (default time.monotonic()) if the bucket allows it."""
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            return self._ops.take(self._state, cost, now, self._capacity, self._rate)

    def tokens(self, now: float | None = None) -> float:
        """What could be acquired at `now` (nothing changes)."""
        now = checks.timestamp(now)
        with self._lock:
            return self._ops.available(self._state, now, self._capacity, self._rate)

    def retry_after(self, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(cost) would be admitted (0.0 if now; inf if
        cost > capacity). An acquire at exactly now + retry_after is admitted, unless
        another acquire came first."""
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            return self._ops.wait(self._state, cost, now, self._capacity, self._rate)


class TokenBucket(_Bucket):
    """A bucket of `capacity` tokens refilled at `rate` per second; starts full.

    `acquire(cost)` refills ``tokens = min(capacity, tokens + max(0, now - last) * rate)``,
    then admits and subtracts if ``tokens >= cost``. Thread-safe (a lock per bucket).
    """

    _ops = _Token


class LeakyBucket(_Bucket):
    """A meter whose level drains at `rate` per second; starts empty.

    `acquire(cost)` admits (and adds cost) if ``level + cost <= capacity``; `tokens()` is the
    room left, ``capacity - level``. Thread-safe (a lock per bucket).
    """

    _ops = _Leaky


# ---------------------------------------------------------------------------------------
# One bucket per key
# ---------------------------------------------------------------------------------------
class KeyedLimiter:
    """One token or leaky bucket per key (str, bytes or int); memory bounded by `max_keys`.

    Full buckets are dropped (a new one would be identical); past `max_keys` live buckets a
    new key is refused until one refills -- see the module doc. Thread-safe (one lock).
    """

    def __init__(self, kind: str, capacity: float, rate: float, max_keys: int = checks.DEFAULT_MAX_KEYS):
        self._kind, self._capacity, self._rate, self._max_keys = checks.limiter_args(kind, capacity, rate, max_keys)
        self._ops = _KINDS[self._kind]
        self._buckets: dict = {}
        self._sweep_at = min(checks.SWEEP_MIN, self._max_keys)
        self._full_at = -_INF  # at max_keys, no sweep before this moment (see the module doc)
        self._lock = threading.Lock()

    kind = property(lambda self: self._kind)
    capacity = property(lambda self: self._capacity)
    rate = property(lambda self: self._rate)
    max_keys = property(lambda self: self._max_keys)

    def __len__(self) -> int:
        """The number of live (not full) buckets."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        """Drop every bucket that is full at `now`; note when an eighth of the rest can be."""
        ops, capacity, rate = self._ops, self._capacity, self._rate
        fulls = []
        for key, state in list(self._buckets.items()):
            if ops.is_full(state, now, capacity, rate):
                del self._buckets[key]
            else:
                fulls.append(ops.full_time(state, capacity, rate))
        # Never before the next instant: a repeated sweep at the same `now` finds nothing.
        after = math.nextafter(now, _INF)
        if fulls:
            fulls.sort()
            nth = fulls[max(1, len(fulls) // 8) - 1]
            self._full_at = nth if nth > after else after
        else:
            self._full_at = after
        self._sweep_at = min(self._max_keys, max(checks.SWEEP_MIN, 2 * len(self._buckets)))

    def _has_room(self, now: float) -> bool:
        n = len(self._buckets)
        if n >= self._sweep_at and (n < self._max_keys or now >= self._full_at):
            self._sweep(now)
        return len(self._buckets) < self._max_keys

    def _acquire(self, key, cost: float, now: float) -> bool:
        state = self._buckets.get(key)
        if state is not None:
            return self._ops.take(state, cost, now, self._capacity, self._rate)
        # A fresh bucket refuses cost > capacity and stays full: nothing worth storing.
        if cost > self._capacity or not self._has_room(now):
            return False
        state = self._ops.fresh(self._capacity, now)
        self._buckets[key] = state
        return self._ops.take(state, cost, now, self._capacity, self._rate)

    def acquire(self, key, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` for `key` at `now` (default time.monotonic()) if its bucket allows it."""
        key = checks.check_key(key)
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            return self._acquire(key, cost, now)

    def acquire_many(self, keys, now=None, cost: float = 1.0) -> np.ndarray:
        """acquire(key, cost, t) for each key in order: a numpy bool array of the decisions.

        `keys`: a sequence of keys or a numpy integer array; `now`: None (the clock, read
        once), one timestamp for all, or one per key. Bad input raises before any decision.
        """
        seq, times, cost = checks.batch_args(keys, now, cost)
        keys = seq.tolist() if isinstance(seq, np.ndarray) else [checks.check_key(k) for k in seq]
        if times is None:
            times = time.monotonic()
        out = np.zeros(len(keys), dtype=np.bool_)
        with self._lock:
            if isinstance(times, float):
                for i, key in enumerate(keys):
                    out[i] = self._acquire(key, cost, times)
            else:
                for i, (key, t) in enumerate(zip(keys, times.tolist())):
                    out[i] = self._acquire(key, cost, t)
        return out

    def tokens(self, key, now: float | None = None) -> float:
        """What `key` could acquire at `now` (capacity for a key without a bucket)."""
        key = checks.check_key(key)
        now = checks.timestamp(now)
        with self._lock:
            state = self._buckets.get(key)
            if state is None:
                return self._capacity
            return self._ops.available(state, now, self._capacity, self._rate)

    def retry_after(self, key, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(key, cost) would be admitted (see TokenBucket).

        Ignores max_keys: a new key's wait is 0.0 even when the limiter is full."""
        key = checks.check_key(key)
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            state = self._buckets.get(key)
            if state is None:
                state = self._ops.fresh(self._capacity, now)
            return self._ops.wait(state, cost, now, self._capacity, self._rate)


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
