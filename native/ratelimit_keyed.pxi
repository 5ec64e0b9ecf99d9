# The keyed limiter of impls.ratelimit._cy (included by ratelimit.pyx): one bucket per key,
# its sweeps (pure's rule) and its Python API. Buckets of int keys that fit in int64 live in
# the int table (ratelimit_table.pxi); every other key (str, bytes, larger ints) maps to a
# slot in `states` through a dict. Freed slots are reused. A sweep deletes full buckets from
# the dict and rebuilds the int table from what is left.

#: How many keys ahead a batch of int keys prefetches table entries (8 and 16 measured about
#: the same, 16 a little better with 10k-100k live keys; 0 is 10-30% slower there).
cdef Py_ssize_t _PREFETCH = 16


cdef int _compare_doubles(const void* a, const void* b) noexcept nogil:
    cdef double x = (<const double*>a)[0], y = (<const double*>b)[0]
    return (x > y) - (x < y)


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
    # int keys that fit in int64, their buckets inline (ratelimit_table.pxi)
    cdef _IntTable table
    # batches without the GIL
    cdef PyThread_type_lock lock
    cdef bint busy

    def __cinit__(self, *args, **kwargs):
        self.objs = {}
        self.lock = PyThread_allocate_lock()
        if self.lock == NULL:
            raise MemoryError()
        self._grow_slots(16)
        _table_init(&self.table, 16)

    def __dealloc__(self):
        free(self.states)
        free(self.free_slots)
        free(self.table.entries)
        if self.lock != NULL:
            PyThread_free_lock(self.lock)

    def __init__(self, kind, capacity, rate, max_keys=contract.DEFAULT_MAX_KEYS):
        kind, c, r, m = contract.limiter_args(kind, capacity, rate, max_keys)
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
        return self.nobj + self.table.count

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

    cdef inline bint _full(self, const _State* st, double now) noexcept nogil:
        return _is_full(self._kind, st.value, st.last, now, self._capacity, self._rate)

    cdef inline double _full_time_of(self, const _State* st) noexcept nogil:
        return _full_time(self._kind, st.value, st.last, self._capacity, self._rate)

    cdef int _sweep(self, double now) except -1:
        """pure's _sweep: drop every full bucket; note when an eighth of the rest can be full."""
        cdef Py_ssize_t pos = 0, slot, n_drop = 0, nfull = 0, i
        cdef PyObject* key
        cdef PyObject* val
        cdef double after = nextafter(now, INFINITY), nth
        cdef PyObject** drop = <PyObject**>malloc((self.nobj + 1) * sizeof(PyObject*))
        cdef double* fulls = <double*>malloc((self.nobj + self.table.count + 1) * sizeof(double))
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
            _table_rebuild(&self.table, self.table.count, self._kind, self._capacity, self._rate, now, fulls, &nfull)
            self._full_at = after
            if nfull:
                qsort(fulls, nfull, sizeof(double), _compare_doubles)
                nth = fulls[max(1, nfull // 8) - 1]
                if nth > after:
                    self._full_at = nth
            self._sweep_at = min(self._max_keys, max(_SWEEP_MIN, 2 * (self.nobj + self.table.count)))
        finally:
            free(drop)
            free(fulls)
        return 0

    cdef bint _has_room(self, double now) except -1 nogil:
        cdef Py_ssize_t live = self.nobj + self.table.count
        if live >= self._sweep_at and (live < self._max_keys or now >= self._full_at):
            with gil:  # the dict of object keys is swept too (a no-op if the GIL is held)
                self._sweep(now)
            live = self.nobj + self.table.count
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
        cdef _Entry* e = _table_find(&self.table, key)
        if e != NULL:
            return self._take_at(&e.st, cost, now)
        return self._acquire_new_int(key, cost, now)

    cdef int _acquire_new_int(self, int64_t key, double cost, double now) except -1 nogil:
        if cost > self._capacity or not self._has_room(now):
            return 0
        if 2 * (self.table.count + 1) > self.table.size:
            _table_rebuild(&self.table, self.table.count + 1, self._kind, self._capacity, self._rate, now, NULL, NULL)
        return self._start(&_table_put(&self.table, key).st, cost, now)

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
                e = _table_find(&self.table, ikey)
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
            key = contract.check_key(key)
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
        seq, times, c = contract.batch_args(keys, now, cost)
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
                            _table_prefetch(&self.table, ints[i + _PREFETCH])
                        res[i] = self._acquire_int(ints[i], cost_, per_key[i] if many_times else scalar)
            finally:
                self.busy = False
                PyThread_release_lock(self.lock)
            return out
        objs = [k if (type(k) is str or type(k) is int or type(k) is bytes) else contract.check_key(k) for k in seq]
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
        key = contract.check_key(key)
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
        key = contract.check_key(key)
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

