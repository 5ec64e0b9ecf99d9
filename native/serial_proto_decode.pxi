# The protobuf decoding half of impls.serial._cy (included by serial.pyx): Order and OrderBatch
# bytes straight to dicts. The rules are pure.py's; comments here say how. Encoding is in
# serial_proto_encode.pxi.

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
    if pos < end and p[pos] < 0x80:
        out[0] = p[pos]
        return pos + 1
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


cdef object _read_string(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int field, bytes data):
    """A length-prefixed UTF-8 string at pos[0] -> its str; pos[0] moves past it."""
    cdef Py_ssize_t size
    cdef Py_ssize_t start = _read_length(p, pos[0], end, &size, data)
    cdef PyObject* text = PyUnicode_DecodeUTF8(<const char*>p + start, size, NULL)
    if text == NULL:
        PyErr_Clear()
        _fail(E_BAD_UTF8, start, field, data)
    pos[0] = start + size
    result = <object>text
    Py_DECREF(text)  # <object> took its own reference
    return result


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
    """Skip a group whose start tag was just read (see pure.skip_group): an explicit stack of
    open groups, bounded by the depth budget, instead of recursion."""
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


cdef inline Py_ssize_t _next_tag(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint64_t* tag,
                                 bytes data) except -1:
    if p[pos] < 0x80:  # the caller checked pos < end
        tag[0] = p[pos]
        return pos + 1
    return _read_tag(p, pos, end, tag, data)


cdef object _merge_meta(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int depth, bytes data,
                        object venue, uint32_t* flags):
    """Parse a Meta in p[pos:end] over venue/flags (a second Meta merges into the first);
    returns the venue."""
    cdef uint64_t tag, v
    cdef Py_ssize_t start
    while pos < end:
        start = pos
        pos = _next_tag(p, pos, end, &tag, data)
        if tag == 0x0A:
            venue = _read_string(p, &pos, end, VENUE_DETAIL, data)
        elif tag == 0x10:
            pos = _read_varint(p, pos, end, &v, data)
            flags[0] = <uint32_t>v
        else:
            _check_wire_type(tag, start, data)
            pos = _skip_value(p, pos, end, tag, start, depth, data)
    return venue


cdef dict _parse_order(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int depth, bytes data):
    """An Order in p[pos:end] -> its dict, every key present."""
    cdef int64_t id = 0, user_id = 0, qty = 0, ts_ns = 0
    cdef int32_t side = 0
    cdef uint32_t flags = 0
    cdef double price = 0.0
    cdef uint64_t tag, v, bits
    cdef Py_ssize_t start, size
    cdef int i
    cdef object symbol = EMPTY, venue = EMPTY
    cdef list tags = []
    while pos < end:
        start = pos
        pos = _next_tag(p, pos, end, &tag, data)
        if tag == 0x08:
            pos = _read_varint(p, pos, end, &v, data)
            id = <int64_t>v
        elif tag == 0x10:
            pos = _read_varint(p, pos, end, &v, data)
            user_id = <int64_t>v
        elif tag == 0x1A:
            symbol = _read_string(p, &pos, end, 3, data)
        elif tag == 0x20:
            pos = _read_varint(p, pos, end, &v, data)
            side = <int32_t><uint32_t>v  # an int32 field keeps the low 32 bits
        elif tag == 0x29:
            if end - pos < 8:
                _fail(E_TRUNCATED_FIXED64, pos, 0, data)
            bits = 0
            for i in range(8):
                bits |= <uint64_t>p[pos + i] << (8 * i)
            memcpy(&price, &bits, 8)
            pos += 8
        elif tag == 0x30:
            pos = _read_varint(p, pos, end, &v, data)
            qty = <int64_t>v
        elif tag == 0x38:
            pos = _read_varint(p, pos, end, &v, data)
            ts_ns = <int64_t>v
        elif tag == 0x42:
            tags.append(_read_string(p, &pos, end, 8, data))
        elif tag == 0x4A:
            pos = _read_length(p, pos, end, &size, data)
            if depth - 1 < 0:
                _fail(E_TOO_DEEP, start, 0, data)
            venue = _merge_meta(p, pos, pos + size, depth - 1, data, venue, &flags)
            pos += size
        else:
            _check_wire_type(tag, start, data)
            pos = _skip_value(p, pos, end, tag, start, depth, data)
    return {K_ID: id, K_USER_ID: user_id, K_SYMBOL: symbol, K_SIDE: _side_object(side), K_PRICE: price,
            K_QTY: qty, K_TS_NS: ts_ns, K_TAGS: tags, K_META: {K_VENUE: venue, K_FLAGS: flags}}


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
        if tag == 0x0A:
            pos = _read_length(p, pos, end, &size, buf)
            orders.append(_parse_order(p, pos, pos + size, MAX_DEPTH - 1, buf))
            pos += size
        else:
            _check_wire_type(tag, start, buf)
            pos = _skip_value(p, pos, end, tag, start, MAX_DEPTH, buf)
    return orders
