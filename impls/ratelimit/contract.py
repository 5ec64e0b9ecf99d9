"""The rate-limiter family's contract on input: what every tier accepts, what it refuses, and how.

Every tier (pure, Numba, Cython, the Redis tier) checks its arguments here -- the compiled
tiers on their cold paths only -- so the same bad input raises the same exception type with
the same message whichever tier is used:

* a number that is not finite or not > 0 (capacity, rate, cost) -> ValueError naming it;
* something that is not a real number at all (a str, None, a bool) -> TypeError naming it;
* a key that is not str, bytes or an integer -> TypeError.

The order in which a call's arguments are checked is fixed here too (`bucket_args`,
`limiter_args`, `batch_args`), so that a call with two bad arguments fails on the same one
in every tier. The constants every tier shares (kinds, max_keys' default, the sweep
threshold, the int64 range of the compiled tiers' int-key tables) live here as well.
"""

from __future__ import annotations

import math
import numbers
import operator
import time

import numpy as np

KINDS = ("token", "leaky")
#: KeyedLimiter's default hard bound on live buckets (about 100 MB with str keys).
DEFAULT_MAX_KEYS = 1 << 20
#: A KeyedLimiter drops full buckets when it reaches this many (or max_keys, if lower),
#: then again at twice the number left, so dropping costs O(1) per new key, amortized.
SWEEP_MIN = 1024
#: Largest int key kept in the compiled tiers' integer table; bigger ints are kept as objects.
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def _real(name: str, value: object) -> float:
    """`value` as a float, or TypeError if it is not a real number (bools are not)."""
    if type(value) is float:  # the common case, without the slower ABC check below
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:  # an int too large for a double is certainly not finite
        return math.inf


def positive_finite(name: str, value: object) -> float:
    """A finite float > 0: ValueError naming the argument otherwise."""
    x = _real(name, value)
    if not (x > 0.0 and x < math.inf):  # also false for nan
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return x


def check_capacity(capacity: object) -> float:
    return positive_finite("capacity", capacity)


def check_rate(rate: object) -> float:
    return positive_finite("rate", rate)


def check_cost(cost: object) -> float:
    return positive_finite("cost", cost)


def check_now(now: object) -> float | None:
    """A finite timestamp in seconds (any sign), or None for "read the clock"."""
    if now is None:
        return None
    x = _real("now", now)
    if not math.isfinite(x):
        raise ValueError(f"now must be a finite number of seconds, got {now!r}")
    return x


def timestamp(now: object) -> float:
    """check_now(now), with None read from time.monotonic(): the time a call decides at."""
    checked = check_now(now)
    return time.monotonic() if checked is None else checked


def check_kind(kind: object) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be 'token' or 'leaky', got {type(kind).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be 'token' or 'leaky', got {kind!r}")
    return kind


def check_max_keys(max_keys: object) -> int:
    if isinstance(max_keys, bool) or not isinstance(max_keys, numbers.Integral):
        raise TypeError(f"max_keys must be an int, got {type(max_keys).__name__}")
    max_keys = int(max_keys)
    if not 1 <= max_keys <= INT64_MAX:
        raise ValueError(f"max_keys must be between 1 and 2**63-1, got {max_keys}")
    return max_keys


def bucket_args(capacity: object, rate: object, now: object) -> tuple[float, float, float | None]:
    """TokenBucket / LeakyBucket constructor arguments, checked in this order."""
    return check_capacity(capacity), check_rate(rate), check_now(now)


def limiter_args(kind: object, capacity: object, rate: object, max_keys: object) -> tuple[str, float, float, int]:
    """KeyedLimiter constructor arguments, checked in this order."""
    return check_kind(kind), check_capacity(capacity), check_rate(rate), check_max_keys(max_keys)


def key_type_error(key: object) -> TypeError:
    return TypeError(f"key must be str, bytes or int, got {type(key).__name__}")


def check_key(key: object) -> str | bytes | int:
    """The key as an exact str, bytes or int (a subclass or a numpy integer becomes its base
    value, so it names the same bucket); TypeError for anything else, bools included."""
    kind = type(key)
    if kind is str or kind is bytes or kind is int:
        return key
    if isinstance(key, bool) or isinstance(key, np.bool_):
        raise key_type_error(key)
    # The base types' own methods: a subclass cannot override what they return.
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, bytes):
        return bytes.__bytes__(key)
    if isinstance(key, (int, np.integer)):
        return operator.index(key)
    raise key_type_error(key)


def key_sequence(keys: object) -> np.ndarray | list:
    """The keys of a batch call: a 1-D int64 array when `keys` is a numpy integer array that
    fits in int64 (the compiled tiers' fast path), else a list whose items are not yet checked
    (each tier checks them in order with `check_key`, so the first bad key fails first)."""
    if isinstance(keys, np.ndarray):
        if keys.ndim != 1:
            raise ValueError(f"keys must be 1-dimensional, got {keys.ndim} dimensions")
        if keys.dtype.kind == "i" or (keys.dtype.kind == "u" and (keys.size == 0 or int(keys.max()) <= INT64_MAX)):
            return np.ascontiguousarray(keys, dtype=np.int64)
        return keys.tolist()
    if isinstance(keys, list):
        return keys
    return list(keys)  # TypeError "... is not iterable" as list() words it, in every tier


def batch_times(now: object, n: int) -> float | np.ndarray | None:
    """`now` of a batch call: None (read the clock once), one float for every key, or a
    float64 array of one finite timestamp per key."""
    if now is None:
        return None
    if np.ndim(now) == 0:
        return check_now(now.item() if isinstance(now, (np.generic, np.ndarray)) else now)
    times = np.asarray(now)
    if times.dtype.kind not in "iuf":
        raise TypeError(f"now must be a number or an array of numbers, got dtype {times.dtype}")
    times = np.ascontiguousarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size != n:
        raise ValueError(f"now must be one number or one timestamp per key ({n}), got shape {times.shape}")
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise ValueError(f"now must be finite numbers of seconds, got {times[bad[0]]} at position {bad[0]}")
    return times


def batch_args(keys: object, now: object, cost: object) -> tuple[np.ndarray | list, float | np.ndarray | None, float]:
    """acquire_many's arguments, checked in the order every tier follows: cost, the key
    sequence, now (one per key); then each tier checks the keys themselves, in order, with
    `check_key`, before it changes any state."""
    cost = check_cost(cost)
    seq = key_sequence(keys)
    return seq, batch_times(now, len(seq)), cost
