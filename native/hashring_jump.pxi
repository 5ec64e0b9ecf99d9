# Jump consistent hash of impls.hashring._cy (included by hashring.pyx): pure.jump_unchecked
# in C. jump places one key; jump_many runs the AVX2 kernel of hashring_jump.h where the
# CPU has it, and _jump_all (_LANES keys side by side) elsewhere and for the tail.

cdef extern from "hashring_jump.h" nogil:
    bint hr_jump_avx2_supported()
    size_t hr_jump_avx2(const uint64_t* keys, int32_t* out, size_t n, int64_t buckets)

cdef uint64_t _JUMP_MULTIPLIER = 2862933555777941757ULL
cdef int64_t _MAX_BUCKETS = contract.MAX_BUCKETS
#: Whether jump_many runs the AVX2 kernel (hashring_jump.h): decided once from the CPU.
#: A module attribute, so a test can set it False to run the scalar loop on any machine.
_JUMP_AVX2 = hr_jump_avx2_supported()

cdef enum:
    # Keys jump_many runs side by side: one key's loop is a chain of dependent multiply
    # and convert steps that leaves the divider idle; independent keys keep it busy.
    _LANES = 8


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
    return _jump(contract.check_key_hash(key_hash), contract.check_buckets(buckets))


def jump_many(key_hashes, buckets):
    """jump() of each key hash: a 1-D int array in (uint64 values), an np.int32 array out."""
    cdef const uint64_t[::1] keys = contract.as_key_hash_array(key_hashes)
    cdef int64_t b = contract.check_buckets(buckets)
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
