# The msgpack half of impls.serial._cy (included by serial.pyx), unpacking: unpack_order,
# straight from msgpack bytes to the dict. The rules are pure_msgpack_unpack.py's; the keys
# and field slots (F_*, M_*) are serial.pyx's. Readers take the position by pointer and move
# it past what they read.
#
# As in pure_msgpack_unpack: what msgpack rejects fails at once (DecodeError); a value msgpack
# reads but the schema does not accept is recorded as a Problem and its reader returns PROBLEM;
# the map skips that value (checking it as msgpack would) and holds the problem until the map
# ends, since a later value of the same key replaces it.

cdef int E_MP_TRUNCATED = errors.MP_TRUNCATED, E_MP_NOT_MAP = errors.MP_NOT_MAP
cdef int E_MP_KEY_NOT_STR = errors.MP_KEY_NOT_STR, E_MP_UNKNOWN_KEY = errors.MP_UNKNOWN_KEY
cdef int E_MP_WRONG_TYPE = errors.MP_WRONG_TYPE, E_MP_OUT_OF_RANGE = errors.MP_OUT_OF_RANGE
cdef int E_MP_UNKNOWN_SIDE = errors.MP_UNKNOWN_SIDE, E_MP_BAD_UTF8 = errors.MP_BAD_UTF8
cdef int E_MP_TRAILING = errors.MP_TRAILING
cdef int E_MP_RESERVED_BYTE = errors.MP_RESERVED_BYTE, E_MP_BAD_MAP_KEY = errors.MP_BAD_MAP_KEY
cdef int E_MP_BAD_EXT = errors.MP_BAD_EXT, E_MP_TOO_DEEP = errors.MP_TOO_DEEP
cdef int MP_MAX_DEPTH = errors.MP_MAX_DEPTH, MP_NESTED = errors.MP_NESTED
cdef int MP_KEY = errors.MP_KEY, MP_IN_ORDER = errors.MP_IN_ORDER, MP_IN_META = errors.MP_IN_META
# Error details of the values that are not Order's fields (those are F_*, see serial.pyx).
cdef int MP_VENUE = errors.MP_FIELD["meta.venue"], MP_FLAGS = errors.MP_FIELD["meta.flags"]
cdef int MP_TAGS_ITEM = errors.MP_TAGS_ITEM

ctypedef struct Problem:
    int code  # 0: none
    Py_ssize_t offset
    int64_t detail

#: What a reader returns after recording a Problem (compared by identity).
cdef object PROBLEM = object()


cdef inline object _problem(Problem* problem, int code, Py_ssize_t offset, int64_t detail):
    problem.code = code
    problem.offset = offset
    problem.detail = detail
    return PROBLEM


cdef inline uint64_t _be(const uint8_t* p, int width) noexcept:
    cdef uint64_t v = 0
    cdef int i
    for i in range(width):
        v = (v << 8) | p[i]
    return v


cdef inline int _need(Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size, Py_ssize_t start, bytes data) except -1:
    if end - pos < size:
        _fail(E_MP_TRUNCATED, start, 0, data)
    return 0


cdef inline uint8_t _type_byte(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, bytes data) except? 0xC1:
    if pos >= end:
        _fail(E_MP_TRUNCATED, pos, 0, data)
    return p[pos]


cdef inline bint _is_str(uint8_t byte) noexcept:
    return 0xA0 <= byte <= 0xBF or 0xD9 <= byte <= 0xDB


cdef Py_ssize_t _count(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, uint8_t fix, uint8_t wide,
                       Py_ssize_t per_item, bytes data) except -2:
    """The count of an array or map header at pos[0] (moved past it), or -1 if it is not one.
    A count whose items cannot fit in the bytes left is truncated data, reported here."""
    cdef Py_ssize_t start = pos[0], after
    cdef uint8_t byte = p[start]
    cdef uint64_t count
    cdef int width
    if fix <= byte <= fix + 15:
        count = byte & 0x0F
        after = start + 1
    elif byte == wide or byte == wide + 1:
        width = 2 if byte == wide else 4
        _need(start + 1, end, width, start, data)
        count = _be(p + start + 1, width)
        after = start + 1 + width
    else:
        return -1
    if count * <uint64_t>per_item > <uint64_t>(end - after):
        _fail(E_MP_TRUNCATED, start, 0, data)
    pos[0] = after
    return <Py_ssize_t>count


cdef Py_ssize_t _sized(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int width, Py_ssize_t* size,
                       bytes data) except -1:
    """Start of a str/bin/ext body whose header at pos has a `width`-byte size; the body fits."""
    _need(pos + 1, end, width, pos, data)
    size[0] = <Py_ssize_t>_be(p + pos + 1, width)
    _need(pos + 1 + width, end, size[0], pos, data)
    return pos + 1 + width


