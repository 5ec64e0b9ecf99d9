"""Token and leaky buckets and a keyed limiter, Numba tier.

Same contract as `impls.ratelimit.pure` (the specification), decision for decision: the
kernels below perform pure's double operations in pure's order, and no kernel uses fastmath
(LLVM then never fuses a multiply and an add). Arguments are checked in Python with
`impls.ratelimit.checks`, in pure's order, before any kernel runs.

KeyedLimiter layout. Int keys that fit in int64 live in an open-addressing table whose
rows hold the key and its bucket together (key, used, value, last: one cache line per
decision; the two floats are stored in the int64 array and read through a float64 view).
Every other key (str, bytes, larger ints) is looked up in a Python dict, before a kernel
runs, for a slot: a row of `buckets` (value, last). A slot is FREE, OBJ (a dict key's
bucket) or DEAD (a dict key without a bucket: reserved for a new key, or swept). Sweeps
happen inside the kernel (pure's rule, exactly); dict keys left DEAD are removed afterwards,
in Python. When a batch needs more slots or a larger table, the kernel stops at that key,
Python grows the arrays, and the kernel resumes there.

Thread safety: every method holds the object's lock (the kernels release the GIL, so the
lock is what keeps two threads from changing one state at once).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from numba import njit, types

from impls.ratelimit import checks

_KERNEL = {"cache": True, "nogil": True}

TOKEN, LEAKY = 0, 1
# Slot states (dict keys' buckets)
FREE, OBJ, DEAD = 0, 1, 2
# Int-table columns: the key, 1 if the row is used, then (as float64 bits) value and last
KEY, USED, VALUE = 0, 1, 2
# meta[] fields (int64)
NSLOTS, NFREE, TCOUNT, NOBJ, SWEEP_AT, MAX_KEYS, DEADS, STOP = range(8)
META_SIZE = 8
# fmeta[] fields (float64)
FULL_AT = 0
# Why a batch stopped before its end
STOP_TABLE = 1

_F8 = types.float64
_I8 = types.int64
_BUCKETS = types.float64[:, ::1]
_F8_1D = types.float64[::1]
_I8_1D = types.int64[::1]
_I1_1D = types.int8[::1]
_U1_1D = types.uint8[::1]
_F8_IN = types.Array(types.float64, 1, "C", readonly=True)
_I8_IN = types.Array(types.int64, 1, "C", readonly=True)
_U1_IN = types.Array(types.uint8, 1, "C", readonly=True)


# ---------------------------------------------------------------------------------------
# Bucket arithmetic, as pure's _Token and _Leaky, line by line.
# ---------------------------------------------------------------------------------------
@njit(types.boolean(_BUCKETS, _I8, _I8, _I8, _F8, _F8, _F8, _F8), **_KERNEL)
def _take(rows, row, col, kind, cost, now, capacity, rate):
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


@njit(**_KERNEL)
def _token_refilled(tokens, last, now, capacity, rate):
    elapsed = now - last
    if elapsed > 0.0:
        tokens = tokens + elapsed * rate
        if tokens > capacity:
            tokens = capacity
    return tokens


@njit(**_KERNEL)
def _leaky_drained(level, last, now, rate):
    elapsed = now - last
    if elapsed > 0.0:
        level = level - elapsed * rate
        if level < 0.0:
            level = 0.0
    return level


@njit(_F8(_I8, _F8, _F8, _F8, _F8, _F8), **_KERNEL)
def _available(kind, value, last, now, capacity, rate):
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate)
    return capacity - _leaky_drained(value, last, now, rate)


@njit(**_KERNEL)
def _is_full(kind, value, last, now, capacity, rate):
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate) >= capacity
    return _leaky_drained(value, last, now, rate) <= 0.0


@njit(**_KERNEL)
def _full_time(kind, value, last, capacity, rate):
    if kind == TOKEN:
        return last + (capacity - value) / rate
    return last + value / rate


@njit(**_KERNEL)
def _after(x):
    return np.nextafter(x, np.inf) - x


@njit(**_KERNEL)
def _wait_until(ready, now):
    wait = ready - now
    step = _after(wait)
    while now + wait < ready:
        wait = wait + step
        step = step + step
    return wait


@njit(_F8(_I8, _F8, _F8, _F8, _F8, _F8, _F8), **_KERNEL)
def _wait(kind, value, last, cost, now, capacity, rate):
    """pure's _Token.wait / _Leaky.wait."""
    if cost > capacity:
        return np.inf
    if kind == TOKEN:
        if _token_refilled(value, last, now, capacity, rate) >= cost:
            return 0.0
        ready = last + (cost - value) / rate
        step = _after(ready)
        while _token_refilled(value, last, ready, capacity, rate) < cost:
            ready = ready + step
            step = step + step
    else:
        if _leaky_drained(value, last, now, rate) + cost <= capacity:
            return 0.0
        ready = last + (value + cost - capacity) / rate
        step = _after(ready)
        while _leaky_drained(value, last, ready, rate) + cost > capacity:
            ready = ready + step
            step = step + step
    return _wait_until(ready, now)


