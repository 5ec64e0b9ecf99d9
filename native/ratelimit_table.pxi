# The table of int keys of impls.ratelimit._cy (included by ratelimit.pyx): int keys that fit
# in int64, each with its bucket inline in its entry, so that a numpy int64 batch is decided
# without the GIL. Open addressing, linear probing, load kept <= 1/2; entries are never
# deleted one by one: a resize or a sweep rebuilds the table from the entries it keeps.

cdef extern from *:
    void __builtin_prefetch(const void* address) nogil


ctypedef struct _Entry:  # an int key and its bucket, 32 bytes: one cache line per decision
    int64_t key
    uint64_t used  # 0: an empty entry
    _State st

ctypedef struct _IntTable:
    _Entry* entries
    Py_ssize_t size  # a power of two
    Py_ssize_t count  # entries used


cdef inline uint64_t _mix(int64_t key) noexcept nogil:
    """splitmix64's finalizer: consecutive ints land far apart in the table."""
    cdef uint64_t x = <uint64_t>key
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL
    return x ^ (x >> 31)


cdef int _table_init(_IntTable* t, Py_ssize_t size) except -1 nogil:
    """Make `t` an empty table of `size` (a power of two) entries; the caller keeps (and
    frees) the old entries. On MemoryError nothing changes."""
    cdef _Entry* entries = <_Entry*>calloc(size, sizeof(_Entry))
    if entries == NULL:
        with gil:
            raise MemoryError()
    t.entries = entries
    t.size = size
    t.count = 0
    return 0


cdef inline _Entry* _table_find(const _IntTable* t, int64_t key) noexcept nogil:
    """The key's entry, or NULL."""
    cdef Py_ssize_t mask = t.size - 1
    cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & <uint64_t>mask)
    cdef _Entry* entries = t.entries
    while entries[i].used:
        if entries[i].key == key:
            return &entries[i]
        i = (i + 1) & mask
    return NULL


cdef inline void _table_prefetch(const _IntTable* t, int64_t key) noexcept nogil:
    """Ask for the cache line where `key`'s probe starts, a few keys ahead of its turn."""
    __builtin_prefetch(&t.entries[<Py_ssize_t>(_mix(key) & <uint64_t>(t.size - 1))])


cdef inline _Entry* _table_put(_IntTable* t, int64_t key) noexcept nogil:
    """A new entry for a key known to be absent (the table has room)."""
    cdef Py_ssize_t mask = t.size - 1
    cdef Py_ssize_t i = <Py_ssize_t>(_mix(key) & <uint64_t>mask)
    while t.entries[i].used:
        i = (i + 1) & mask
    t.entries[i].key = key
    t.entries[i].used = 1
    t.count += 1
    return &t.entries[i]


cdef int _table_rebuild(_IntTable* t, Py_ssize_t keep, int kind, double capacity, double rate, double now,
                        double* fulls, Py_ssize_t* nfull) except -1 nogil:
    """Rehash `t` into a table sized for `keep` entries. With `fulls` (a sweep), drop the
    buckets that are full at `now` by the kind's rule and append the full times of the rest."""
    cdef _Entry* old = t.entries
    cdef Py_ssize_t old_size = t.size, i, size = 16
    while size < 2 * (keep + 1):
        size *= 2
    if _table_init(t, size) == -1:  # pragma: no cover - out of memory, table unchanged
        return -1
    for i in range(old_size):
        if not old[i].used:
            continue
        if fulls != NULL:
            if _is_full(kind, old[i].st.value, old[i].st.last, now, capacity, rate):
                continue
            fulls[nfull[0]] = _full_time(kind, old[i].st.value, old[i].st.last, capacity, rate)
            nfull[0] += 1
        _table_put(t, old[i].key).st = old[i].st
    free(old)
    return 0
