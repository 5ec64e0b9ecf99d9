"""Token and leaky buckets and a keyed limiter, Numba tier: the Python API over the kernels.

Same contract as `impls.ratelimit.pure` (the specification), decision for decision. The
kernels live in three modules, one idea each: nb_bucket (the bucket arithmetic, pure's
operations in pure's order, no fastmath), nb_table (the table of int keys) and nb_keyed (the
keyed decisions and sweeps). Argument checks, the lock and the properties are the ones pure
uses too (`impls.ratelimit.base`), so both tiers check in the same order with the same errors.

KeyedLimiter layout. Int keys that fit in int64 live in the kernels' open-addressing table,
a key and its bucket in one row. Every other key (str, bytes, larger ints) is looked up in a
Python dict, before a kernel runs, for a slot: a row of `buckets` (value, last); a slot's
state (FREE, OBJ, DEAD) and the sweep rule are nb_keyed's. Dict keys whose bucket a sweep
dropped are forgotten afterwards, in Python. When a batch needs a larger table, the kernel
stops at that key, Python grows the table, and the kernel resumes there.

Thread safety: every method holds the object's lock (the kernels release the GIL, so the
lock is what keeps two threads from changing one state at once).

Numba caches each kernel by the file that defines it: after editing nb_bucket.py or
nb_table.py, clear impls/ratelimit/__pycache__ so that the kernels which inline theirs
(nb_keyed's) are compiled again.
"""

from __future__ import annotations

import numpy as np

from impls.ratelimit import contract
from impls.ratelimit.base import KeyedLimiterBase, LeakyBucketBase, TokenBucketBase
from impls.ratelimit.nb_bucket import ARITHMETIC, LEAKY, TOKEN, take
from impls.ratelimit.nb_keyed import (DEAD, DEADS, FREE, MAX_KEYS, META_SIZE, NFREE, NOBJ, NSLOTS, OBJ, SWEEP_AT,
                                      TCOUNT, decide, take_existing_int)
from impls.ratelimit.nb_table import VALUE, find, new_table, rehash, table_size

__all__ = ["TokenBucket", "LeakyBucket", "KeyedLimiter", "warmup"]

_NO_FLAGS = np.zeros(0, dtype=np.uint8)
_NO_SLOTS = np.zeros(0, dtype=np.int64)


def _is_int64(key) -> bool:
    """Whether a checked key lives in the int table."""
    return type(key) is int and contract.INT64_MIN <= key <= contract.INT64_MAX


class TokenBucket(TokenBucketBase, arithmetic=ARITHMETIC):
    """A token bucket (see TokenBucketBase), its state a (1, 2) float64 array."""


class LeakyBucket(LeakyBucketBase, arithmetic=ARITHMETIC):
    """A leaky bucket (see LeakyBucketBase), its state a (1, 2) float64 array."""


