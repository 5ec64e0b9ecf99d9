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
ulp too short (see `_Token.wait`).

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

import numpy as np

from impls.ratelimit import contract
from impls.ratelimit.base import KeyedLimiterBase, LeakyBucketBase, TokenBucketBase

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


#: The arithmetic of each kind, as impls.ratelimit.base calls it.
ARITHMETIC = {"token": _Token, "leaky": _Leaky}


# ---------------------------------------------------------------------------------------
# The tier's classes: checks, lock and properties come from impls.ratelimit.base.
# ---------------------------------------------------------------------------------------
class TokenBucket(TokenBucketBase, arithmetic=ARITHMETIC):
    """A token bucket (see TokenBucketBase), its state a list [tokens, last]."""


class LeakyBucket(LeakyBucketBase, arithmetic=ARITHMETIC):
    """A leaky bucket (see LeakyBucketBase), its state a list [level, last]."""


class KeyedLimiter(KeyedLimiterBase, arithmetic=ARITHMETIC):
    """One token or leaky bucket per key, in a dict: key -> [value, last] (see the module doc)."""

    def _init_buckets(self) -> None:
        self._ops = ARITHMETIC[self._kind]  # is_full and full_time, for sweeps
        self._buckets: dict = {}
        self._state_of = self._buckets.get  # a dict lookup, without a Python frame
        self._sweep_at = min(contract.SWEEP_MIN, self._max_keys)
        self._full_at = -_INF  # at max_keys, no sweep before this moment (see the module doc)

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
        self._sweep_at = min(self._max_keys, max(contract.SWEEP_MIN, 2 * len(self._buckets)))

    def _has_room(self, now: float) -> bool:
        n = len(self._buckets)
        if n >= self._sweep_at and (n < self._max_keys or now >= self._full_at):
            self._sweep(now)
        return len(self._buckets) < self._max_keys

    def _acquire(self, key, cost: float, now: float) -> bool:
        state = self._buckets.get(key)
        if state is not None:
            return self._take(state, cost, now, self._capacity, self._rate)
        # A fresh bucket refuses cost > capacity and stays full: nothing worth storing.
        if cost > self._capacity or not self._has_room(now):
            return False
        state = self._fresh(self._capacity, now)
        self._buckets[key] = state
        return self._take(state, cost, now, self._capacity, self._rate)

    def _acquire_many(self, keys, times, cost: float) -> np.ndarray:
        if isinstance(keys, np.ndarray):
            keys = keys.tolist()
        out = np.zeros(len(keys), dtype=np.bool_)
        if isinstance(times, float):
            for i, key in enumerate(keys):
                out[i] = self._acquire(key, cost, times)
        else:
            for i, (key, t) in enumerate(zip(keys, times.tolist())):
                out[i] = self._acquire(key, cost, t)
        return out


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