cdef inline Py_ssize_t _str_body(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint8_t byte, Py_ssize_t* size,
                                  bytes data) except -1:
    """Start of the body of the str whose header `byte` is at pos (size[0]: its size); the body fits."""
    if byte <= 0xBF:
        size[0] = byte & 0x1F
        _need(pos + 1, end, size[0], pos, data)
        return pos + 1
    return _sized(p, pos, end, 1 << (byte - 0xD9), size, data)


cdef inline int _check_utf8(const uint8_t* p, Py_ssize_t body, Py_ssize_t size, Py_ssize_t pos, int64_t detail,
                            bytes data) except -1:
    """MP_BAD_UTF8 (for the value at pos) unless p[body:body + size] is valid UTF-8."""
    cdef PyObject* text = PyUnicode_DecodeUTF8(<const char*>p + body, size, NULL)
    if text == NULL:
        PyErr_Clear()
        _fail(E_MP_BAD_UTF8, pos, detail, data)
    Py_DECREF(text)
    return 0


cdef inline int _match_name(tuple names, Py_ssize_t count, const uint8_t* text, Py_ssize_t size) noexcept:
    """Which of the first `count` names (interned str) the UTF-8 bytes text[:size] spell, or -1."""
    cdef Py_ssize_t i, name_size
    cdef const char* name
    for i in range(count):
        name = PyUnicode_AsUTF8AndSize(<PyObject*>names[i], &name_size)
        if name_size == size and memcmp(name, text, size) == 0:
            return <int>i
    return -1


cdef Py_ssize_t _check_ext(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, uint8_t byte, bytes data) except -1:
    """Skip an ext value, failing where msgpack would (see pure_msgpack_unpack._check_ext)."""
    cdef Py_ssize_t start, size
    cdef uint8_t ext_type
    cdef bint ok
    if byte >= 0xD4:
        start = pos + 1
        size = 1 << (byte - 0xD4)
    else:
        _need(pos + 1, end, 1 << (byte - 0xC7), pos, data)
        size = <Py_ssize_t>_be(p + pos + 1, 1 << (byte - 0xC7))
        start = pos + 1 + (1 << (byte - 0xC7))
    _need(start, end, 1 + size, pos, data)
    ext_type = p[start]
    if ext_type == 0xFF:
        if size == 8:
            ok = (_be(p + start + 1, 8) >> 34) <= 999999999
        else:
            ok = size == 4 or (size == 12 and _be(p + start + 1, 4) <= 999999999)
    else:
        ok = ext_type < 0x80
    if not ok:
        _fail(E_MP_BAD_EXT, pos, 0, data)
    return start + 1 + size


cdef Py_ssize_t _mp_skip_value(const uint8_t* p, Py_ssize_t pos, Py_ssize_t end, int enclosing,
                            bytes data) except -1:
    """Skip any one msgpack value at pos, checking it as msgpack.unpackb would (see
    pure_msgpack_unpack.skip_value); returns the position after it."""
    cdef int64_t items[1026]  # per open container: items left (the level 0 pseudo-container: 1)
    cdef bint maps[1026]
    cdef int levels = 1, width
    cdef bint is_key
    cdef uint8_t byte
    cdef Py_ssize_t size, start, count
    items[0] = 1
    maps[0] = False
    while levels:
        if items[levels - 1] == 0:
            levels -= 1
            continue
        is_key = maps[levels - 1] and items[levels - 1] % 2 == 0
        items[levels - 1] -= 1
        byte = _type_byte(p, pos, end, data)
        if is_key and not (_is_str(byte) or 0xC4 <= byte <= 0xC6):
            _fail(E_MP_BAD_MAP_KEY, pos, 0, data)
        if byte <= 0x7F or byte >= 0xE0 or byte == 0xC0 or byte == 0xC2 or byte == 0xC3:
            pos += 1
        elif 0xCC <= byte <= 0xD3 or byte == 0xCA or byte == 0xCB:
            width = 4 if byte == 0xCA else (8 if byte == 0xCB else 1 << ((byte - 0xCC) & 3))
            _need(pos + 1, end, width, pos, data)
            pos += 1 + width
        elif _is_str(byte):
            start = _str_body(p, pos, end, byte, &size, data)
            _check_utf8(p, start, size, pos, MP_KEY if is_key else MP_NESTED, data)
            pos = start + size
        elif 0xC4 <= byte <= 0xC6:
            pos = _sized(p, pos, end, 1 << (byte - 0xC4), &size, data) + size
        elif 0xC7 <= byte <= 0xC9 or 0xD4 <= byte <= 0xD8:
            pos = _check_ext(p, pos, end, byte, data)
        elif byte == 0xC1:
            _fail(E_MP_RESERVED_BYTE, pos, 0, data)
        else:  # an array or a map
            start = pos
            if byte <= 0x8F or byte >= 0xDE:
                count = _count(p, &pos, end, 0x80, 0xDE, 2, data)
                items[levels] = 2 * count
                maps[levels] = True
            else:
                count = _count(p, &pos, end, 0x90, 0xDC, 1, data)
                items[levels] = count
                maps[levels] = False
            if enclosing + levels > MP_MAX_DEPTH:
                _fail(E_MP_TOO_DEEP, start, 0, data)
            levels += 1
    return pos


