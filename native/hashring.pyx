# cython: language_level=3
"""Consistent-hash ring and jump hash, compiled: the Cython tier of the hashring family.

Same contract and placement rule as `impls.hashring.pure` (the specification), bit for bit;
bad input goes through `impls.hashring.checks`, so errors read the same in every tier.

Layout. A ring state is a `_Points`: a C array of (point, owner slot) pairs sorted by
point, plus a bucket index over the top `b` bits of the hash, so a lookup reads one index
entry and scans a point or two instead of binary-searching every point. A point and its
owner share a cache line, so a lookup that misses the cache misses twice (index, point),
not three times. States are never changed in place: add/remove build a new one and swap it
in, which keeps a failed add from touching the ring and lets lookup_many search the ring
without the GIL while holding its own reference to the state it started with.

Node slots. Points store a node's slot (an index into the state's `names` list), not the
name. Slots are stable: remove leaves the slot free (None in `names`), add reuses a free
slot, so remove only filters points and never renumbers the others.
"""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t, UINT32_MAX
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

from impls.hashring import checks

cdef extern from "hashring_crc32.h" nogil:
    void hr_crc32_init()
    uint32_t hr_crc32_raw(uint32_t state, const unsigned char* p, size_t n)
    uint32_t hr_crc32_update(uint32_t crc, const void* buf, size_t n)
    uint32_t hr_fmix32(uint32_t h)
    void hr_prefetch(const void* p)

cdef extern from "hashring_jump.h" nogil:
    bint hr_jump_avx2_supported()
    size_t hr_jump_avx2(const uint64_t* keys, int32_t* out, size_t n, int64_t buckets)

# Borrowed-reference views of the C API, so the per-key loops do no reference counting.
cdef extern from "Python.h":
    bint PyUnicode_Check(PyObject* o)
    bint PyBytes_Check(PyObject* o)
    const char* PyUnicode_AsUTF8AndSize(PyObject* o, Py_ssize_t* size) except NULL
    char* PyBytes_AS_STRING(PyObject* o)
    Py_ssize_t PyBytes_GET_SIZE(PyObject* o)
    PyObject** PySequence_Fast_ITEMS(object o)
    PyObject* PyList_GET_ITEM(PyObject* l, Py_ssize_t i)
    void PyList_SET_ITEM(PyObject* l, Py_ssize_t i, PyObject* o)  # steals a reference
    void Py_INCREF(PyObject* o)
    object PyList_New(Py_ssize_t n)

hr_crc32_init()

cdef uint64_t _JUMP_MULTIPLIER = 2862933555777941757ULL
cdef int64_t _MAX_BUCKETS = checks.MAX_BUCKETS
#: Below this many keys (or points) the batch loops keep the GIL: releasing it costs more.
cdef Py_ssize_t _NOGIL_MIN = 1024
#: Whether jump_many runs the AVX2 kernel (hashring_jump.h): decided once from the CPU.
#: A module attribute, so a test can set it False to run the scalar loop on any machine.
_JUMP_AVX2 = hr_jump_avx2_supported()

cdef enum:
    # Keys per block of the batch lookup: enough that the block's prefetches have landed
    # by the time its scans read them, few enough that its scratch stays in L1.
    _BLOCK = 64
    # Keys jump_many runs side by side: one key's loop is a chain of dependent multiply
    # and convert steps that leaves the divider idle; independent keys keep it busy.
    _LANES = 8

ctypedef struct _KeyRef:  # a key's UTF-8 bytes, borrowed from the key object
    const char* data
    Py_ssize_t size

ctypedef struct _Point:
    uint32_t hash
    int32_t owner  # the owning node's slot


# ---------------------------------------------------------------------------------------
# Hashing

cdef inline int _key_bytes(PyObject* key, _KeyRef* ref) except -1:
    """The UTF-8 bytes of a str key (cached in the str) or the bytes of a bytes key."""
    if PyUnicode_Check(key):
        # Raises UnicodeEncodeError for a lone surrogate, as str.encode does.
        ref.data = PyUnicode_AsUTF8AndSize(key, &ref.size)
    elif PyBytes_Check(key):
        ref.data = PyBytes_AS_STRING(key)
        ref.size = PyBytes_GET_SIZE(key)
    else:
        raise checks.key_type_error(<object>key)
    return 0


cdef inline uint32_t _crc(const _KeyRef* ref) noexcept nogil:
    return hr_crc32_update(0, ref.data, <size_t>ref.size)


def key_hash(key):
    """CRC32 (as zlib.crc32) of the key's UTF-8 bytes; a bytes key is hashed as it is."""
    cdef _KeyRef ref
    _key_bytes(<PyObject*>key, &ref)
    return _crc(&ref)


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


# ---------------------------------------------------------------------------------------
# Ring

