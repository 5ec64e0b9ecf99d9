# The protobuf decoding half of impls.serial._cy (included by serial.pyx): Order and OrderBatch
# bytes straight to dicts. The rules are pure_proto.py's; comments here say how. Encoding is in
# serial_proto_encode.pxi; the tags (TAG_*), keys (K_*) and error codes (E_*) are serial.pyx's.
#
# What a decode costs (callgrind, 1000 varied orders of bench.cases.serial): building the two
# dicts through the C API is over half of it, and is the floor here (the C API has no cheaper
# way to fill a dict than one insert per key); the rest is kept small by
#   - a cache of decoded short strings (symbols, venues and tags repeat): a hit is a hash and
#     five compares instead of a decode, an allocation and, later, a free;
#   - copying a template dict of the schema's defaults rather than building each order dict
#     key by key;
#   - keeping the tags on the stack until their list can be made at its size;
#   - a table from tag to field (a C switch), and inline paths for one-byte tags and lengths
#     and for varints with room to spare.
# Together: 5.8k -> 4.4k instructions a decode_order, 7.7k -> 5.9k an order of decode_batch
# with freeing the result (cached strs are not freed); 625 -> ~400 ns a decode_order.

cdef extern from "Python.h":
    PyObject* PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)  # new ref, or NULL and MemoryError
    void* PyUnicode_DATA(PyObject* o)
    object PyList_New(Py_ssize_t n)
    void PyList_SET_ITEM(object l, Py_ssize_t i, PyObject* o)  # steals o
    object PyDict_Copy(object d)
    void Py_INCREF(PyObject* o)
    void Py_XDECREF(PyObject* o)
    int PY_LITTLE_ENDIAN  # a constant: the branch on it folds away


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
# Decoding: readers take (p, pos, end, ...) and return the position after what they read;
# `end` is the end of the enclosing message, never the end of the buffer past it.