cdef object _read_mp_str(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int field, bytes data,
                         Problem* problem):
    """A str value at pos[0] (PROBLEM for another type)."""
    cdef Py_ssize_t start = pos[0], size, body
    cdef uint8_t byte = _type_byte(p, start, end, data)
    if not _is_str(byte):
        return _problem(problem, E_MP_WRONG_TYPE, start, field)
    body = _str_body(p, start, end, byte, &size, data)
    cdef PyObject* text = PyUnicode_DecodeUTF8(<const char*>p + body, size, NULL)
    if text == NULL:
        PyErr_Clear()
        _fail(E_MP_BAD_UTF8, start, field, data)
    pos[0] = body + size
    result = <object>text
    Py_DECREF(text)
    return result


cdef int _read_key(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, tuple keys, int where, bytes data,
                   Problem* problem) except -2:
    """The index in `keys` of the map key at pos[0] (moved past it), or -1 for a Problem (a
    meta key msgpack reads that is not one of the meta's: a bin, an unknown name)."""
    cdef Py_ssize_t start = pos[0], size, body
    cdef int index
    cdef uint8_t byte = _type_byte(p, start, end, data)
    if not _is_str(byte):
        if where == MP_IN_META and 0xC4 <= byte <= 0xC6:
            _problem(problem, E_MP_KEY_NOT_STR, start, 0)
            return -1
        _fail(E_MP_KEY_NOT_STR, start, 0, data)
    body = _str_body(p, start, end, byte, &size, data)
    index = _match_name(keys, len(keys), p + body, size)
    if index >= 0:
        pos[0] = body + size
        return index
    _check_utf8(p, body, size, start, MP_KEY, data)
    if where == MP_IN_META:
        _problem(problem, E_MP_UNKNOWN_KEY, start, where)
        return -1
    _fail(E_MP_UNKNOWN_KEY, start, where, data)


cdef object _read_mp_int(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int field, int64_t low,
                         int64_t high, bytes data, Problem* problem):
    """An int in [low, high] at pos[0] (PROBLEM for another type or value)."""
    cdef Py_ssize_t start = pos[0]
    cdef uint8_t byte = _type_byte(p, start, end, data)
    cdef uint64_t raw
    cdef int width = 0
    cdef int64_t v = 0
    if byte <= 0x7F:
        v = byte
    elif byte >= 0xE0:
        v = <int8_t>byte
    elif 0xCC <= byte <= 0xD3:
        width = 1 << ((byte - 0xCC) & 3)
        _need(start + 1, end, width, start, data)
        raw = _be(p + start + 1, width)
        if byte <= 0xCF:  # unsigned
            if raw > <uint64_t>high:
                return _problem(problem, E_MP_OUT_OF_RANGE, start, field)
            v = <int64_t>raw
        elif width == 1:
            v = <int8_t>raw
        elif width == 2:
            v = <int16_t>raw
        elif width == 4:
            v = <int32_t>raw
        else:
            v = <int64_t>raw
    else:
        return _problem(problem, E_MP_WRONG_TYPE, start, field)
    if v < low or v > high:
        return _problem(problem, E_MP_OUT_OF_RANGE, start, field)
    pos[0] = start + 1 + width
    return PyLong_FromLongLong(v)


cdef object _read_side(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, bytes data, Problem* problem):
    cdef Py_ssize_t start = pos[0], size, body
    cdef int side
    cdef uint8_t byte = _type_byte(p, start, end, data)
    if not _is_str(byte):
        return _read_mp_int(p, pos, end, F_SIDE, INT32_MIN, INT32_MAX, data, problem)
    body = _str_body(p, start, end, byte, &size, data)
    side = _match_name(SIDE_NAMES, N_SIDE_NAMES, p + body, size)
    if side >= 0:
        pos[0] = body + size
        return SIDE_NAMES[side]
    _read_mp_str(p, pos, end, F_SIDE, data, problem)  # invalid UTF-8 fails first
    pos[0] = start
    return _problem(problem, E_MP_UNKNOWN_SIDE, start, F_SIDE)


