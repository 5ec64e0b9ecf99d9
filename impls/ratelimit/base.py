"""The Python layer the pure and Numba tiers share: argument checks, the lock, the properties.

A call here checks its arguments (in the contract's order, with the contract's errors), reads
the clock if no `now` is given, takes the object's lock and hands the checked values to the
tier. A tier subclasses these classes and names its bucket arithmetic::

    class TokenBucket(TokenBucketBase, arithmetic=ARITHMETIC):
        ...

`ARITHMETIC` maps each kind ("token", "leaky") to the tier's functions of one bucket's state,
with the signatures of pure's `_Token` and `_Leaky` (the model, and the specification)::

    fresh(capacity, now) -> state                     a new bucket: full (token), empty (leaky)
    take(state, cost, now, capacity, rate) -> bool    acquire's decision; updates the state
    available(state, now, capacity, rate) -> float    what could be acquired at `now`
    wait(state, cost, now, capacity, rate) -> float   the wait until acquire(cost) is admitted

They are bound to each object when it is made, so `acquire` calls the tier's `take` itself:
the shared layer adds no Python call to the hot path. A keyed limiter's tier also provides
its store of buckets (see KeyedLimiterBase).

The Cython tier cannot share this layer (a cdef class has no cheap Python base); it calls
the same `impls.ratelimit.contract` functions on its cold paths instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from impls.ratelimit import contract


class _TierArithmetic:
    """Subclasses name their tier's arithmetic: ``class X(Base, arithmetic=ARITHMETIC)``."""

    _arithmetic: Mapping[str, Any]

    def __init_subclass__(cls, arithmetic: Mapping[str, Any] | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if arithmetic is not None:
            cls._arithmetic = arithmetic

    def _bind_arithmetic(self, kind: str) -> None:
        ops = self._arithmetic[kind]
        self._fresh, self._take, self._available, self._wait = ops.fresh, ops.take, ops.available, ops.wait


# ---------------------------------------------------------------------------------------
# Single buckets
# ---------------------------------------------------------------------------------------
class BucketBase(_TierArithmetic):
    """A single token or leaky bucket (see TokenBucketBase and LeakyBucketBase)."""

    _kind: str  # "token" or "leaky"

    def __init__(self, capacity: float, rate: float, now: float | None = None):
        self._capacity, self._rate, start = contract.bucket_args(capacity, rate, now)
        self._bind_arithmetic(self._kind)
        self._state = self._fresh(self._capacity, contract.timestamp(start))
        self._lock = threading.Lock()

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def rate(self) -> float:
        return self._rate

    def acquire(self, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` at `now` (default time.monotonic()) if the bucket allows it."""
        cost = contract.check_cost(cost)
        now = contract.timestamp(now)
        with self._lock:
            return self._take(self._state, cost, now, self._capacity, self._rate)

    def tokens(self, now: float | None = None) -> float:
        """What could be acquired at `now` (nothing changes)."""
        now = contract.timestamp(now)
        with self._lock:
            return self._available(self._state, now, self._capacity, self._rate)

    def retry_after(self, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(cost) would be admitted (0.0 if now; inf if
        cost > capacity). An acquire at exactly now + retry_after is admitted, unless
        another acquire came first."""
        cost = contract.check_cost(cost)
        now = contract.timestamp(now)
        with self._lock:
            return self._wait(self._state, cost, now, self._capacity, self._rate)


class TokenBucketBase(BucketBase):
    """A bucket of `capacity` tokens refilled at `rate` per second; starts full.

    `acquire(cost)` refills ``tokens = min(capacity, tokens + max(0, now - last) * rate)``,
    then admits and subtracts if ``tokens >= cost``. Thread-safe (a lock per bucket).
    """

    _kind = "token"


class LeakyBucketBase(BucketBase):
    """A meter whose level drains at `rate` per second; starts empty.

    `acquire(cost)` admits (and adds cost) if ``level + cost <= capacity``; `tokens()` is the
    room left, ``capacity - level``. Thread-safe (a lock per bucket).
    """

    _kind = "leaky"


# ---------------------------------------------------------------------------------------
# One bucket per key
# ---------------------------------------------------------------------------------------
class KeyedLimiterBase(_TierArithmetic):
    """One token or leaky bucket per key (str, bytes or int); memory bounded by `max_keys`.

    Full buckets are dropped (a new one would be identical); past `max_keys` live buckets a
    new key is refused until one refills -- see impls.ratelimit.pure. Thread-safe (one lock).

    Besides its arithmetic, a tier provides the store of buckets; every hook but the first
    is called with the lock held, with arguments already checked:

    * `_init_buckets()`: an empty store (the checked arguments are set);
    * `_acquire(key, cost, now) -> bool`: pure's KeyedLimiter._acquire;
    * `_acquire_many(keys, times, cost) -> numpy bool array`: `_acquire` of each key in
      order; `keys` a list of checked keys or an int64 array, `times` one float or an array;
    * `_state_of(key)`: the key's bucket state, or None if it has no bucket;
    * `__len__()`: the number of live buckets.
    """

    def __init__(self, kind: str, capacity: float, rate: float, max_keys: int = contract.DEFAULT_MAX_KEYS):
        self._kind, self._capacity, self._rate, self._max_keys = contract.limiter_args(kind, capacity, rate, max_keys)
        self._bind_arithmetic(self._kind)
        self._lock = threading.Lock()
        self._init_buckets()

    kind = property(lambda self: self._kind)
    capacity = property(lambda self: self._capacity)
    rate = property(lambda self: self._rate)
    max_keys = property(lambda self: self._max_keys)

    def acquire(self, key, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` for `key` at `now` (default time.monotonic()) if its bucket allows it."""
        key = contract.check_key(key)
        cost = contract.check_cost(cost)
        now = contract.timestamp(now)
        with self._lock:
            return self._acquire(key, cost, now)

    def acquire_many(self, keys, now=None, cost: float = 1.0) -> np.ndarray:
        """acquire(key, cost, t) for each key in order: a numpy bool array of the decisions.

        `keys`: a sequence of keys or a numpy integer array; `now`: None (the clock, read
        once), one timestamp for all, or one per key. Bad input raises before any decision.
        """
        seq, times, cost = contract.batch_args(keys, now, cost)
        if not isinstance(seq, np.ndarray):
            seq = [k if type(k) is str or type(k) is bytes or type(k) is int else contract.check_key(k) for k in seq]
        if times is None:
            times = time.monotonic()
        with self._lock:
            return self._acquire_many(seq, times, cost)

    def tokens(self, key, now: float | None = None) -> float:
        """What `key` could acquire at `now` (capacity for a key without a bucket)."""
        key = contract.check_key(key)
        now = contract.timestamp(now)
        with self._lock:
            state = self._state_of(key)
            if state is None:
                return self._capacity
            return self._available(state, now, self._capacity, self._rate)

    def retry_after(self, key, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(key, cost) would be admitted (see TokenBucketBase).

        Ignores max_keys: a new key's wait is 0.0 even when the limiter is full."""
        key = contract.check_key(key)
        cost = contract.check_cost(cost)
        now = contract.timestamp(now)
        with self._lock:
            state = self._state_of(key)
            if state is None:  # as for a fresh bucket (full, or empty): it admits any cost <= capacity at once
                return 0.0 if cost <= self._capacity else math.inf
            return self._wait(state, cost, now, self._capacity, self._rate)