cdef class Ring:
    """A consistent-hash ring with `vnodes` points per node (see pure.py for the rule).

    Not thread-safe for concurrent add/remove; lookups are safe alongside them and see the
    ring as it was when they started.
    """

    cdef _Points _pts
    cdef dict _nodes  # node name -> slot, in the order the nodes were added
    cdef list _free  # free slots, reused by add
    cdef Py_ssize_t _vnodes

    def __cinit__(self):
        # A valid empty ring even before (or without) __init__.
        self._pts = _EMPTY
        self._nodes = {}
        self._free = []
        self._vnodes = checks.DEFAULT_VNODES

    def __init__(self, nodes=(), vnodes=checks.DEFAULT_VNODES):
        cdef Py_ssize_t v = checks.check_vnodes(vnodes)
        cdef dict order = {}  # name -> its _name_state for now, its slot further down
        for node in nodes:
            checks.check_node(node)
            if node in order:
                raise checks.node_exists_error(node)
            order[node] = _name_state(node)  # an unencodable name fails here, as in pure
        names = sorted(order)  # slot = rank in name order, so slot order breaks point ties
        cdef Py_ssize_t count = len(names), total = count * v, slot
        cdef _Scratch states = _Scratch(count, sizeof(uint32_t))
        for slot in range(count):
            (<uint32_t*>states.data)[slot] = order[names[slot]]
            order[names[slot]] = slot
        cdef _Points pts = _new_points(total, names)
        cdef _Scratch packed = _Scratch(total, sizeof(uint64_t))
        cdef _Scratch tmp = _Scratch(total, sizeof(uint64_t))
        if total >= _NOGIL_MIN:
            with nogil:
                _build(<uint32_t*>states.data, count, v, <uint64_t*>packed.data, <uint64_t*>tmp.data, pts)
        else:
            _build(<uint32_t*>states.data, count, v, <uint64_t*>packed.data, <uint64_t*>tmp.data, pts)
        self._pts = pts
        self._nodes = order
        self._free = []
        self._vnodes = v

    @property
    def vnodes(self):
        return self._vnodes

    @property
    def nodes(self):
        """The current node names, in the order they were added (a new list)."""
        return list(self._nodes)

    def __len__(self):
        return len(self._nodes)

    def __contains__(self, node):
        return node in self._nodes

    def __reduce__(self):
        return (Ring, (self.nodes, self._vnodes))

    def add(self, node):
        """Add a node; only keys that now belong to it move. ValueError if it is there."""
        checks.check_node(node)
        if node in self._nodes:
            raise checks.node_exists_error(node)
        cdef uint32_t state = _name_state(node)
        cdef _Points old = self._pts
        cdef list names = list(old.names)
        cdef Py_ssize_t slot = self._free[len(self._free) - 1] if self._free else len(names)
        if slot == len(names):
            names.append(node)
        else:
            names[slot] = node
        cdef Py_ssize_t v = self._vnodes
        cdef _Scratch new = _Scratch(v, sizeof(uint64_t)), tmp = _Scratch(v, sizeof(uint64_t))
        cdef uint64_t* new_points = <uint64_t*>new.data
        _fill_points(state, v, <uint32_t>slot, new_points)
        _sort_by_point(new_points, <uint64_t*>tmp.data, v)
        cdef _Points pts = _new_points(old.n + v, names)
        # Merge the two sorted runs; an equal point is ordered by node name, as in pure.
        cdef Py_ssize_t i = 0, j = 0, k = 0
        cdef _Point p
        while j < v:
            p.hash = <uint32_t>(new_points[j] >> 32)
            p.owner = <int32_t>slot
            if i < old.n and (old.points[i].hash < p.hash or
                              (old.points[i].hash == p.hash and names[old.points[i].owner] < node)):
                pts.points[k] = old.points[i]
                i += 1
            else:
                pts.points[k] = p
                j += 1
            k += 1
        while i < old.n:
            pts.points[k] = old.points[i]
            i += 1
            k += 1
        pts.finish()
        # Nothing above changed the ring; commit.
        self._pts = pts
        self._nodes[node] = slot
        if self._free:
            self._free.pop()

    def remove(self, node):
        """Remove a node; exactly the keys it owned move. KeyError if it is not there."""
        checks.check_node(node)
        if node not in self._nodes:
            raise checks.node_missing_error(node)
        cdef int32_t slot = self._nodes[node]
        cdef _Points old = self._pts
        cdef list names = list(old.names)
        names[slot] = None
        cdef _Points pts = _new_points(old.n - self._vnodes, names)
        if old.n >= _NOGIL_MIN:
            with nogil:
                _without(old, slot, pts)
        else:
            _without(old, slot, pts)
        self._pts = pts
        del self._nodes[node]
        self._free.append(slot)

    def lookup(self, key):
        """The node that owns `key`. LookupError on an empty ring."""
        cdef _KeyRef ref
        _key_bytes(<PyObject*>key, &ref)
        cdef uint32_t h = _crc(&ref)
        cdef _Points pts = self._pts
        if pts.n == 0:
            raise checks.empty_ring_error()
        return <object>PyList_GET_ITEM(<PyObject*>pts.names, pts.owner_from(pts.start(h), h))

    def lookup_many(self, keys):
        """The owner of each key, in order. LookupError on an empty ring.

        Three passes: hash every key, locate every hash on the ring (without the GIL),
        then build the list of names.
        """
        # Hashing keeps the GIL: without it nothing would keep the keys of a list alive
        # (another thread may empty the list), and pinning them first (a tuple copy) made
        # 1M keys twice as slow as hashing them while they are safe.
        cdef _Points pts = self._pts
        if pts.n == 0:
            raise checks.empty_ring_error()
        # A list or tuple is read in place; anything else is iterated once, as pure would.
        seq = keys if type(keys) is list or type(keys) is tuple else list(keys)
        cdef Py_ssize_t n = len(seq), i
        # From here to the end of the hashing pass no Python code runs (malloc, unlike a
        # Python object, cannot start a garbage collection), so no finalizer or thread can
        # resize `seq` under `items`.
        cdef uint32_t* slots = <uint32_t*>malloc(max(n, 1) * sizeof(uint32_t))
        if slots == NULL:
            raise MemoryError()
        cdef PyObject** items = PySequence_Fast_ITEMS(seq)
        cdef _KeyRef ref
        cdef PyObject* names = <PyObject*>pts.names
        cdef PyObject* name
        try:
            for i in range(n):
                _key_bytes(items[i], &ref)
                slots[i] = _crc(&ref)
            if n >= _NOGIL_MIN:
                with nogil:
                    _locate_all(pts, slots, n)
            else:
                _locate_all(pts, slots, n)
            result = PyList_New(n)
            for i in range(n):
                name = PyList_GET_ITEM(names, slots[i])
                Py_INCREF(name)
                PyList_SET_ITEM(<PyObject*>result, i, name)
            return result
        finally:
            free(slots)