# ---------------------------------------------------------------------------------------
# The int-key table: linear probing, load kept <= 1/2, rebuilt (never deleted from).
# ---------------------------------------------------------------------------------------
_TABLE = types.int64[:, ::1]


@njit(**_KERNEL)
def _mix(key):
    """splitmix64's finalizer: consecutive ints land far apart in the table."""
    x = np.uint64(key)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(_I8(_TABLE, _I8), **_KERNEL)
def _tfind(table, key):
    """The key's row, or -1."""
    mask = np.uint64(table.shape[0] - 1)
    i = np.int64(_mix(key) & mask)
    while table[i, USED]:
        if table[i, KEY] == key:
            return i
        i = np.int64((np.uint64(i) + np.uint64(1)) & mask)
    return -1


@njit(**_KERNEL)
def _tput(table, key):
    """A new row for a key known to be absent (the table has room)."""
    mask = np.uint64(table.shape[0] - 1)
    i = np.int64(_mix(key) & mask)
    while table[i, USED]:
        i = np.int64((np.uint64(i) + np.uint64(1)) & mask)
    table[i, KEY] = key
    table[i, USED] = 1
    return i


@njit(_TABLE(_TABLE, _I8), **_KERNEL)
def _rehash(table, size):
    new = np.zeros((size, 4), dtype=np.int64)
    for i in range(table.shape[0]):
        if table[i, USED]:
            row = _tput(new, table[i, KEY])
            new[row, VALUE] = table[i, VALUE]  # the float bits, copied as they are
            new[row, VALUE + 1] = table[i, VALUE + 1]
    return new


def _table_size(count: int) -> int:
    size = 16
    while size < 2 * (count + 1):
        size *= 2
    return size