class KeyedLimiter(KeyedLimiterBase, arithmetic=ARITHMETIC):
    """One token or leaky bucket per key, in kernel-side arrays (see the module doc)."""

    def _init_buckets(self) -> None:
        self._kind_id = TOKEN if self._kind == "token" else LEAKY  # the kernels' kind argument
        self._buckets = np.zeros((16, 2), dtype=np.float64)
        self._slot_kind = np.zeros(16, dtype=np.int8)
        self._free = np.zeros(16, dtype=np.int64)  # a stack of FREE slots
        self._meta = np.zeros(META_SIZE, dtype=np.int64)
        self._meta[SWEEP_AT] = min(contract.SWEEP_MIN, self._max_keys)
        self._meta[MAX_KEYS] = self._max_keys
        self._fmeta = np.array([-np.inf])
        self._table = new_table()
        self._objs: dict = {}  # dict key -> slot
        # One-key buffers for single calls (used under the lock).
        self._flag_int = np.ones(1, dtype=np.uint8)
        self._flag_obj = np.zeros(1, dtype=np.uint8)
        self._one_int = np.zeros(1, dtype=np.int64)
        self._one_slot = np.zeros(1, dtype=np.int64)
        self._one_time = np.zeros(1, dtype=np.float64)
        self._one_out = np.zeros(1, dtype=np.uint8)

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

    def _run(self, is_int, ikeys, oslots, times, out, cost: float) -> None:
        """Run the decision kernel to the end, growing the int table wherever it stops."""
        start = 0
        while True:
            start = decide(self._buckets, self._slot_kind, self._meta, self._fmeta, self._table, self._kind_id,
                           self._capacity, self._rate, cost, is_int, ikeys, oslots, times, out, start)
            if start == out.size:
                break
            self._table = rehash(self._table, 2 * self._table.shape[0])  # it stopped for room
        if self._meta[DEADS]:  # a sweep dropped dict keys' buckets: forget those keys
            self._meta[DEADS] = 0
            for key, slot in list(self._objs.items()):
                if self._slot_kind[slot] == DEAD:
                    self._release(key, slot)
        if self._table.shape[0] > 64 and 8 * self._meta[TCOUNT] < self._table.shape[0]:  # shrink after sweeps
            self._table = rehash(self._table, table_size(int(self._meta[TCOUNT])))

    # --- the base class's hooks (called with the lock held) ---------------------------
    def _acquire(self, key, cost: float, now: float) -> bool:
        # The int64 test is _is_int64's, written out: this is the per-call hot path.
        if type(key) is int and contract.INT64_MIN <= key <= contract.INT64_MAX:
            taken = take_existing_int(self._table, key, self._kind_id, cost, now, self._capacity, self._rate)
            if taken >= 0:
                return bool(taken)
            self._one_int[0] = key
            flags, new = self._flag_int, []
        else:
            slot = self._objs.get(key)
            if slot is not None and self._slot_kind[slot] == OBJ:
                return take(self._buckets, slot, 0, self._kind_id, cost, now, self._capacity, self._rate)
            new = []
            self._one_slot[0] = self._slot_for(key, new)
            flags = self._flag_obj
        self._one_time[0] = now
        self._run(flags, self._one_int, self._one_slot, self._one_time, self._one_out, cost)
        self._forget_unused(new)
        return bool(self._one_out[0])

    def _acquire_many(self, keys, times, cost: float) -> np.ndarray:
        """A numpy int64 array of keys is decided in one kernel run."""
        n = len(keys)
        # decide() reads a size-1 `times` as one timestamp for every key
        times = np.array([times], dtype=np.float64) if isinstance(times, float) else times
        out = np.zeros(n, dtype=np.uint8)
        if n == 0:
            return out.view(np.bool_)
        if isinstance(keys, np.ndarray):
            self._run(_NO_FLAGS, keys, _NO_SLOTS, times, out, cost)
            return out.view(np.bool_)
        # Dict keys to slots, in whole-list passes (a Python loop per key costs more than
        # the kernel). A new dict key gets a (DEAD) slot reserved; an int64 key has none.
        new: list = []
        get = self._objs.get
        slots = list(map(get, keys))
        if None in slots:
            for key in dict.fromkeys(keys):  # each distinct key once
                if get(key) is None and not _is_int64(key):
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

    def _state_of(self, key) -> np.ndarray | None:
        """The key's bucket as a (1, 2) float64 view, or None if it has none."""
        if _is_int64(key):
            row = find(self._table, key)
            return None if row < 0 else self._table[row:row + 1, VALUE:].view(np.float64)
        slot = self._objs.get(key)
        if slot is None or self._slot_kind[slot] != OBJ:
            return None
        return self._buckets[slot:slot + 1]


def warmup() -> None:
    """Run every kernel once on tiny inputs.

    The kernels have eager signatures, so import already compiled them (or loaded them from
    the cache); this also runs each Python path once, so no first-call cost is timed.
    """
    for bucket in (TokenBucket(2.0, 1.0, now=0.0), LeakyBucket(2.0, 1.0, now=0.0)):
        bucket.acquire(1.0, 0.5)
        bucket.tokens(1.0)
        bucket.retry_after(2.0, 1.0)
    for kind in contract.KINDS:
        limiter = KeyedLimiter(kind, 2.0, 1.0, max_keys=4)
        limiter.acquire("a", 1.0, 0.0)
        limiter.acquire(1, 1.0, 0.0)
        limiter.acquire_many(np.arange(8), np.linspace(0.0, 1.0, 8))
        limiter.acquire_many(["a", b"b", 2, 2**70], 3.0)
        limiter.tokens("a", 4.0)
        limiter.tokens(1, 4.0)
        limiter.retry_after(1, 2.0, 4.0)
        limiter.retry_after("new", 1.0, 4.0)