# ---------------------------------------------------------------------------------------
# Jump consistent hash

cdef inline int32_t _jump(uint64_t key, int64_t buckets) noexcept nogil:
    """pure.jump_unchecked: the same uint64 wrap-around and the same double operations."""
    cdef int64_t b = -1, j = 0
    while j < buckets:
        b = j
        key = key * _JUMP_MULTIPLIER + 1
        j = <int64_t>((b + 1) * (<double>(1LL << 31) / <double>((key >> 33) + 1)))
    return <int32_t>b


cdef void _jump_all(const uint64_t* keys, int32_t* out, Py_ssize_t n, int64_t buckets) noexcept nogil:
    """out[i] = _jump(keys[i], buckets), _LANES keys at a time (each lane is _jump's loop).

    jump_many's path without AVX2, and its tail of fewer keys than an AVX2 block.
    """
    cdef uint64_t k[_LANES]
    cdef int64_t b[_LANES]
    cdef int64_t j[_LANES]
    cdef Py_ssize_t base = 0, i
    cdef int l
    cdef bint running
    while base + _LANES <= n:
        for l in range(_LANES):
            k[l] = keys[base + l]
            b[l] = -1
            j[l] = 0
        running = True
        while running:
            running = False
            for l in range(_LANES):
                if j[l] < buckets:
                    b[l] = j[l]
                    k[l] = k[l] * _JUMP_MULTIPLIER + 1
                    j[l] = <int64_t>((b[l] + 1) * (<double>(1LL << 31) / <double>((k[l] >> 33) + 1)))
                    running |= j[l] < buckets
        for l in range(_LANES):
            out[base + l] = <int32_t>b[l]
        base += _LANES
    for i in range(base, n):
        out[i] = _jump(keys[i], buckets)


def jump(key_hash, buckets):
    """Jump consistent hash: the bucket in [0, buckets) of an unsigned 64-bit key hash."""
    cdef uint64_t k
    cdef int64_t b
    # Fast path for plain ints in range; anything else (bool, index-able objects, floats,
    # out of range) goes through the checks, which convert or raise exactly as pure does.
    if type(key_hash) is int and type(buckets) is int:
        try:
            k = key_hash
            b = buckets
        except OverflowError:
            pass
        else:
            if 1 <= b <= _MAX_BUCKETS:
                return _jump(k, b)
    return _jump(checks.check_key_hash(key_hash), checks.check_buckets(buckets))


def jump_many(key_hashes, buckets):
    """jump() of each key hash: a 1-D int array in (uint64 values), an np.int32 array out."""
    cdef const uint64_t[::1] keys = checks.as_key_hash_array(key_hashes)
    cdef int64_t b = checks.check_buckets(buckets)
    out = np.empty(keys.shape[0], dtype=np.int32)
    cdef int32_t[::1] res = out
    cdef Py_ssize_t n = keys.shape[0], done = 0
    cdef bint avx2 = _JUMP_AVX2
    if n:
        with nogil:
            if avx2:
                done = <Py_ssize_t>hr_jump_avx2(&keys[0], &res[0], <size_t>n, b)
            _jump_all(&keys[done], &res[done], n - done, b)
    return out


def warmup():
    """Nothing to compile at run time in this tier; present so every tier has the same names."""
