# Decoded strings for impls.serial._cy (included by serial.pyx before serial_proto_decode.pxi):
# UTF-8 bytes to str, with an ASCII fast path and a bounded cache of short strings.

# Loads in the host's byte order (memcpy: no alignment needed); the string cache only hashes
# and compares them, so the order does not matter.

cdef inline uint64_t _load64(const uint8_t* s) noexcept:
    cdef uint64_t v
    memcpy(&v, s, 8)
    return v


cdef inline uint32_t _load32(const uint8_t* s) noexcept:
    cdef uint32_t v
    memcpy(&v, s, 4)
    return v


# ---------------------------------------------------------------------------------------------
# Strings, through a cache of recently decoded short ones.
#
# An order's strings are mostly a few symbols, venues and tags over and over; decoding each
# (PyUnicode_DecodeUTF8: a check, an allocation and a copy, then a free when the dict goes) was
# a fifth of a decode's instructions. The cache maps the bytes of a short string to the str
# made of them, and a hit hands out that str: strs are immutable, so sharing one cannot be told
# from a new equal one. Two-way set-associative, so that two hot strings whose hashes collide
# do not evict each other: a miss puts the new str first in its bucket and moves the first
# second (the second is dropped). Bounded: 2 * TEXT_CACHE_BUCKETS strs of at most
# TEXT_CACHE_MAX_BYTES bytes (under 100 KB with the table); longer strings are decoded every
# time. Invalid UTF-8 is never cached: it fails each time it is seen.

cdef enum:
    TEXT_CACHE_BUCKET_BITS = 8
    TEXT_CACHE_BUCKETS = 256  # 1 << TEXT_CACHE_BUCKET_BITS
    TEXT_CACHE_MAX_BYTES = 32

ctypedef struct TextKey:
    # 1..32 bytes as their size and four overlapping loads that between them cover every byte
    # (see _text_key): equal keys are equal bytes, so a hit is five compares, no memcmp call.
    Py_ssize_t size
    uint64_t words[4]

ctypedef struct CachedText:
    TextKey key
    PyObject* text  # owned; NULL while the entry is empty

ctypedef struct TextBucket:
    CachedText ways[2]  # the most recently added first

cdef TextBucket TEXT_CACHE[TEXT_CACHE_BUCKETS]  # static, so zeroed: every entry starts empty


cdef inline TextBucket* _text_key(const uint8_t* s, Py_ssize_t size, TextKey* key) noexcept:
    """The key of 1..TEXT_CACHE_MAX_BYTES bytes, and its bucket. The loads overlap so that
    every byte is in one: [0, 8) and [size-8, size), plus [8, 16) and [size-16, size-8) past 16
    bytes; two 4-byte loads for 4..7 bytes; bytes 0, size/2 and size-1 for 1..3."""
    cdef uint64_t h
    key.size = size
    key.words[2] = 0
    key.words[3] = 0
    if size >= 8:
        key.words[0] = _load64(s)
        key.words[1] = _load64(s + size - 8)
        if size > 16:
            key.words[2] = _load64(s + 8)
            key.words[3] = _load64(s + size - 16)
    elif size >= 4:
        key.words[0] = _load32(s)
        key.words[1] = _load32(s + size - 4)
    else:
        key.words[0] = s[0] | (<uint64_t>s[size >> 1] << 8) | (<uint64_t>s[size - 1] << 16)
        key.words[1] = 0
    h = ((key.words[0] ^ <uint64_t>size) * <uint64_t>0x9E3779B97F4A7C15
         + key.words[1] * <uint64_t>0xC2B2AE3D27D4EB4F
         + (key.words[2] + key.words[3]) * <uint64_t>0x165667B19E3779F9)
    h = (h ^ (h >> 31)) * <uint64_t>0xBF58476D1CE4E5B9
    return &TEXT_CACHE[h >> (64 - TEXT_CACHE_BUCKET_BITS)]


cdef inline bint _holds(const CachedText* entry, const TextKey* key) noexcept:
    return (entry.text != NULL and entry.key.size == key.size and entry.key.words[0] == key.words[0]
            and entry.key.words[1] == key.words[1] and entry.key.words[2] == key.words[2]
            and entry.key.words[3] == key.words[3])


cdef inline bint _is_ascii(const uint8_t* s, Py_ssize_t size) noexcept:
    cdef Py_ssize_t i = 0
    cdef uint64_t high = 0
    while i + 8 <= size:
        high |= _load64(s + i)
        i += 8
    while i < size:
        high |= s[i]
        i += 1
    return (high & <uint64_t>0x8080808080808080) == 0


cdef object _new_text(const uint8_t* p, Py_ssize_t start, Py_ssize_t size, int field, bytes data):
    """A new str of the `size` UTF-8 bytes at p + start (DecodeError BAD_UTF8 if they are not).
    ASCII skips the decoder: the compact ASCII str PyUnicode_DecodeUTF8 would make, and one
    memcpy."""
    cdef PyObject* text
    cdef const uint8_t* s = p + start
    if _is_ascii(s, size):
        text = PyUnicode_New(size, 127)
        if text == NULL:
            raise MemoryError()
        memcpy(PyUnicode_DATA(text), s, size)
    else:
        text = PyUnicode_DecodeUTF8(<const char*>s, size, NULL)
        if text == NULL:
            PyErr_Clear()
            _fail(E_BAD_UTF8, start, field, data)
    result = <object>text
    Py_DECREF(text)  # <object> took its own reference
    return result


cdef object _new_cached_text(const uint8_t* p, Py_ssize_t start, Py_ssize_t size, int field, bytes data,
                             TextBucket* bucket, const TextKey* key):
    """A miss: the new str, which goes first in its bucket."""
    cdef PyObject* dropped
    text = _new_text(p, start, size, field, data)
    # The bucket is read only now: making the str may have run a collection and, through a
    # finaliser, another decode that changed this bucket.
    dropped = bucket.ways[1].text
    bucket.ways[1] = bucket.ways[0]
    bucket.ways[0].key = key[0]
    bucket.ways[0].text = <PyObject*>text
    Py_INCREF(<PyObject*>text)
    Py_XDECREF(dropped)
    return text


cdef object _read_any_string(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int field, bytes data):
    """_read_string for all but its inlined case: a miss, "", a long string, any error."""
    cdef Py_ssize_t size
    cdef Py_ssize_t start = _read_length(p, pos[0], end, &size, data)
    cdef TextKey key
    cdef TextBucket* bucket
    pos[0] = start + size
    if size == 0:
        return EMPTY
    if size > TEXT_CACHE_MAX_BYTES:
        return _new_text(p, start, size, field, data)
    bucket = _text_key(p + start, size, &key)
    if _holds(&bucket.ways[0], &key):
        return <object>bucket.ways[0].text
    if _holds(&bucket.ways[1], &key):
        return <object>bucket.ways[1].text
    return _new_cached_text(p, start, size, field, data, bucket, &key)


cdef inline object _read_string(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int field, bytes data):
    """A length-prefixed UTF-8 string at pos[0] -> its str; pos[0] moves past it. Inline for
    the usual case: a one-byte length, a short string, a hit in the first way of its bucket."""
    cdef Py_ssize_t at = pos[0], size
    cdef TextKey key
    cdef TextBucket* bucket
    if at < end and 0 < p[at] <= TEXT_CACHE_MAX_BYTES and p[at] < end - at:
        size = p[at]
        bucket = _text_key(p + at + 1, size, &key)
        if _holds(&bucket.ways[0], &key):
            pos[0] = at + 1 + size
            return <object>bucket.ways[0].text
    return _read_any_string(p, pos, end, field, data)
