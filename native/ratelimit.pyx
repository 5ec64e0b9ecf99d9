# cython: language_level=3, binding=False, embedsignature=True
# distutils: extra_compile_args = -ffp-contract=off
"""Token and leaky buckets and a keyed limiter, compiled: the Cython tier of the ratelimit family.

Same contract as `impls.ratelimit.pure` (the specification), decision for decision: the bucket
arithmetic below is pure's, operation for operation, on C doubles (and -ffp-contract=off, so
that no compiler may fuse a multiply and an add into one differently rounded FMA). Bad input
goes through `impls.ratelimit.checks`, so errors read the same in every tier.

KeyedLimiter layout. Bucket states live in C arrays indexed by a slot (`value`, `last`); a
key finds its slot in one of two indexes: an open-addressing table for int keys that fit in
int64 (so a numpy int64 batch is decided without the GIL), and a dict for every other key
(str, bytes, larger ints). Freed slots are reused. A sweep (pure's rule: drop every bucket
that is full) deletes from the dict and rebuilds the int table from what is left.

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

from impls.ratelimit import checks

cdef extern from "time.h" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC

cdef extern from *:
    void __builtin_prefetch(const void* address) nogil

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

cdef Py_ssize_t _SWEEP_MIN = checks.SWEEP_MIN
#: How many keys ahead a batch of int keys prefetches table entries (8 and 16 measured about
#: the same, 16 a little better with 10k-100k live keys; 0 is 10-30% slower there).
cdef Py_ssize_t _PREFETCH = 16


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
    return checks.check_cost(cost)  # converts an int, or raises pure's error


cdef inline double _now_of(object now) except? -1.0:
    cdef double t
    if now is None:
        return _monotonic()
    if type(now) is float:
        t = <double>now
        if isfinite(t):
            return t
    return checks.check_now(now)


# ---------------------------------------------------------------------------------------
# Bucket arithmetic, as pure's _Token and _Leaky, line by line.
# ---------------------------------------------------------------------------------------
cdef inline bint _take(int kind, double* value, double* last, double cost, double now,
                       double capacity, double rate) noexcept nogil:
    cdef double v = value[0]
    cdef double elapsed = now - last[0]
    cdef bint admitted
    if kind == TOKEN:
        if elapsed > 0.0:
            v = v + elapsed * rate
            if v > capacity:
                v = capacity
            last[0] = now
        admitted = v >= cost
        if admitted:
            v = v - cost
    else:
        if elapsed > 0.0:
            v = v - elapsed * rate
            if v < 0.0:
                v = 0.0
            last[0] = now
        admitted = v + cost <= capacity
        if admitted:
            v = v + cost
    value[0] = v
    return admitted


cdef inline double _token_refilled(double tokens, double last, double now, double capacity, double rate) noexcept nogil:
    cdef double elapsed = now - last
    if elapsed > 0.0:
        tokens = tokens + elapsed * rate
        if tokens > capacity:
            tokens = capacity
    return tokens


cdef inline double _leaky_drained(double level, double last, double now, double rate) noexcept nogil:
    cdef double elapsed = now - last
    if elapsed > 0.0:
        level = level - elapsed * rate
        if level < 0.0:
            level = 0.0
    return level


cdef inline double _fresh_value(int kind, double capacity) noexcept nogil:
    return capacity if kind == TOKEN else 0.0


cdef inline double _available(int kind, double value, double last, double now, double capacity,
                              double rate) noexcept nogil:
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate)
    return capacity - _leaky_drained(value, last, now, rate)


cdef inline bint _is_full(int kind, double value, double last, double now, double capacity, double rate) noexcept nogil:
    if kind == TOKEN:
        return _token_refilled(value, last, now, capacity, rate) >= capacity
    return _leaky_drained(value, last, now, rate) <= 0.0


cdef inline double _full_time(int kind, double value, double last, double capacity, double rate) noexcept nogil:
    if kind == TOKEN:
        return last + (capacity - value) / rate
    return last + value / rate


cdef inline double _after(double x) noexcept nogil:
    return nextafter(x, INFINITY) - x


cdef double _wait_until(double ready, double now) noexcept nogil:
    cdef double wait = ready - now
    cdef double step = _after(wait)
    while now + wait < ready:
        wait = wait + step
        step = step + step
    return wait


cdef double _wait(int kind, double value, double last, double cost, double now, double capacity,
                  double rate) noexcept nogil:
    """pure's _Token.wait / _Leaky.wait."""
    cdef double ready, step
    if cost > capacity:
        return INFINITY
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
# Single buckets
# ---------------------------------------------------------------------------------------
cdef class _Bucket:
    cdef int kind
    cdef double _capacity, _rate, value, last

    def __init__(self, capacity, rate, now=None):
        c, r, start = checks.bucket_args(capacity, rate, now)
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