# ---------------------------------------------------------------------------------------
# Keyed decisions
# ---------------------------------------------------------------------------------------
@njit(**_KERNEL)
def _kth_smallest(values, n, k):
    """The k-th smallest (from 0) of values[:n], reordering them: quickselect. A loop of our
    own rather than np.sort or np.partition, whose generic code takes seconds to compile."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = values[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return values[k]
    return values[k]


@njit(**_KERNEL)
def _sweep(buckets, slot_kind, free, meta, fmeta, table, kind, now, capacity, rate):
    """pure's _sweep: drop every bucket full at `now`; note when an eighth of the rest can be."""
    fulls = np.empty(meta[TCOUNT] + meta[NOBJ], dtype=np.float64)
    nfull = 0
    for slot in range(meta[NSLOTS]):  # dict keys' buckets: DEAD until Python forgets the key
        if slot_kind[slot] == OBJ:
            if _is_full(kind, buckets[slot, 0], buckets[slot, 1], now, capacity, rate):
                slot_kind[slot] = DEAD
                meta[NOBJ] -= 1
                meta[DEADS] += 1
            else:
                fulls[nfull] = _full_time(kind, buckets[slot, 0], buckets[slot, 1], capacity, rate)
                nfull += 1
    ftab = table.view(np.float64)
    kept = np.empty(3 * meta[TCOUNT], dtype=np.int64)  # key, value bits, last bits
    nkept = 0
    for i in range(table.shape[0]):  # int keys: keep the live rows, then reinsert them
        if not table[i, USED]:
            continue
        table[i, USED] = 0
        if _is_full(kind, ftab[i, VALUE], ftab[i, VALUE + 1], now, capacity, rate):
            continue
        fulls[nfull] = _full_time(kind, ftab[i, VALUE], ftab[i, VALUE + 1], capacity, rate)
        nfull += 1
        kept[3 * nkept] = table[i, KEY]
        kept[3 * nkept + 1] = table[i, VALUE]
        kept[3 * nkept + 2] = table[i, VALUE + 1]
        nkept += 1
    for j in range(nkept):
        row = _tput(table, kept[3 * j])
        table[row, VALUE] = kept[3 * j + 1]
        table[row, VALUE + 1] = kept[3 * j + 2]
    meta[TCOUNT] = nkept
    after = np.nextafter(now, np.inf)
    fmeta[FULL_AT] = after
    if nfull:
        nth = _kth_smallest(fulls, nfull, max(1, nfull // 8) - 1)
        if nth > after:
            fmeta[FULL_AT] = nth
    meta[SWEEP_AT] = min(meta[MAX_KEYS], max(checks.SWEEP_MIN, 2 * (meta[TCOUNT] + meta[NOBJ])))


@njit(**_KERNEL)
def _has_room(buckets, slot_kind, free, meta, fmeta, table, kind, now, capacity, rate):
    live = meta[TCOUNT] + meta[NOBJ]
    if live >= meta[SWEEP_AT] and (live < meta[MAX_KEYS] or now >= fmeta[FULL_AT]):
        _sweep(buckets, slot_kind, free, meta, fmeta, table, kind, now, capacity, rate)
    return meta[TCOUNT] + meta[NOBJ] < meta[MAX_KEYS]


@njit(_I8(_BUCKETS, _I1_1D, _I8_1D, _I8_1D, _F8_1D, _TABLE, _I8, _F8, _F8, _F8,
          _U1_IN, _I8_IN, _I8_IN, _F8_IN, _U1_1D, _I8), **_KERNEL)
def _decide(buckets, slot_kind, free, meta, fmeta, table, kind, capacity, rate, cost,
            is_int, ikeys, oslots, times, out, start):
    """Decide keys start.. in order (pure's KeyedLimiter._acquire each); returns where it
    stopped: len(out) when done, else the int key that needs a larger table. `is_int`
    empty: every key is in `ikeys`; `times` of size 1: one timestamp for every key."""
    n = out.size
    all_int = is_int.size == 0
    one_time = times.size == 1
    fresh = capacity if kind == TOKEN else 0.0
    ftab = table.view(np.float64)  # the same rows, to read and write the bucket floats
    for i in range(start, n):
        now = times[0] if one_time else times[i]
        if all_int or is_int[i]:
            row = _tfind(table, ikeys[i])
            if row >= 0:
                out[i] = _take(ftab, row, VALUE, kind, cost, now, capacity, rate)
                continue
            if cost > capacity:
                out[i] = False
                continue
            # Room first: a resumed key then runs _has_room exactly once, as in pure.
            if 2 * (meta[TCOUNT] + 1) > table.shape[0]:
                meta[STOP] = STOP_TABLE
                return i
            if not _has_room(buckets, slot_kind, free, meta, fmeta, table, kind, now, capacity, rate):
                out[i] = False
                continue
            row = _tput(table, ikeys[i])
            meta[TCOUNT] += 1
            ftab[row, VALUE] = fresh
            ftab[row, VALUE + 1] = now
            out[i] = _take(ftab, row, VALUE, kind, cost, now, capacity, rate)
        else:
            slot = oslots[i]
            if slot_kind[slot] == OBJ:
                out[i] = _take(buckets, slot, 0, kind, cost, now, capacity, rate)
                continue
            if cost > capacity or not _has_room(buckets, slot_kind, free, meta, fmeta, table,
                                                kind, now, capacity, rate):
                out[i] = False
                continue
            slot_kind[slot] = OBJ
            meta[NOBJ] += 1
            buckets[slot, 0] = fresh
            buckets[slot, 1] = now
            out[i] = _take(buckets, slot, 0, kind, cost, now, capacity, rate)
    meta[STOP] = 0
    return n


@njit(_I8(_TABLE, _I8, _I8, _F8, _F8, _F8, _F8), **_KERNEL)
def _take_existing_int(table, key, kind, cost, now, capacity, rate):
    """The per-call fast path for an int key with a bucket: 0/1, or -1 if it has none."""
    row = _tfind(table, key)
    if row < 0:
        return -1
    return _take(table.view(np.float64), row, VALUE, kind, cost, now, capacity, rate)


# ---------------------------------------------------------------------------------------
# Python side
# ---------------------------------------------------------------------------------------

class _Bucket:
    _kind: int

    def __init__(self, capacity: float, rate: float, now: float | None = None):
        self._capacity, self._rate, start = checks.bucket_args(capacity, rate, now)
        fresh = self._capacity if self._kind == TOKEN else 0.0
        self._state = np.array([[fresh, checks.timestamp(start)]], dtype=np.float64)
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
            return _take(self._state, 0, 0, self._kind, cost, now, self._capacity, self._rate)

    def tokens(self, now: float | None = None) -> float:
        """What could be acquired at `now` (nothing changes)."""
        now = checks.timestamp(now)
        with self._lock:
            return _available(self._kind, self._state[0, 0], self._state[0, 1], now, self._capacity, self._rate)

    def retry_after(self, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(cost) would be admitted (inf if cost > capacity)."""
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            return _wait(self._kind, self._state[0, 0], self._state[0, 1], cost, now, self._capacity, self._rate)


class TokenBucket(_Bucket):
    """A bucket of `capacity` tokens refilled at `rate` per second; starts full (see pure).
    Thread-safe (a lock per bucket)."""

    _kind = TOKEN


class LeakyBucket(_Bucket):
    """A meter draining at `rate` per second; admits while level + cost <= capacity (see pure).
    Thread-safe (a lock per bucket)."""

    _kind = LEAKY


_NO_FLAGS = np.zeros(0, dtype=np.uint8)
_NO_SLOTS = np.zeros(0, dtype=np.int64)


class KeyedLimiter:
    """One token or leaky bucket per key (str, bytes or int); see pure.KeyedLimiter.
    Thread-safe (one lock; see the module doc)."""

    def __init__(self, kind: str, capacity: float, rate: float, max_keys: int = checks.DEFAULT_MAX_KEYS):
        kind, self._capacity, self._rate, self._max_keys = checks.limiter_args(kind, capacity, rate, max_keys)
        self._kind = TOKEN if kind == "token" else LEAKY
        self._buckets = np.zeros((16, 2), dtype=np.float64)
        self._slot_kind = np.zeros(16, dtype=np.int8)
        self._free = np.zeros(16, dtype=np.int64)
        self._meta = np.zeros(META_SIZE, dtype=np.int64)
        self._meta[SWEEP_AT] = min(checks.SWEEP_MIN, self._max_keys)
        self._meta[MAX_KEYS] = self._max_keys
        self._fmeta = np.array([-np.inf])
        self._table = np.zeros((16, 4), dtype=np.int64)
        self._objs: dict = {}  # dict key -> slot
        self._lock = threading.Lock()
        # One-key buffers for single calls (used under the lock).
        self._flag_int = np.ones(1, dtype=np.uint8)
        self._flag_obj = np.zeros(1, dtype=np.uint8)
        self._one_int = np.zeros(1, dtype=np.int64)
        self._one_slot = np.zeros(1, dtype=np.int64)
        self._one_time = np.zeros(1, dtype=np.float64)
        self._one_out = np.zeros(1, dtype=np.uint8)

    kind = property(lambda self: "token" if self._kind == TOKEN else "leaky")
    capacity = property(lambda self: self._capacity)
    rate = property(lambda self: self._rate)
    max_keys = property(lambda self: self._max_keys)

    def __len__(self) -> int:
        """The number of live (not full) buckets."""
        return int(self._meta[TCOUNT] + self._meta[NOBJ])

    # --- storage, grown between kernel runs ------------------------------------------
    def _grow_slots(self) -> None:
        """Twice as many slots (the free stack can never need more entries than slots)."""
        self._buckets = np.concatenate([self._buckets, np.zeros_like(self._buckets)])
        self._slot_kind = np.concatenate([self._slot_kind, np.zeros_like(self._slot_kind)])
        self._free = np.concatenate([self._free, np.zeros_like(self._free)])

    def _reserve_slot(self) -> int:
        """A slot for a new dict key, DEAD until the kernel gives it a bucket."""
        meta = self._meta
        if meta[NFREE]:
            meta[NFREE] -= 1
            slot = int(self._free[meta[NFREE]])
        else:
            if meta[NSLOTS] == self._buckets.shape[0]:
                self._grow_slots()
            slot = int(meta[NSLOTS])
            meta[NSLOTS] += 1
        self._slot_kind[slot] = DEAD
        return slot

    def _release(self, key, slot: int) -> None:
        del self._objs[key]
        self._slot_kind[slot] = FREE
        self._free[self._meta[NFREE]] = slot
        self._meta[NFREE] += 1

    def _run(self, is_int, ikeys, oslots, times, out, cost: float) -> None:
        """Run the decision kernel to the end, growing storage wherever it stops."""
        start = 0
        while True:
            start = _decide(self._buckets, self._slot_kind, self._free, self._meta, self._fmeta, self._table,
                            self._kind, self._capacity, self._rate, cost, is_int, ikeys, oslots, times, out, start)
            if start == out.size:
                break
            self._table = _rehash(self._table, 2 * self._table.shape[0])  # STOP_TABLE
        if self._meta[DEADS]:  # a sweep dropped dict keys' buckets: forget those keys
            self._meta[DEADS] = 0
            for key, slot in list(self._objs.items()):
                if self._slot_kind[slot] == DEAD:
                    self._release(key, slot)
        if self._table.shape[0] > 64 and 8 * self._meta[TCOUNT] < self._table.shape[0]:  # shrink after sweeps
            self._table = _rehash(self._table, _table_size(int(self._meta[TCOUNT])))

    def _slot_for(self, key, new: list) -> int:
        slot = self._objs.get(key)
        if slot is None:
            slot = self._objs[key] = self._reserve_slot()
            new.append(key)
        return slot

    def _forget_unused(self, new: list) -> None:
        """Dict keys reserved for this call that got no bucket (refused) are forgotten."""
        for key in new:
            slot = self._objs.get(key)
            if slot is not None and self._slot_kind[slot] == DEAD:
                self._release(key, slot)

    @staticmethod
    def _int64(key) -> bool:
        return type(key) is int and checks.INT64_MIN <= key <= checks.INT64_MAX

    def acquire(self, key, cost: float = 1.0, now: float | None = None) -> bool:
        """Admit `cost` for `key` at `now` (default time.monotonic()) if its bucket allows it."""
        key = checks.check_key(key)
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            if self._int64(key):
                taken = _take_existing_int(self._table, key, self._kind, cost, now, self._capacity, self._rate)
                if taken >= 0:
                    return bool(taken)
                self._one_int[0] = key
                flags, new = self._flag_int, []
            else:
                slot = self._objs.get(key)
                if slot is not None and self._slot_kind[slot] == OBJ:
                    return _take(self._buckets, slot, 0, self._kind, cost, now, self._capacity, self._rate)
                new = []
                self._one_slot[0] = self._slot_for(key, new)
                flags = self._flag_obj
            self._one_time[0] = now
            self._run(flags, self._one_int, self._one_slot, self._one_time, self._one_out, cost)
            self._forget_unused(new)
            return bool(self._one_out[0])

    def acquire_many(self, keys, now=None, cost: float = 1.0) -> np.ndarray:
        """acquire(key, cost, t) for each key in order: a numpy bool array of the decisions
        (see pure). A numpy integer array of keys is decided in one kernel run."""
        seq, times, cost = checks.batch_args(keys, now, cost)
        n = len(seq)
        if times is None:
            times = time.monotonic()
        times = np.array([times], dtype=np.float64) if isinstance(times, float) else times
        # (a per-key array of one timestamp reads the same as a scalar: _decide broadcasts size 1)
        out = np.zeros(n, dtype=np.uint8)
        if n == 0:
            return out.view(np.bool_)
        if isinstance(seq, np.ndarray):
            with self._lock:
                self._run(_NO_FLAGS, seq, _NO_SLOTS, times, out, cost)
            return out.view(np.bool_)
        keys = [k if type(k) is str or type(k) is bytes else checks.check_key(k) for k in seq]
        new: list = []
        with self._lock:
            # Dict keys to slots, in whole-list passes (a Python loop per key costs more than
            # the kernel). A new dict key gets a (DEAD) slot reserved; an int64 key has none.
            get = self._objs.get
            slots = list(map(get, keys))
            if None in slots:
                for key in dict.fromkeys(keys):  # each distinct key once
                    if get(key) is None and not self._int64(key):
                        self._slot_for(key, new)
                slots = list(map(get, keys))
            if None in slots:  # int keys, looked up in the kernel's own table
                is_int = np.array([slot is None for slot in slots], dtype=np.uint8)
                ints = np.array([k if slot is None else 0 for k, slot in zip(keys, slots)], dtype=np.int64)
                slots = [0 if slot is None else slot for slot in slots]
            else:
                is_int, ints = np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.int64)
            self._run(is_int, ints, np.array(slots, dtype=np.int64), times, out, cost)
            self._forget_unused(new)
        return out.view(np.bool_)

    def _state_of(self, key) -> tuple[float, float] | None:
        if self._int64(key):
            row = _tfind(self._table, key)
            return None if row < 0 else tuple(self._table[row, VALUE:].view(np.float64))
        slot = self._objs.get(key)
        if slot is None or self._slot_kind[slot] != OBJ:
            return None
        return self._buckets[slot, 0], self._buckets[slot, 1]

    def tokens(self, key, now: float | None = None) -> float:
        """What `key` could acquire at `now` (capacity for a key without a bucket)."""
        key = checks.check_key(key)
        now = checks.timestamp(now)
        with self._lock:
            state = self._state_of(key)
            if state is None:
                return self._capacity
            return _available(self._kind, state[0], state[1], now, self._capacity, self._rate)

    def retry_after(self, key, cost: float = 1.0, now: float | None = None) -> float:
        """Seconds from `now` until acquire(key, cost) would be admitted (see pure)."""
        key = checks.check_key(key)
        cost = checks.check_cost(cost)
        now = checks.timestamp(now)
        with self._lock:
            state = self._state_of(key)
            if state is None:
                state = (self._capacity if self._kind == TOKEN else 0.0, now)
            return _wait(self._kind, state[0], state[1], cost, now, self._capacity, self._rate)


def warmup() -> None:
    """Run every kernel once on tiny inputs.

    The kernels have eager signatures, so import already compiled them (or loaded them from
    the cache); this also runs each Python path once, so no first-call cost is timed.
    """
    for bucket in (TokenBucket(2.0, 1.0, now=0.0), LeakyBucket(2.0, 1.0, now=0.0)):
        bucket.acquire(1.0, 0.5)
        bucket.tokens(1.0)
        bucket.retry_after(2.0, 1.0)
    for kind in checks.KINDS:
        limiter = KeyedLimiter(kind, 2.0, 1.0, max_keys=4)
        limiter.acquire("a", 1.0, 0.0)
        limiter.acquire(1, 1.0, 0.0)
        limiter.acquire_many(np.arange(8), np.linspace(0.0, 1.0, 8))
        limiter.acquire_many(["a", b"b", 2, 2**70], 3.0)
        limiter.tokens("a", 4.0)
        limiter.retry_after(1, 2.0, 4.0)
