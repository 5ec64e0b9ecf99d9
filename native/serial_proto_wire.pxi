# Reading the protobuf wire format, for impls.serial._cy's decoder (included by serial.pyx before
# serial_proto_decode.pxi): tags, varints and lengths, and skipping what the schema does not
# know (unknown fields, groups). The rules are pure_proto.py's; errors go through `_fail`.

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