# ---------------------------------------------------------------------------------------
# One bucket per key
# ---------------------------------------------------------------------------------------
cdef int _compare_doubles(const void* a, const void* b) noexcept nogil:
    cdef double x = (<const double*>a)[0], y = (<const double*>b)[0]
    return (x > y) - (x < y)


cdef inline uint64_t _mix(int64_t key) noexcept nogil:
    """splitmix64's finalizer: consecutive ints land far apart in the table."""
    cdef uint64_t x = <uint64_t>key
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


ctypedef struct _State:  # one bucket: value is tokens (token) or level (leaky)
    double value
    double last

ctypedef struct _Entry:  # an int key and its bucket, 32 bytes: one cache line per decision
    int64_t key
    uint64_t used  # 0: an empty entry
    _State st


@cython.final
cdef class KeyedLimiter:
    """One token or leaky bucket per key (str, bytes or int); see pure.KeyedLimiter.

    Thread-safe: see the module doc (atomic under the GIL; batches of int keys lock).
    """

    cdef int _kind
    cdef double _capacity, _rate
    cdef Py_ssize_t _max_keys, _sweep_at
    cdef double _full_at
    # object keys: dict key -> slot into `states`; freed slots are reused
    cdef dict objs
    cdef Py_ssize_t nobj  # len(objs), readable without the GIL
    cdef _State* states
    cdef Py_ssize_t nslots, slots_cap
    cdef Py_ssize_t* free_slots
    cdef Py_ssize_t nfree
    # int keys: open addressing, linear probing, load <= 1/2, buckets inline
    cdef _Entry* table
    cdef Py_ssize_t tsize, tcount
    # batches without the GIL
    cdef PyThread_type_lock lock
    cdef bint busy

    def __cinit__(self, *args, **kwargs):
        self.objs = {}
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        self._grow_slots(16)
        self._new_table(16)

    def __dealloc__(self):
        free(self.states)
        free(self.free_slots)
        free(self.table)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __init__(self, kind, capacity, rate, max_keys=checks.DEFAULT_MAX_KEYS):
        kind, c, r, m = checks.limiter_args(kind, capacity, rate, max_keys)
        self._kind = TOKEN if kind == "token" else LEAKY
        self._capacity = c
        self._rate = r
        self._max_keys = m
        self._sweep_at = min(_SWEEP_MIN, self._max_keys)
        self._full_at = -INFINITY

    @property
    def kind(self):
        return "token" if self._kind == TOKEN else "leaky"

    @property
    def capacity(self):
        return self._capacity

    @property
    def rate(self):
        return self._rate

    @property
    def max_keys(self):
        return self._max_keys

    def __len__(self):
        """The number of live (not full) buckets."""
        return self.nobj + self.tcount

    # --- storage ---------------------------------------------------------------------
    cdef int _grow_slots(self, Py_ssize_t cap) except -1 nogil:
        cdef _State* st = <_State*>realloc(self.states, cap * sizeof(_State))
        if st != NULL:
            self.states = st
        cdef Py_ssize_t* f = <Py_ssize_t*>realloc(self.free_slots, cap * sizeof(Py_ssize_t))
        if f != NULL:
            self.free_slots = f
        if st == NULL or f == NULL:
            with gil:
                raise MemoryError()
        self.slots_cap = cap
        return 0

    cdef Py_ssize_t _new_slot(self) except -1 nogil:
        if self.nfree:
            self.nfree -= 1
            return self.free_slots[self.nfree]
        if self.nslots == self.slots_cap:
            self._grow_slots(2 * self.slots_cap)
        self.nslots += 1
        return self.nslots - 1

    cdef int _new_table(self, Py_ssize_t size) except -1 nogil:
        """Replace the int table by an empty one of `size` (a power of two) entries (the
        caller keeps the old one); on MemoryError nothing changes."""
        cdef _Entry* table = <_Entry*>calloc(size, sizeof(_Entry))
        if table == NULL:
            with gil:
                raise MemoryError()
        self.table = table
        self.tsize = size
        self.tcount = 0
        return 0

    cdef inline _Entry* _tfind(self, int64_t key) noexcept nogil:
        """The key's entry, or NULL."""
        cdef Py_ssize_t mask = self.tsize - 1
        cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & <uint64_t>mask)
        cdef _Entry* table = self.table
        while table[i].used:
            if table[i].key == key:
                return &table[i]
            i = (i + 1) & mask
        return NULL

    cdef inline void _prefetch(self, int64_t key) noexcept nogil:
        """Ask for the cache line where `key`'s probe starts, a few keys ahead of its turn."""
        __builtin_prefetch(&self.table[<Py_ssize_t>(_mix(key) & <uint64_t>(self.tsize - 1))])

    cdef inline _Entry* _tput(self, int64_t key) noexcept nogil:
        """A new entry for a key known to be absent (the table has room)."""
        cdef Py_ssize_t mask = self.tsize - 1
        cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & <uint64_t>mask)
        while self.table[i].used:
            i = (i + 1) & mask
        self.table[i].key = key
        self.table[i].used = 1
        self.tcount += 1
        return &self.table[i]

    cdef inline bint _full(self, const _State* st, double now) noexcept nogil:
        return _is_full(self._kind, st.value, st.last, now, self._capacity, self._rate)

    cdef inline double _full_time_of(self, const _State* st) noexcept nogil:
        return _full_time(self._kind, st.value, st.last, self._capacity, self._rate)

    cdef int _rebuild_table(self, Py_ssize_t keep, double now, double* fulls, Py_ssize_t* nfull) except -1 nogil:
        """Rehash into a table sized for `keep` entries. With `fulls`, drop the buckets that
        are full at `now` and append the full times of the rest."""
        cdef _Entry* old = self.table
        cdef Py_ssize_t old_size = self.tsize, i, size = 16
        while size < 2 * (keep + 1):
            size *= 2
        if self._new_table(size) == -1:  # pragma: no cover - out of memory, table unchanged
            return -1
        for i in range(old_size):
            if not old[i].used:
                continue
            if fulls != NULL:
                if self._full(&old[i].st, now):
                    continue
                fulls[nfull[0]] = self._full_time_of(&old[i].st)
                nfull[0] += 1
            self._tput(old[i].key).st = old[i].st
        free(old)
        return 0

    cdef int _sweep(self, double now) except -1:
        """pure's _sweep: drop every full bucket; note when an eighth of the rest can be full."""
        cdef Py_ssize_t pos = 0, slot, n_drop = 0, nfull = 0, i
        cdef PyObject* key
        cdef PyObject* val
        cdef double after = nextafter(now, INFINITY), nth
        cdef PyObject** drop = <PyObject**>malloc((self.nobj + 1) * sizeof(PyObject*))
        cdef double* fulls = <double*>malloc((self.nobj + self.tcount + 1) * sizeof(double))
        if drop == NULL or fulls == NULL:
            free(drop)
            free(fulls)
            raise MemoryError()
        try:
            # Object keys: collect the full ones (no allocation while iterating), then delete.
            while PyDict_Next(self.objs, &pos, &key, &val):
                slot = PyLong_AsSsize_t(<object>val)
                if self._full(&self.states[slot], now):
                    Py_INCREF(<object>key)
                    drop[n_drop] = key
                    n_drop += 1
                    self.free_slots[self.nfree] = slot  # never more free slots than slots
                    self.nfree += 1
                else:
                    fulls[nfull] = self._full_time_of(&self.states[slot])
                    nfull += 1
            for i in range(n_drop):
                PyDict_DelItem(self.objs, <object>drop[i])
                Py_DECREF(<object>drop[i])
            self.nobj -= n_drop
            # Int keys: rehash what is kept into a table sized for it (it may shrink).
            self._rebuild_table(self.tcount, now, fulls, &nfull)
            self._full_at = after
            if nfull:
                qsort(fulls, nfull, sizeof(double), _compare_doubles)
                nth = fulls[max(1, nfull // 8) - 1]
                if nth > after:
                    self._full_at = nth
            self._sweep_at = min(self._max_keys, max(_SWEEP_MIN, 2 * (self.nobj + self.tcount)))
        finally:
            free(drop)
            free(fulls)
        return 0

    cdef bint _has_room(self, double now) except -1 nogil:
        cdef Py_ssize_t live = self.nobj + self.tcount
        if live >= self._sweep_at and (live < self._max_keys or now >= self._full_at):
            with gil:  # the dict of object keys is swept too (a no-op if the GIL is held)
                self._sweep(now)
            live = self.nobj + self.tcount
        return live < self._max_keys

    # --- decisions ---------------------------------------------------------------------
    cdef inline bint _take_at(self, _State* st, double cost, double now) noexcept nogil:
        return _take(self._kind, &st.value, &st.last, cost, now, self._capacity, self._rate)

    cdef inline bint _start(self, _State* st, double cost, double now) noexcept nogil:
        """A new bucket, then the decision on it (pure: fresh, then take)."""
        st.value = _fresh_value(self._kind, self._capacity)
        st.last = now
        return self._take_at(st, cost, now)

    cdef inline int _acquire_int(self, int64_t key, double cost, double now) except -1 nogil:
        cdef _Entry* e = self._tfind(key)
        if e != NULL:
            return self._take_at(&e.st, cost, now)
        return self._acquire_new_int(key, cost, now)

    cdef int _acquire_new_int(self, int64_t key, double cost, double now) except -1 nogil:
        if cost > self._capacity or not self._has_room(now):
            return 0
        if 2 * (self.tcount + 1) > self.tsize:
            self._rebuild_table(self.tcount + 1, now, NULL, NULL)
        return self._start(&self._tput(key).st, cost, now)

    cdef int _acquire_obj(self, object key, double cost, double now) except -1:
        cdef PyObject* found = PyDict_GetItem(self.objs, key)
        cdef Py_ssize_t slot
        if found != NULL:
            return self._take_at(&self.states[PyLong_AsSsize_t(<object>found)], cost, now)
        if cost > self._capacity or not self._has_room(now):
            return 0
        slot = self._new_slot()
        PyDict_SetItem(self.objs, key, PyLong_FromSsize_t(slot))
        self.nobj += 1
        return self._start(&self.states[slot], cost, now)

    cdef inline _State* _state_of(self, object key) except? NULL:
        """The key's bucket, or NULL if it has none (key already checked)."""
        cdef int overflow = 0
        cdef long long ikey
        cdef _Entry* e
        cdef PyObject* found
        if type(key) is int:
            ikey = PyLong_AsLongLongAndOverflow(key, &overflow)
            if not overflow:
                e = self._tfind(ikey)
                return NULL if e == NULL else &e.st
        found = PyDict_GetItem(self.objs, key)
        return NULL if found == NULL else &self.states[PyLong_AsSsize_t(<object>found)]

    cdef inline int _acquire_key(self, object key, double cost, double now) except -1:
        cdef int overflow = 0
        cdef long long ikey
        if type(key) is int:
            ikey = PyLong_AsLongLongAndOverflow(key, &overflow)
            if not overflow:
                return self._acquire_int(ikey, cost, now)
        return self._acquire_obj(key, cost, now)

    cdef inline bint _wait_for_batch(self) except -1:
        """If a batch is deciding without the GIL, wait for it (and hold `lock`): True then."""
        if not self.busy:
            return False
        with nogil:
            PyThread_acquire_lock(self.lock, WAIT_LOCK)
        return True

    def acquire(self, key, cost=1.0, now=None):
        """Admit `cost` for `key` at `now` (default time.monotonic()) if its bucket allows it."""
        if not (type(key) is str or type(key) is int or type(key) is bytes):
            key = checks.check_key(key)
        cdef double c = _cost_of(cost)
        cdef double t = _now_of(now)
        cdef bint locked = self._wait_for_batch()
        try:
            return self._acquire_key(key, c, t) == 1
        finally:
            if locked:
                PyThread_release_lock(self.lock)

    def acquire_many(self, keys, now=None, cost=1.0):
        """acquire(key, cost, t) for each key in order: a numpy bool array of the decisions
        (see pure). A numpy integer array of keys is decided without the GIL."""
        seq, times, c = checks.batch_args(keys, now, cost)
        cdef Py_ssize_t n = len(seq), i
        cdef double scalar = 0.0
        cdef const double[::1] per_key = None
        if times is None:
            scalar = _monotonic()
        elif isinstance(times, float):
            scalar = times
        else:
            per_key = times
        cdef bint many_times = per_key is not None
        out = np.zeros(n, dtype=np.bool_)
        cdef uint8_t[::1] res = out.view(np.uint8)
        cdef const int64_t[::1] ints
        cdef list objs
        cdef bint locked
        cdef double cost_ = c
        if isinstance(seq, np.ndarray):
            ints = seq
            with nogil:
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
            self.busy = True
            try:
                with nogil:
                    for i in range(n):
                        if i + _PREFETCH < n:
                            self._prefetch(ints[i + _PREFETCH])
                        res[i] = self._acquire_int(ints[i], cost_, per_key[i] if many_times else scalar)
            finally:
                self.busy = False
                PyThread_release_lock(self.lock)
            return out
        objs = [k if (type(k) is str or type(k) is int or type(k) is bytes) else checks.check_key(k) for k in seq]
        locked = self._wait_for_batch()
        try:
            if many_times:
                for i in range(n):
                    res[i] = self._acquire_key(objs[i], cost_, per_key[i])
            else:
                for i in range(n):
                    res[i] = self._acquire_key(objs[i], cost_, scalar)
        finally:
            if locked:
                PyThread_release_lock(self.lock)
        return out

    def tokens(self, key, now=None):
        """What `key` could acquire at `now` (capacity for a key without a bucket)."""
        key = checks.check_key(key)
        cdef double t = _now_of(now)
        cdef bint locked = self._wait_for_batch()
        cdef _State* st
        try:
            st = self._state_of(key)
            if st == NULL:
                return self._capacity
            return _available(self._kind, st.value, st.last, t, self._capacity, self._rate)
        finally:
            if locked:
                PyThread_release_lock(self.lock)

    def retry_after(self, key, cost=1.0, now=None):
        """Seconds from `now` until acquire(key, cost) would be admitted (see pure)."""
        key = checks.check_key(key)
        cdef double c = _cost_of(cost)
        cdef double t = _now_of(now)
        cdef bint locked = self._wait_for_batch()
        cdef _State* st
        try:
            st = self._state_of(key)
            if st == NULL:
                return _wait(self._kind, _fresh_value(self._kind, self._capacity), t, c, t, self._capacity, self._rate)
            return _wait(self._kind, st.value, st.last, c, t, self._capacity, self._rate)
        finally:
            if locked:
                PyThread_release_lock(self.lock)


def warmup():
    """Nothing to compile at run time in this tier; present so every tier has the same names."""
