"""The Numba tier's keyed decisions: pure's KeyedLimiter._acquire and _sweep, as kernels.

State, all numpy arrays owned by `impls.ratelimit.nb.KeyedLimiter`:

* `table`: int keys that fit in int64, with their buckets inline (see nb_table);
* `buckets`, `slot_kind`, `free`: the buckets of every other key (str, bytes, larger ints),
  one row (value, last) per slot. Python maps such a key to its slot before a kernel runs. A
  slot is FREE, OBJ (holds the key's bucket) or DEAD (its key has no bucket: a slot reserved
  for a new key, or one a sweep dropped; Python forgets DEAD keys after the kernel);
* `meta` (int64 counters, indexed by NSLOTS ...) and `fmeta` (float64: FULL_AT).

`decide` runs a batch of keys in order; it stops early, at the key that needs it, when the
int table must grow (meta[STOP] = STOP_TABLE): Python grows it and runs `decide` again from
there. Sweeps happen inside the kernels, by pure's rule exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.ratelimit import contract
from impls.ratelimit.nb_bucket import BUCKETS, F8, I8, KERNEL, TOKEN, full_time, is_full, take
from impls.ratelimit.nb_table import KEY, TABLE, USED, VALUE, find, put

#: Slot states (buckets of keys that are not in the int table).
FREE, OBJ, DEAD = 0, 1, 2
#: meta[] fields (int64).
NSLOTS, NFREE, TCOUNT, NOBJ, SWEEP_AT, MAX_KEYS, DEADS, STOP = range(8)
META_SIZE = 8
#: fmeta[] fields (float64).
FULL_AT = 0
#: meta[STOP] when a batch stopped before its end: the int table needs to grow.
STOP_TABLE = 1

_F8_1D = types.float64[::1]
_I8_1D = types.int64[::1]
_I1_1D = types.int8[::1]
_U1_1D = types.uint8[::1]
_F8_IN = types.Array(types.float64, 1, "C", readonly=True)
_I8_IN = types.Array(types.int64, 1, "C", readonly=True)
_U1_IN = types.Array(types.uint8, 1, "C", readonly=True)


@njit(**KERNEL)
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


@njit(**KERNEL)
def _sweep(buckets, slot_kind, meta, fmeta, table, kind, now, capacity, rate):
    """pure's _sweep: drop every bucket full at `now`; note when an eighth of the rest can be."""
    fulls = np.empty(meta[TCOUNT] + meta[NOBJ], dtype=np.float64)
    nfull = 0
    for slot in range(meta[NSLOTS]):  # dict keys' buckets: DEAD until Python forgets the key
        if slot_kind[slot] == OBJ:
            if is_full(kind, buckets[slot, 0], buckets[slot, 1], now, capacity, rate):
                slot_kind[slot] = DEAD
                meta[NOBJ] -= 1
                meta[DEADS] += 1
            else:
                fulls[nfull] = full_time(kind, buckets[slot, 0], buckets[slot, 1], capacity, rate)
                nfull += 1
    ftab = table.view(np.float64)
    kept = np.empty(3 * meta[TCOUNT], dtype=np.int64)  # key, value bits, last bits
    nkept = 0
    for i in range(table.shape[0]):  # int keys: keep the live rows, then reinsert them
        if not table[i, USED]:
            continue
        table[i, USED] = 0
        if is_full(kind, ftab[i, VALUE], ftab[i, VALUE + 1], now, capacity, rate):
            continue
        fulls[nfull] = full_time(kind, ftab[i, VALUE], ftab[i, VALUE + 1], capacity, rate)
        nfull += 1
        kept[3 * nkept] = table[i, KEY]
        kept[3 * nkept + 1] = table[i, VALUE]
        kept[3 * nkept + 2] = table[i, VALUE + 1]
        nkept += 1
    for j in range(nkept):
        row = put(table, kept[3 * j])
        table[row, VALUE] = kept[3 * j + 1]
        table[row, VALUE + 1] = kept[3 * j + 2]
    meta[TCOUNT] = nkept
    after = np.nextafter(now, np.inf)
    fmeta[FULL_AT] = after
    if nfull:
        nth = _kth_smallest(fulls, nfull, max(1, nfull // 8) - 1)
        if nth > after:
            fmeta[FULL_AT] = nth
    meta[SWEEP_AT] = min(meta[MAX_KEYS], max(contract.SWEEP_MIN, 2 * (meta[TCOUNT] + meta[NOBJ])))


@njit(**KERNEL)
def _has_room(buckets, slot_kind, meta, fmeta, table, kind, now, capacity, rate):
    """pure's _has_room: sweep when due, then whether a new key may have a bucket."""
    live = meta[TCOUNT] + meta[NOBJ]
    if live >= meta[SWEEP_AT] and (live < meta[MAX_KEYS] or now >= fmeta[FULL_AT]):
        _sweep(buckets, slot_kind, meta, fmeta, table, kind, now, capacity, rate)
    return meta[TCOUNT] + meta[NOBJ] < meta[MAX_KEYS]


@njit(I8(BUCKETS, _I1_1D, _I8_1D, _F8_1D, TABLE, I8, F8, F8, F8,
         _U1_IN, _I8_IN, _I8_IN, _F8_IN, _U1_1D, I8), **KERNEL)
def decide(buckets, slot_kind, meta, fmeta, table, kind, capacity, rate, cost,
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
            row = find(table, ikeys[i])
            if row >= 0:
                out[i] = take(ftab, row, VALUE, kind, cost, now, capacity, rate)
                continue
            if cost > capacity:
                out[i] = False
                continue
            # Room first: a resumed key then runs _has_room exactly once, as in pure.
            if 2 * (meta[TCOUNT] + 1) > table.shape[0]:
                meta[STOP] = STOP_TABLE
                return i
            if not _has_room(buckets, slot_kind, meta, fmeta, table, kind, now, capacity, rate):
                out[i] = False
                continue
            row = put(table, ikeys[i])
            meta[TCOUNT] += 1
            ftab[row, VALUE] = fresh
            ftab[row, VALUE + 1] = now
            out[i] = take(ftab, row, VALUE, kind, cost, now, capacity, rate)
        else:
            slot = oslots[i]
            if slot_kind[slot] == OBJ:
                out[i] = take(buckets, slot, 0, kind, cost, now, capacity, rate)
                continue
            if cost > capacity or not _has_room(buckets, slot_kind, meta, fmeta, table, kind, now, capacity, rate):
                out[i] = False
                continue
            slot_kind[slot] = OBJ
            meta[NOBJ] += 1
            buckets[slot, 0] = fresh
            buckets[slot, 1] = now
            out[i] = take(buckets, slot, 0, kind, cost, now, capacity, rate)
    meta[STOP] = 0
    return n


@njit(I8(TABLE, I8, I8, F8, F8, F8, F8), **KERNEL)
def take_existing_int(table, key, kind, cost, now, capacity, rate):
    """The per-call fast path for an int key with a bucket: 0/1, or -1 if it has none."""
    row = find(table, key)
    if row < 0:
        return -1
    return take(table.view(np.float64), row, VALUE, kind, cost, now, capacity, rate)
