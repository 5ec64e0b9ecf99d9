# cython: language_level=3
"""Consistent-hash ring and jump hash, compiled: the Cython tier of the hashring family.

Same contract and placement rule as `impls.hashring.pure` (the specification), bit for bit;
bad input goes through `impls.hashring.contract`, so errors read the same in every tier.

Layout: this file holds what every part shares (declarations, key hashing) and the Ring
class; it includes, as text, one file per idea:

* hashring_points.pxi: ring states -- a node's points, their radix sort, the sorted point
  array with its bucket index, built from the nodes or from another state without one;
* hashring_lookup.pxi: the batch lookup loop (key hashes to owners, in prefetched blocks);
* hashring_jump.pxi: jump consistent hash -- jump, and jump_many with its AVX2 dispatch.

Ring states. A ring state is a `_Points`: a C array of (point, owner slot) pairs sorted by
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

from impls.hashring import contract

cdef extern from "hashring_crc32.h" nogil:
    void hr_crc32_init()
    uint32_t hr_crc32_raw(uint32_t state, const unsigned char* p, size_t n)
    uint32_t hr_crc32_update(uint32_t crc, const void* buf, size_t n)
    uint32_t hr_fmix32(uint32_t h)
    void hr_prefetch(const void* p)

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

#: Below this many keys (or points) the batch loops keep the GIL: releasing it costs more.
cdef Py_ssize_t _NOGIL_MIN = 1024

ctypedef struct _KeyRef:  # a key's UTF-8 bytes, borrowed from the key object
    const char* data
    Py_ssize_t size

ctypedef struct _Point:
    uint32_t hash
    int32_t owner  # the owning node's slot


# ---------------------------------------------------------------------------------------
# Key hashing (node names are hashed with the same _key_bytes: hashring_points.pxi)

cdef inline int _key_bytes(PyObject* key, _KeyRef* ref) except -1:
    """The UTF-8 bytes of a str key (cached in the str) or the bytes of a bytes key."""
    if PyUnicode_Check(key):
        # Raises UnicodeEncodeError for a lone surrogate, as str.encode does.
        ref.data = PyUnicode_AsUTF8AndSize(key, &ref.size)
    elif PyBytes_Check(key):
        ref.data = PyBytes_AS_STRING(key)
        ref.size = PyBytes_GET_SIZE(key)
    else:
        raise contract.key_type_error(<object>key)
    return 0


cdef inline uint32_t _crc(const _KeyRef* ref) noexcept nogil:
    return hr_crc32_update(0, ref.data, <size_t>ref.size)


def key_hash(key):
    """CRC32 (as zlib.crc32) of the key's UTF-8 bytes; a bytes key is hashed as it is."""
    cdef _KeyRef ref
    _key_bytes(<PyObject*>key, &ref)
    return _crc(&ref)


include "hashring_points.pxi"
include "hashring_lookup.pxi"
include "hashring_jump.pxi"


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
        self._vnodes = contract.DEFAULT_VNODES

    def __init__(self, nodes=(), vnodes=contract.DEFAULT_VNODES):
        cdef Py_ssize_t v = contract.check_vnodes(vnodes)
        cdef dict order = {}  # name -> its _name_state for now, its slot further down
        for node in nodes:
            contract.check_node(node)
            if node in order:
                raise contract.node_exists_error(node)
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
        contract.check_node(node)
        if node in self._nodes:
            raise contract.node_exists_error(node)
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
        contract.check_node(node)
        if node not in self._nodes:
            raise contract.node_missing_error(node)
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
            raise contract.empty_ring_error()
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
            raise contract.empty_ring_error()
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


def warmup():
    """Nothing to compile at run time in this tier; present so every tier has the same names."""