cdef object _read_price(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, bytes data, Problem* problem):
    cdef Py_ssize_t start = pos[0]
    cdef uint8_t byte = _type_byte(p, start, end, data)
    cdef uint64_t bits
    cdef uint32_t bits32
    cdef double d
    cdef float f
    if byte == 0xCB:
        _need(start + 1, end, 8, start, data)
        bits = _be(p + start + 1, 8)
        memcpy(&d, &bits, 8)
        pos[0] = start + 9
        return PyFloat_FromDouble(d)
    if byte == 0xCA:
        _need(start + 1, end, 4, start, data)
        bits32 = <uint32_t>_be(p + start + 1, 4)
        memcpy(&f, &bits32, 4)
        pos[0] = start + 5
        return PyFloat_FromDouble(<double>f)
    return _problem(problem, E_MP_WRONG_TYPE, start, F_PRICE)


cdef object _read_tags(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, bytes data, Problem* problem):
    cdef Py_ssize_t start = pos[0], count, i
    _type_byte(p, start, end, data)
    count = _count(p, pos, end, 0x90, 0xDC, 1, data)
    if count < 0:
        return _problem(problem, E_MP_WRONG_TYPE, start, F_TAGS)
    tags = []
    for i in range(count):
        tag = _read_mp_str(p, pos, end, MP_TAGS_ITEM, data, problem)
        if tag is PROBLEM:
            return PROBLEM
        tags.append(tag)
    return tags


cdef object _read_map(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, Py_ssize_t count, bint is_meta,
                      bytes data, Problem* first):
    """The entries of a map whose header was read (see the note above); `first` gets the
    first problem still held when the map ends (code 0 if none)."""
    cdef Problem held[MAX_FIELDS]  # per field: the problem of its latest value (code 0: none)
    cdef Problem problem
    cdef Py_ssize_t i, start
    cdef int index, k
    cdef tuple keys = META_KEYS if is_meta else ORDER_KEYS
    cdef int fields = len(keys)
    for k in range(fields):
        held[k].code = 0
    result = _PyDict_NewPresized(min(count, fields))
    for i in range(count):
        index = _read_key(p, pos, end, keys, MP_IN_META if is_meta else MP_IN_ORDER, data, first)
        if index < 0:
            return PROBLEM
        start = pos[0]
        if is_meta:
            if index == M_VENUE:
                value = _read_mp_str(p, pos, end, MP_VENUE, data, &problem)
            else:
                value = _read_mp_int(p, pos, end, MP_FLAGS, 0, UINT32_MAX, data, &problem)
        else:
            value = _read_value(p, pos, end, index, data, &problem)
        if value is PROBLEM:
            held[index] = problem
            value = None
            pos[0] = _mp_skip_value(p, start, end, 2 if is_meta else 1, data)
        else:
            held[index].code = 0
        PyDict_SetItem(result, keys[index], value)
    first.code = 0
    for k in range(fields):
        if held[k].code and (first.code == 0 or held[k].offset < first.offset):
            first[0] = held[k]
    return result


cdef object _read_meta(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, bytes data, Problem* problem):
    cdef Py_ssize_t start = pos[0], count
    _type_byte(p, start, end, data)
    count = _count(p, pos, end, 0x80, 0xDE, 2, data)
    if count < 0:
        return _problem(problem, E_MP_WRONG_TYPE, start, F_META)
    meta = _read_map(p, pos, end, count, True, data, problem)
    return PROBLEM if problem.code else meta


cdef object _read_value(const uint8_t* p, Py_ssize_t* pos, Py_ssize_t end, int index, bytes data,
                        Problem* problem):
    if index == F_SYMBOL:
        return _read_mp_str(p, pos, end, F_SYMBOL, data, problem)
    if index == F_SIDE:
        return _read_side(p, pos, end, data, problem)
    if index == F_PRICE:
        return _read_price(p, pos, end, data, problem)
    if index == F_TAGS:
        return _read_tags(p, pos, end, data, problem)
    if index == F_META:
        return _read_meta(p, pos, end, data, problem)
    return _read_mp_int(p, pos, end, index, INT64_MIN, INT64_MAX, data, problem)


def unpack_order(data):
    """msgpack bytes -> the order dict msgpack.unpackb(data) gives (only the keys present);
    DecodeError naming what and the byte offset for malformed input or a value outside the schema."""
    cdef bytes buf = _as_bytes(data)
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t pos = 0, end = PyBytes_GET_SIZE(buf), count
    cdef Problem problem
    _type_byte(p, 0, end, buf)
    count = _count(p, &pos, end, 0x80, 0xDE, 2, buf)
    if count < 0:
        _fail(E_MP_NOT_MAP, 0, 0, buf)
    order = _read_map(p, &pos, end, count, False, buf, &problem)
    if pos != end:
        _fail(E_MP_TRAILING, pos, end - pos, buf)
    if problem.code:
        _fail(problem.code, problem.offset, problem.detail, buf)
    return order
