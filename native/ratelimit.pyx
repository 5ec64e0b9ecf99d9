# cython: language_level=3, binding=False, embedsignature=True
# distutils: extra_compile_args = -ffp-contract=off
"""Token and leaky buckets and a keyed limiter, compiled: the Cython tier of the ratelimit family.

Same contract as `impls.ratelimit.pure` (the specification), decision for decision: the bucket
arithmetic is pure's, operation for operation, on C doubles (and -ffp-contract=off, so that
no compiler may fuse a multiply and an add into one differently rounded FMA). Bad input goes
through `impls.ratelimit.contract`, so errors read the same in every tier.

Layout: this file holds what every part shares (declarations, the argument fast paths) and
the single buckets; it includes, as text, one file per idea:

* ratelimit_bucket.pxi: the bucket arithmetic, C functions of a bucket's two doubles;
* ratelimit_table.pxi: the open-addressing table of int keys that fit in int64 (so a numpy
  int64 batch is decided without the GIL), buckets inline;
* ratelimit_keyed.pxi: KeyedLimiter -- that table for int keys, a dict to slots of bucket
  states for every other key (str, bytes, larger ints), sweeps by pure's rule.

binding=False (header): methods are plain C methods rather than Cython 3's default
cyfunctions, 10-15 ns cheaper a call on the lab's machine (a quarter of acquire's cost);
embedsignature keeps their signatures in help().

Thread safety, and why there is no lock on the per-call path: a single call checks its
arguments first (which may run Python code), then does its work on the state with the GIL
held and without running any Python code or allocating any object the cyclic GC tracks
(dict inserts and deletes of exact str/bytes/int keys, Python ints for slots, malloc), so
no other thread can run in the middle of it. The one place the state is changed without the
GIL is acquire_many over an int64 array; it takes `lock` and sets `busy` while it runs, and
every other call that finds `busy` set waits for `lock` first.
"""

cimport cython
from cpython.dict cimport PyDict_GetItem, PyDict_Next, PyDict_SetItem, PyDict_DelItem
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsSsize_t, PyLong_FromSsize_t
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.math cimport INFINITY, isfinite, nextafter
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc

import numpy as np

from impls.ratelimit import contract

cdef extern from "time.h" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC

cdef extern from "pythread.h":
    ctypedef void* PyThread_type_lock
    PyThread_type_lock PyThread_allocate_lock()
    void PyThread_free_lock(PyThread_type_lock)
    int PyThread_acquire_lock(PyThread_type_lock, int) nogil
    void PyThread_release_lock(PyThread_type_lock) nogil
    int WAIT_LOCK

cdef enum:
    TOKEN = 0
    LEAKY = 1

cdef Py_ssize_t _SWEEP_MIN = contract.SWEEP_MIN


cdef inline double _monotonic() noexcept nogil:
    """time.monotonic(), the same value: CLOCK_MONOTONIC in ns, as a double, / 1e9."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>(<int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec) / 1e9


cdef inline double _cost_of(object cost) except? -1.0:
    cdef double c
    if type(cost) is float:
        c = <double>cost
        if c > 0.0 and c < INFINITY:
            return c
    return contract.check_cost(cost)  # converts an int, or raises pure's error


cdef inline double _now_of(object now) except? -1.0:
    cdef double t
    if now is None:
        return _monotonic()
    if type(now) is float:
        t = <double>now
        if isfinite(t):
            return t
    return contract.check_now(now)


include "ratelimit_bucket.pxi"
include "ratelimit_table.pxi"
include "ratelimit_keyed.pxi"


# ---------------------------------------------------------------------------------------
# Single buckets
# ---------------------------------------------------------------------------------------
cdef class _Bucket:
    cdef int kind
    cdef double _capacity, _rate, value, last

    def __init__(self, capacity, rate, now=None):
        c, r, start = contract.bucket_args(capacity, rate, now)
        self._capacity = c
        self._rate = r
        self.value = _fresh_value(self.kind, c)
        self.last = _monotonic() if start is None else <double>start

    @property
    def capacity(self):
        return self._capacity

    @property
    def rate(self):
        return self._rate

    def acquire(self, cost=1.0, now=None):
        """Admit `cost` at `now` (default time.monotonic()) if the bucket allows it."""
        cdef double c = _cost_of(cost)
        cdef double t = _now_of(now)
        return _take(self.kind, &self.value, &self.last, c, t, self._capacity, self._rate)

    def tokens(self, now=None):
        """What could be acquired at `now` (nothing changes)."""
        return _available(self.kind, self.value, self.last, _now_of(now), self._capacity, self._rate)

    def retry_after(self, cost=1.0, now=None):
        """Seconds from `now` until acquire(cost) would be admitted (inf if cost > capacity)."""
        cdef double c = _cost_of(cost)
        cdef double t = _now_of(now)
        return _wait(self.kind, self.value, self.last, c, t, self._capacity, self._rate)


cdef class TokenBucket(_Bucket):
    """A bucket of `capacity` tokens refilled at `rate` per second; starts full (see pure).

    Thread-safe: a call runs no Python code once its arguments are checked, so the GIL makes
    it atomic.
    """

    def __cinit__(self, *args, **kwargs):
        self.kind = TOKEN


cdef class LeakyBucket(_Bucket):
    """A meter draining at `rate` per second; admits while level + cost <= capacity (see pure).

    Thread-safe: a call runs no Python code once its arguments are checked, so the GIL makes
    it atomic.
    """

    def __cinit__(self, *args, **kwargs):
        self.kind = LEAKY


def warmup():
    """Nothing to compile at run time in this tier; present so every tier has the same names."""
