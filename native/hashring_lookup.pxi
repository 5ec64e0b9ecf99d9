# The batch lookup loop of impls.hashring._cy (included by hashring.pyx): key hashes to
# owner slots on one ring state, in prefetched blocks. Ring.lookup_many hashes the keys
# before it and names the owners after; Ring.lookup uses _Points.start/owner_from itself.

cdef enum:
    # Keys per block of the batch lookup: enough that the block's prefetches have landed
    # by the time its scans read them, few enough that its scratch stays in L1.
    _BLOCK = 64


cdef void _locate_all(_Points pts, uint32_t* slots, Py_ssize_t n) noexcept nogil:
    """slots[i]: the hash of key i in, the slot of its owner out.

    In blocks of keys: first every index entry of the block (independent loads, whose
    cache misses overlap) with a prefetch of the point each one names, then the scans,
    which by then mostly hit the cache.
    """
    cdef uint32_t starts[_BLOCK]
    cdef Py_ssize_t base = 0, j, m
    while base < n:
        m = min(<Py_ssize_t>_BLOCK, n - base)
        for j in range(m):
            starts[j] = pts.start(slots[base + j])
            hr_prefetch(&pts.points[starts[j]])
        for j in range(m):
            slots[base + j] = <uint32_t>pts.owner_from(starts[j], slots[base + j])
        base += m