cdef Py_ssize_t _read_tag(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* out,
                          bytes data) except -1:
    """A tag: at most 5 bytes and below 2**32."""
    cdef uint64_t v = 0
    cdef int i
    cdef uint8_t byte
    for i in range(5):
        if pos + i >= end:
            _fail(E_TRUNCATED_TAG, pos, 0, data)
        byte = p[pos + i]
        v |= <uint64_t>(byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if v > 0xFFFFFFFF:
                break
            out[0] = v
            return pos + i + 1
    _fail(E_BAD_TAG, pos, 0, data)


cdef inline Py_ssize_t _next_tag(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* tag,
                                 bytes data) except -1:
    if p[pos] < 0x80:  # the caller checked pos < end
        tag[0] = p[pos]
        return pos + 1
    return _read_tag(p, pos, end, tag, data)


cdef Py_ssize_t _read_varint_slow(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* out,
                                  bytes data) except -1:
    cdef uint64_t v = 0
    cdef int i
    cdef uint8_t byte
    for i in range(10):
        if pos + i >= end:
            _fail(E_TRUNCATED_VARINT, pos, 0, data)
        byte = p[pos + i]
        v |= <uint64_t>(byte & 0x7F) << (7 * i)  # the 10th byte's bits past 64 fall off
        if byte < 0x80:
            out[0] = v
            return pos + i + 1
    _fail(E_VARINT_TOO_LONG, pos, 0, data)


cdef inline Py_ssize_t _read_varint(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* out,
                                    bytes data) except -1:
    """A varint: with 10 bytes left (room for any varint) its bytes need no bounds check, so
    it is a short loop inlined where it is read; the end of a message and every error go to
    the careful reader. (Reading 8 bytes as one word, without a branch per byte, measured
    the same: not worth its lines.)"""
    cdef uint64_t v, byte
    cdef int i
    if end - pos >= 10:
        v = p[pos]
        if v < 0x80:
            out[0] = v
            return pos + 1
        v &= 0x7F
        for i in range(1, 10):
            byte = p[pos + i]
            v |= (byte & 0x7F) << (7 * i)  # the 10th byte's bits past 64 fall off
            if byte < 0x80:
                out[0] = v
                return pos + i + 1
    return _read_varint_slow(p, pos, end, out, data)


cdef Py_ssize_t _read_length(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* out,
                             bytes data) except -1:
    """A length prefix (at most 5 bytes) whose bytes fit before `end`: returns where they start."""
    cdef uint64_t v = 0
    cdef int i
    cdef uint8_t byte
    for i in range(5):
        if pos + i >= end:
            _fail(E_TRUNCATED_LENGTH, pos, 0, data)
        byte = p[pos + i]
        v |= <uint64_t>(byte & 0x7F) << (7 * i)
        if byte < 0x80:
            if v > <uint64_t>(end - (pos + i + 1)):
                _fail(E_LENGTH_PAST_END, pos, <int64_t>v, data)
            out[0] = <Py_ssize_t>v
            return pos + i + 1
    _fail(E_LENGTH_TOO_LONG, pos, 0, data)


cdef inline Py_ssize_t _read_short_length(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* out,
                                          bytes data) except -1:
    """_read_length, inlined for a one-byte prefix that fits (an order, a Meta); else the call."""
    if pos < end and p[pos] < 0x80 and p[pos] < end - pos:
        out[0] = p[pos]
        return pos + 1
    return _read_length(p, pos, end, out, data)


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


# ---------------------------------------------------------------------------------------------
# Unknown fields and groups.

cdef int _check_wire_type(uint64_t tag, Py_ssize_t tag_start, bytes data) except -1:
    """A tag read at message level (not inside a group) must be usable there."""
    cdef int wire_type = tag & 7
    if wire_type > 5:
        _fail(E_BAD_WIRE_TYPE, tag_start, wire_type, data)
    if wire_type == 4:
        _fail(E_UNEXPECTED_END_GROUP, tag_start, <int64_t>(tag >> 3), data)
    if tag < 8:
        _fail(E_FIELD_ZERO, tag_start, 0, data)
    return 0


cdef Py_ssize_t _skip_group(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t field,
                            Py_ssize_t tag_start, int depth, bytes data) except -1:
    """Skip a group whose start tag was just read (see pure_proto.skip_group): an explicit
    stack of open groups, bounded by the depth budget, instead of recursion."""
    cdef uint64_t fields[GROUP_STACK]
    cdef Py_ssize_t starts[GROUP_STACK]
    cdef int open_groups = 1, wire_type
    cdef uint64_t tag
    cdef Py_ssize_t start
    fields[0] = field
    starts[0] = tag_start
    if depth - 1 < 0:
        _fail(E_TOO_DEEP, tag_start, 0, data)
    while True:
        if pos >= end:
            _fail(E_UNTERMINATED_GROUP, starts[open_groups - 1], <int64_t>fields[open_groups - 1], data)
        start = pos
        pos = _read_tag(p, pos, end, &tag, data)
        wire_type = tag & 7
        if wire_type > 5:
            _fail(E_BAD_WIRE_TYPE, start, wire_type, data)
        if wire_type == 4:
            if tag >> 3 != fields[open_groups - 1]:
                _fail(E_MISMATCHED_END_GROUP, start, <int64_t>(tag >> 3), data)
            open_groups -= 1
            if open_groups == 0:
                return pos
        elif wire_type == 3:
            if depth - (open_groups + 1) < 0:
                _fail(E_TOO_DEEP, start, 0, data)
            fields[open_groups] = tag >> 3
            starts[open_groups] = start
            open_groups += 1
        else:
            pos = _skip_value(p, pos, end, tag, start, depth, data)


cdef Py_ssize_t _skip_value(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t tag,
                            Py_ssize_t tag_start, int depth, bytes data) except -1:
    """Skip an unknown field's value (wire type 0, 1, 2, 3 or 5)."""
    cdef int wire_type = tag & 7
    cdef uint64_t ignored
    cdef Py_ssize_t size
    if wire_type == 0:
        return _read_varint(p, pos, end, &ignored, data)
    if wire_type == 1:
        if end - pos < 8:
            _fail(E_TRUNCATED_FIXED64, pos, 0, data)
        return pos + 8
    if wire_type == 5:
        if end - pos < 4:
            _fail(E_TRUNCATED_FIXED32, pos, 0, data)
        return pos + 4
    if wire_type == 2:
        pos = _read_length(p, pos, end, &size, data)
        return pos + size
    return _skip_group(p, pos, end, tag >> 3, tag_start, depth, data)


# ---------------------------------------------------------------------------------------------
# Fields, by tag: a table from a tag (below 256, as every tag of the schema is) to the field, so
# that the dispatch is a C switch on constants. Any other tag -- another field number, or a
# known field number arriving with another wire type -- maps to UNKNOWN_FIELD and is skipped.

cdef enum FieldId:
    UNKNOWN_FIELD = 0
    ORDER_ID, ORDER_USER_ID, ORDER_SYMBOL, ORDER_SIDE, ORDER_PRICE, ORDER_QTY, ORDER_TS_NS, ORDER_TAGS, ORDER_META
    META_VENUE, META_FLAGS

cdef uint8_t ORDER_FIELD_OF_TAG[256]  # static, so zeroed: UNKNOWN_FIELD
cdef uint8_t META_FIELD_OF_TAG[256]
ORDER_FIELD_OF_TAG[TAG_ID] = ORDER_ID
ORDER_FIELD_OF_TAG[TAG_USER_ID] = ORDER_USER_ID
ORDER_FIELD_OF_TAG[TAG_SYMBOL] = ORDER_SYMBOL
ORDER_FIELD_OF_TAG[TAG_SIDE] = ORDER_SIDE
ORDER_FIELD_OF_TAG[TAG_PRICE] = ORDER_PRICE
ORDER_FIELD_OF_TAG[TAG_QTY] = ORDER_QTY
ORDER_FIELD_OF_TAG[TAG_TS_NS] = ORDER_TS_NS
ORDER_FIELD_OF_TAG[TAG_TAGS] = ORDER_TAGS
ORDER_FIELD_OF_TAG[TAG_META] = ORDER_META
META_FIELD_OF_TAG[TAG_VENUE] = META_VENUE
META_FIELD_OF_TAG[TAG_FLAGS] = META_FLAGS

# BAD_UTF8's detail for each string field (the pure tier's, from errors.py).
cdef int SYMBOL_DETAIL = errors.PB_STRING_DETAIL[K_SYMBOL]
cdef int TAGS_DETAIL = errors.PB_STRING_DETAIL[K_TAGS]


cdef inline int _field_of(const uint8_t* table, uint64_t tag) noexcept:
    return table[tag] if tag < 256 else UNKNOWN_FIELD


# ---------------------------------------------------------------------------------------------
# Messages.

# Every order dict starts as a copy of this one: every key, in the schema's order, at its
# proto3 default (tags and meta are replaced by each order's own). The copy is a memcpy of a
# table of unicode keys (16 bytes an entry) whose hashes are known; the C API's presized dict
# (what a dict literal compiles to) has general entries (24 bytes) that each insert fills:
# ~120 instructions fewer an order, but 80 bytes more, and it measured 3% slower a
# decode_order and 5-8% slower a decode_batch. The template holds a list, so it and its copies
# are tracked by the GC from the start and no insert has to ask whether its value needs it.
cdef dict ORDER_TEMPLATE = schema.default_order()
if tuple(ORDER_TEMPLATE) != ORDER_KEYS:
    raise ImportError("schema.default_order() is not in ORDER_KEYS' order")

cdef enum:
    # An order's tags stay on the stack until the list can be made at its size: appending
    # grew a list from 0 to 4 to 8 slots (two allocations for five tags). Past this many the
    # rest go on into a list.
    TAGS_ON_STACK = 8


cdef object _merge_meta(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int depth, bytes data,
                        object venue, uint32_t* flags):
    """Parse a Meta in p[pos:end] over venue/flags (a second Meta merges into the first);
    returns the venue."""
    cdef uint64_t tag, v = 0
    cdef Py_ssize_t start
    cdef int field
    while pos < end:
        start = pos
        pos = _next_tag(p, pos, end, &tag, data)
        field = _field_of(META_FIELD_OF_TAG, tag)
        if field == META_VENUE:
            venue = _read_string(p, &pos, end, VENUE_DETAIL, data)
        elif field == META_FLAGS:
            pos = _read_varint(p, pos, end, &v, data)
            flags[0] = <uint32_t>v  # a 32-bit field keeps the low 32 bits
        else:
            _check_wire_type(tag, start, data)
            pos = _skip_value(p, pos, end, tag, start, depth, data)
    return venue


cdef list _move_to_list(list tags, PyObject** items, Py_ssize_t n):
    """The n owned references in items, moved to the end of `tags` (a new list if None)."""
    cdef Py_ssize_t i
    if tags is None:
        tags = PyList_New(n)
        for i in range(n):
            PyList_SET_ITEM(tags, i, items[i])  # steals the reference
        return tags
    for i in range(n):
        tags.append(<object>items[i])
    for i in range(n):
        Py_DECREF(items[i])
    return tags


cdef dict _parse_order(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int depth, bytes data):
    """An Order in p[pos:end] -> its dict, every key present."""
    cdef int64_t id = 0, user_id = 0, qty = 0, ts_ns = 0
    cdef int32_t side = 0
    cdef uint32_t flags = 0
    cdef double price = 0.0
    cdef uint64_t tag, v = 0, price_bits = 0
    cdef Py_ssize_t start, size
    cdef int i, field
    cdef object symbol = EMPTY, venue = EMPTY, text
    cdef list tags = None
    cdef PyObject* tags_on_stack[TAGS_ON_STACK]  # owned: released here if anything fails
    cdef Py_ssize_t n_on_stack = 0
    try:
        while pos < end:
            start = pos
            pos = _next_tag(p, pos, end, &tag, data)
            field = _field_of(ORDER_FIELD_OF_TAG, tag)
            if field == ORDER_ID:
                pos = _read_varint(p, pos, end, &v, data)
                id = <int64_t>v
            elif field == ORDER_USER_ID:
                pos = _read_varint(p, pos, end, &v, data)
                user_id = <int64_t>v
            elif field == ORDER_SYMBOL:
                symbol = _read_string(p, &pos, end, SYMBOL_DETAIL, data)
            elif field == ORDER_SIDE:
                pos = _read_varint(p, pos, end, &v, data)
                side = <int32_t><uint32_t>v  # an int32 field keeps the low 32 bits
            elif field == ORDER_PRICE:
                if end - pos < 8:
                    _fail(E_TRUNCATED_FIXED64, pos, 0, data)
                if PY_LITTLE_ENDIAN:  # as the wire: one load (gcc left the loop byte by byte)
                    memcpy(&price_bits, p + pos, 8)
                else:
                    price_bits = 0
                    for i in range(8):
                        price_bits |= <uint64_t>p[pos + i] << (8 * i)
                pos += 8
            elif field == ORDER_QTY:
                pos = _read_varint(p, pos, end, &v, data)
                qty = <int64_t>v
            elif field == ORDER_TS_NS:
                pos = _read_varint(p, pos, end, &v, data)
                ts_ns = <int64_t>v
            elif field == ORDER_TAGS:
                text = _read_string(p, &pos, end, TAGS_DETAIL, data)
                if n_on_stack == TAGS_ON_STACK:
                    tags = _move_to_list(tags, tags_on_stack, n_on_stack)
                    n_on_stack = 0
                Py_INCREF(<PyObject*>text)
                tags_on_stack[n_on_stack] = <PyObject*>text
                n_on_stack += 1
            elif field == ORDER_META:
                pos = _read_short_length(p, pos, end, &size, data)
                if depth - 1 < 0:
                    _fail(E_TOO_DEEP, start, 0, data)
                venue = _merge_meta(p, pos, pos + size, depth - 1, data, venue, &flags)
                pos += size
            else:
                _check_wire_type(tag, start, data)
                pos = _skip_value(p, pos, end, tag, start, depth, data)
        tags = _move_to_list(tags, tags_on_stack, n_on_stack)
        n_on_stack = 0
    except:
        for i in range(n_on_stack):
            Py_DECREF(tags_on_stack[i])
        raise
    # A scalar at its proto3 default keeps the template's value (the same immutable object):
    # one insert fewer for each field an order leaves out.
    cdef dict order = PyDict_Copy(ORDER_TEMPLATE)
    if id:
        PyDict_SetItem(order, K_ID, id)
    if user_id:
        PyDict_SetItem(order, K_USER_ID, user_id)
    if symbol is not EMPTY:
        PyDict_SetItem(order, K_SYMBOL, symbol)
    if side:
        PyDict_SetItem(order, K_SIDE, _side_object(side))
    if price_bits:  # bits, not value: -0.0 is not the default
        memcpy(&price, &price_bits, 8)
        PyDict_SetItem(order, K_PRICE, price)
    if qty:
        PyDict_SetItem(order, K_QTY, qty)
    if ts_ns:
        PyDict_SetItem(order, K_TS_NS, ts_ns)
    PyDict_SetItem(order, K_TAGS, tags)
    PyDict_SetItem(order, K_META, {K_VENUE: venue, K_FLAGS: flags})
    return order


def decode_order(data):
    """Order's protobuf bytes -> an order dict with every key (proto3 defaults where absent);
    DecodeError naming what and the byte offset for malformed input."""
    cdef bytes buf = _as_bytes(data)
    return _parse_order(<const uint8_t*>PyBytes_AS_STRING(buf), 0, PyBytes_GET_SIZE(buf), MAX_DEPTH, buf)


def decode_batch(data):
    """OrderBatch's protobuf bytes -> a list of order dicts (as decode_order)."""
    cdef bytes buf = _as_bytes(data)
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t pos = 0, end = PyBytes_GET_SIZE(buf), start, size
    cdef uint64_t tag
    cdef list orders = []
    while pos < end:
        start = pos
        pos = _next_tag(p, pos, end, &tag, buf)
        if tag == TAG_ORDER:
            pos = _read_short_length(p, pos, end, &size, buf)
            orders.append(_parse_order(p, pos, pos + size, MAX_DEPTH - 1, buf))
            pos += size
        else:
            _check_wire_type(tag, start, buf)
            pos = _skip_value(p, pos, end, tag, start, MAX_DEPTH, buf)
    return orders
