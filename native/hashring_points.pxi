# Ring states of impls.hashring._cy (included by hashring.pyx): a node's points, their
# stable radix sort, the `_Points` state (sorted points, sentinel, bucket index), and
# filling one from nodes in name order or from another state without one node.

cdef uint32_t _name_state(str name) except? 0:
    """The raw CRC register after `name` as UTF-8 and "#" (UnicodeEncodeError for a lone surrogate)."""
    cdef _KeyRef ref
    cdef unsigned char hash_sign = c'#'
    _key_bytes(<PyObject*>name, &ref)
    return hr_crc32_raw(hr_crc32_raw(0xFFFFFFFF, <const unsigned char*>ref.data, ref.size), &hash_sign, 1)


cdef void _fill_points(uint32_t state, Py_ssize_t vnodes, uint32_t slot, uint64_t* out) noexcept nogil:
    """out[i] = point i of a node, packed as (point << 32 | slot).

    `state` is the node's _name_state: each point only continues it over the digits of i,
    i.e. crc32(f"{node}#{i}") without rehashing the name.
    """
    cdef unsigned char digits[8]
    cdef Py_ssize_t i, rest
    cdef int start
    for i in range(vnodes):
        start = 8
        rest = i
        while True:  # decimal digits of i, written right to left
            start -= 1
            digits[start] = c'0' + rest % 10
            rest //= 10
            if rest == 0:
                break
        out[i] = (<uint64_t>hr_fmix32(~hr_crc32_raw(state, digits + start, 8 - start)) << 32) | slot


cdef void _sort_by_point(uint64_t* a, uint64_t* tmp, Py_ssize_t n) noexcept nogil:
    """Stable LSD radix sort of packed (point << 32 | slot) values by the point alone.

    Four 8-bit passes over the high word; being stable, it keeps equal points in the order
    they came in, which the callers arrange to be node-name order.
    """
    cdef Py_ssize_t counts[4][256]
    cdef Py_ssize_t i, total, c
    cdef int p, d
    cdef uint64_t* src = a
    cdef uint64_t* dst = tmp
    cdef uint64_t* swap
    memset(counts, 0, sizeof(counts))
    for i in range(n):
        for p in range(4):
            counts[p][(src[i] >> (32 + 8 * p)) & 0xFF] += 1
    for p in range(4):
        total = 0
        for d in range(256):  # counts -> starting offsets
            c = counts[p][d]
            counts[p][d] = total
            total += c
        for i in range(n):
            d = (src[i] >> (32 + 8 * p)) & 0xFF
            dst[counts[p][d]] = src[i]
            counts[p][d] += 1
        swap = src
        src = dst
        dst = swap
    # an even number of passes: the sorted values are back in `a`



# ---------------------------------------------------------------------------------------
# Ring states

@cython.final
cdef class _Points:
    """One ring state: the sorted points with their owners' slots, the index, the names.

    Never mutated once built (see the module doc). `points` has a sentinel at [n]: hash
    0xFFFFFFFF, which stops every scan at the end of the ring, owned by the owner of
    point 0, so running off the end wraps around without a branch.
    """

    cdef _Point* points
    cdef uint32_t* index  # index[k] = first point >= k << shift; 2**(32 - shift) entries
    cdef Py_ssize_t n
    cdef int shift
    cdef list names  # slot -> node name, None for a free slot

    def __dealloc__(self):
        free(self.points)
        free(self.index)

    cdef inline uint32_t start(self, uint32_t h) noexcept nogil:
        """Where the scan for h starts: no point before it is >= h."""
        return self.index[h >> self.shift]

    cdef inline int32_t owner_from(self, uint32_t start, uint32_t h) noexcept nogil:
        """The owner of the first point >= h at or after `start` (wrapping to point 0)."""
        cdef const _Point* p = self.points + start
        while p.hash < h:
            p += 1
        return p.owner

    cdef void finish(self) noexcept nogil:
        """Set the sentinel and build the index once points[:n] are filled."""
        cdef Py_ssize_t pos = 0, k
        cdef uint32_t floor
        self.points[self.n].hash = UINT32_MAX
        self.points[self.n].owner = self.points[0].owner if self.n else 0
        for k in range(1 << (32 - self.shift)):
            floor = <uint32_t>k << self.shift
            while pos < self.n and self.points[pos].hash < floor:
                pos += 1
            self.index[k] = <uint32_t>pos


cdef _Points _new_points(Py_ssize_t n, list names):
    """An unfilled state for n points; MemoryError (and nothing changed) if it cannot be."""
    if n >= UINT32_MAX:  # index entries are uint32 positions; a ring this size is ~32 GB anyway
        raise MemoryError(f"a ring of {n} points is too large")
    cdef _Points pts = _Points.__new__(_Points)
    # b = the bit length of n, clamped to [4, 20]: one to two index buckets per point, so
    # most scans stop at the first point they read, and the index is no larger than the
    # points. (Measured at 160k points: half as many buckets is ~1.5x slower per lookup,
    # twice as many no faster.)
    cdef int bits = 0
    while (n >> bits) > 0:
        bits += 1
    bits = min(max(bits, 4), 20)
    pts.n = n
    pts.shift = 32 - bits
    pts.names = names
    pts.points = <_Point*>malloc((n + 1) * sizeof(_Point))
    pts.index = <uint32_t*>malloc((<size_t>1 << bits) * sizeof(uint32_t))
    if pts.points == NULL or pts.index == NULL:
        raise MemoryError()
    return pts


#: The state of every empty ring (states are immutable, so one can be shared).
cdef _Points _EMPTY = _new_points(0, [])


cdef class _Scratch:
    """A malloc'd buffer freed with its owner, so error paths cannot leak it."""

    cdef void* data

    def __cinit__(self, Py_ssize_t n, size_t itemsize):
        self.data = malloc(max(n, 1) * itemsize)
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)


cdef void _build(const uint32_t* states, Py_ssize_t count, Py_ssize_t vnodes,
                 uint64_t* packed, uint64_t* tmp, _Points pts) noexcept nogil:
    """Fill `pts` with the points of `count` nodes, given in slot (= name) order."""
    cdef Py_ssize_t slot, i
    # Nodes in slot order and a stable sort: equal points end up in name order.
    for slot in range(count):
        _fill_points(states[slot], vnodes, <uint32_t>slot, packed + slot * vnodes)
    _sort_by_point(packed, tmp, count * vnodes)
    for i in range(pts.n):
        pts.points[i].hash = <uint32_t>(packed[i] >> 32)
        pts.points[i].owner = <int32_t><uint32_t>packed[i]
    pts.finish()


cdef void _without(_Points old, int32_t slot, _Points pts) noexcept nogil:
    """Fill `pts` with the points of `old` not owned by `slot`."""
    cdef Py_ssize_t i, k = 0
    for i in range(old.n):
        if old.points[i].owner != slot:
            pts.points[k] = old.points[i]
            k += 1
    pts.finish()
