"""Bucket arithmetic of the Numba tier: pure's `_Token` and `_Leaky`, line by line, as kernels.

Every kernel performs pure's double operations in pure's order, and none uses fastmath (LLVM
then never fuses a multiply and an add), so every decision equals pure's.

A bucket's state is two float64s, value (tokens or level) and last. The generic kernels take
the bucket kind (TOKEN or LEAKY) as an argument: `take` decides on a bucket stored anywhere
in a 2-D array (the keyed limiter's slots and table rows), the others on the two floats.
`ARITHMETIC` gives, per kind, the functions that `impls.ratelimit.base` calls on a single
bucket's state -- here a (1, 2) array -- with the signatures of pure's `_Token` and `_Leaky`.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from numba import njit, types

KERNEL = {"cache": True, "nogil": True}

TOKEN, LEAKY = 0, 1

F8 = types.float64
I8 = types.int64
#: Rows of buckets (value, last), or one bucket as a (1, 2) array.
BUCKETS = types.float64[:, ::1]


# ---------------------------------------------------------------------------------------
# Generic kernels, the kind an argument.
# ---------------------------------------------------------------------------------------
@njit(types.boolean(BUCKETS, I8, I8, I8, F8, F8, F8, F8), **KERNEL)
def take(rows, row, col, kind, cost, now, capacity, rate):
    """The decision on the bucket at rows[row, col] (value) and rows[row, col + 1] (last)."""
    v = rows[row, col]
    elapsed = now - rows[row, col + 1]
    if kind == TOKEN:
        if elapsed > 0.0:
            v = v + elapsed * rate
            if v > capacity:
                v = capacity
            rows[row, col + 1] = now
        admitted = v >= cost
        if admitted:
            v = v - cost
    else:
        if elapsed > 0.0:
            v = v - elapsed * rate
            if v < 0.0:
                v = 0.0
            rows[row, col + 1] = now
        admitted = v + cost <= capacity
        if admitted:
            v = v + cost
    rows[row, col] = v
    return admitted


@njit(**KERNEL)
def token_refilled(tokens, last, now, capacity, rate):
    elapsed = now - last
    if elapsed > 0.0:
        tokens = tokens + elapsed * rate
        if tokens > capacity:
            tokens = capacity
    return tokens


@njit(**KERNEL)
def leaky_drained(level, last, now, rate):
    elapsed = now - last
    if elapsed > 0.0:
        level = level - elapsed * rate
        if level < 0.0:
            level = 0.0
    return level


@njit(F8(I8, F8, F8, F8, F8, F8), **KERNEL)
def available(kind, value, last, now, capacity, rate):
    if kind == TOKEN:
        return token_refilled(value, last, now, capacity, rate)
    return capacity - leaky_drained(value, last, now, rate)


@njit(**KERNEL)
def is_full(kind, value, last, now, capacity, rate):
    if kind == TOKEN:
        return token_refilled(value, last, now, capacity, rate) >= capacity
    return leaky_drained(value, last, now, rate) <= 0.0


@njit(**KERNEL)
def full_time(kind, value, last, capacity, rate):
    if kind == TOKEN:
        return last + (capacity - value) / rate
    return last + value / rate


@njit(**KERNEL)
def _after(x):
    return np.nextafter(x, np.inf) - x


@njit(**KERNEL)
def _wait_until(ready, now):
    wait = ready - now
    step = _after(wait)
    while now + wait < ready:
        wait = wait + step
        step = step + step
    return wait


@njit(F8(I8, F8, F8, F8, F8, F8, F8), **KERNEL)
def wait(kind, value, last, cost, now, capacity, rate):
    """pure's _Token.wait / _Leaky.wait."""
    if cost > capacity:
        return np.inf
    if kind == TOKEN:
        if token_refilled(value, last, now, capacity, rate) >= cost:
            return 0.0
        ready = last + (cost - value) / rate
        step = _after(ready)
        while token_refilled(value, last, ready, capacity, rate) < cost:
            ready = ready + step
            step = step + step
    else:
        if leaky_drained(value, last, now, rate) + cost <= capacity:
            return 0.0
        ready = last + (value + cost - capacity) / rate
        step = _after(ready)
        while leaky_drained(value, last, ready, rate) + cost > capacity:
            ready = ready + step
            step = step + step
    return _wait_until(ready, now)


# ---------------------------------------------------------------------------------------
# One bucket's state as a (1, 2) array, the kind fixed: what impls.ratelimit.base calls.
# Fewer arguments than the generic kernels, so Numba's dispatcher types fewer per call.
# ---------------------------------------------------------------------------------------
_TAKE_ONE = types.boolean(BUCKETS, F8, F8, F8, F8)
_AVAILABLE_ONE = F8(BUCKETS, F8, F8, F8)
_WAIT_ONE = F8(BUCKETS, F8, F8, F8, F8)


@njit(_TAKE_ONE, **KERNEL)
def token_take(state, cost, now, capacity, rate):
    return take(state, 0, 0, TOKEN, cost, now, capacity, rate)


@njit(_TAKE_ONE, **KERNEL)
def leaky_take(state, cost, now, capacity, rate):
    return take(state, 0, 0, LEAKY, cost, now, capacity, rate)


@njit(_AVAILABLE_ONE, **KERNEL)
def token_available(state, now, capacity, rate):
    return available(TOKEN, state[0, 0], state[0, 1], now, capacity, rate)


@njit(_AVAILABLE_ONE, **KERNEL)
def leaky_available(state, now, capacity, rate):
    return available(LEAKY, state[0, 0], state[0, 1], now, capacity, rate)


@njit(_WAIT_ONE, **KERNEL)
def token_wait(state, cost, now, capacity, rate):
    return wait(TOKEN, state[0, 0], state[0, 1], cost, now, capacity, rate)


@njit(_WAIT_ONE, **KERNEL)
def leaky_wait(state, cost, now, capacity, rate):
    return wait(LEAKY, state[0, 0], state[0, 1], cost, now, capacity, rate)


def token_fresh(capacity: float, now: float) -> np.ndarray:
    """A new token bucket: full."""
    state = np.empty((1, 2))  # then two stores: half the time of np.array from nested lists
    state[0, 0] = capacity
    state[0, 1] = now
    return state


def leaky_fresh(capacity: float, now: float) -> np.ndarray:
    """A new leaky bucket: empty."""
    state = np.empty((1, 2))
    state[0, 0] = 0.0
    state[0, 1] = now
    return state


#: Per kind, the functions of one bucket's state that impls.ratelimit.base calls.
ARITHMETIC = {
    "token": SimpleNamespace(fresh=token_fresh, take=token_take, available=token_available, wait=token_wait),
    "leaky": SimpleNamespace(fresh=leaky_fresh, take=leaky_take, available=leaky_available, wait=leaky_wait),
}
