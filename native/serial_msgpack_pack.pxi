# The msgpack half of impls.serial._cy (included by serial.pyx), packing: pack_order, straight
# from dicts to msgpack bytes. The rules are pure_msgpack_pack.py's; unpacking is in
# serial_msgpack_unpack.pxi; the keys (K_*) and field slots (F_*, M_*) are serial.pyx's.

#: A key's place in ORDER_KEYS / META_KEYS, by value (for a str that merely equals a key).
cdef dict ORDER_INDEX = {name: i for i, name in enumerate(ORDER_KEYS)}
cdef dict META_INDEX = {name: i for i, name in enumerate(META_KEYS)}


cdef inline void _put_be(Buf* b, uint64_t v, int width) noexcept:  # after _reserve(width)
    cdef int i
    for i in range(width):
        b.data[b.len + i] = <char>(v >> (8 * (width - 1 - i)))
    b.len += width


cdef int _pack_int(Buf* b, int64_t v) except -1:
    """msgpack-python's form of an int: positive ints unsigned, negative ones signed."""
    _reserve(b, 9)
    if v >= 0:
        if v < 0x80:
            _put_byte(b, <uint8_t>v)
        elif v < 0x100:
            _put_byte(b, 0xCC)
            _put_be(b, <uint64_t>v, 1)
        elif v < 0x10000:
            _put_byte(b, 0xCD)
            _put_be(b, <uint64_t>v, 2)
        elif v < 0x100000000:
            _put_byte(b, 0xCE)
            _put_be(b, <uint64_t>v, 4)
        else:
            _put_byte(b, 0xCF)
            _put_be(b, <uint64_t>v, 8)
    elif v >= -32:
        _put_byte(b, <uint8_t>(v & 0xFF))
    elif v >= -0x80:
        _put_byte(b, 0xD0)
        _put_be(b, <uint64_t>v, 1)
    elif v >= -0x8000:
        _put_byte(b, 0xD1)
        _put_be(b, <uint64_t>v, 2)
    elif v >= -0x80000000:
        _put_byte(b, 0xD2)
        _put_be(b, <uint64_t>v, 4)
    else:
        _put_byte(b, 0xD3)
        _put_be(b, <uint64_t>v, 8)
    return 0


cdef int _pack_header(Buf* b, Py_ssize_t n, uint8_t fix, uint8_t wide) except -1:
    """An array (fix 0x90, wide 0xdc) or map (0x80, 0xde) header."""
    _reserve(b, 5)
    if n < 16:
        _put_byte(b, fix | <uint8_t>n)
    elif n < 0x10000:
        _put_byte(b, wide)
        _put_be(b, <uint64_t>n, 2)
    else:
        _put_byte(b, wide + 1)
        _put_be(b, <uint64_t>n, 4)
    return 0


cdef int _pack_str(Buf* b, PyObject* v) except -1:
    """A plain str packed: 0, or 1 if it is not one."""
    cdef Py_ssize_t size
    cdef const char* s = _plain_utf8(v, &size)
    if s == NULL:
        return 1
    _reserve(b, 5 + size)
    if size < 32:
        _put_byte(b, 0xA0 | <uint8_t>size)
    elif size < 0x100:
        _put_byte(b, 0xD9)
        _put_be(b, <uint64_t>size, 1)
    elif size < 0x10000:
        _put_byte(b, 0xDA)
        _put_be(b, <uint64_t>size, 2)
    else:
        _put_byte(b, 0xDB)
        _put_be(b, <uint64_t>size, 4)
    _put_bytes(b, s, size)
    return 0


cdef int _key_index(PyObject* key, tuple keys, dict index) noexcept:
    """Which of `keys` a dict key is (-1 if none): by pointer first, as keys are usually the
    interned literals, then by value for a str that merely equals one."""
    cdef Py_ssize_t i
    cdef PyObject* found
    for i in range(len(keys)):
        if key == <PyObject*>keys[i]:
            return <int>i
    if not PyUnicode_CheckExact(key):
        return -1
    found = PyDict_GetItem(index, <object>key)
    return -1 if found == NULL else <int>PyLong_AsLongLong(found)


cdef int _pack_meta(Buf* b, PyObject* meta) except -1:
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef int64_t x
    if not PyDict_CheckExact(meta):
        return 1
    _pack_header(b, PyDict_GET_SIZE(<object>meta), 0x80, 0xDE)
    while PyDict_Next(<object>meta, &pos, &key, &value):
        index = _key_index(key, META_KEYS, META_INDEX)
        if index < 0:
            return 1
        _pack_str(b, <PyObject*>META_KEYS[index])
        if index == M_VENUE:
            if _pack_str(b, value):
                return 1
        else:
            if _plain_int64(value, &x) or x < 0 or x > UINT32_MAX:
                return 1
            _pack_int(b, x)
    return 0


cdef int _pack_value(Buf* b, int index, PyObject* value) except -1:
    """One order field's value packed: 0, or 1 if it is not plain."""
    cdef int64_t x
    cdef Py_ssize_t i, n
    cdef uint64_t bits
    cdef double d
    if index == F_SYMBOL:
        return _pack_str(b, value)
    if index == F_SIDE:
        if PyUnicode_CheckExact(value):
            return 1 if PyDict_GetItem(SIDE_VALUES, <object>value) == NULL else _pack_str(b, value)
        if _side_value(value, &x):
            return 1
        return _pack_int(b, x)
    if index == F_PRICE:
        if not PyFloat_CheckExact(value):
            return 1
        d = PyFloat_AS_DOUBLE(value)
        memcpy(&bits, &d, 8)
        _reserve(b, 9)
        _put_byte(b, 0xCB)
        _put_be(b, bits, 8)
        return 0
    if index == F_TAGS:
        if PyList_CheckExact(value):
            n = PyList_GET_SIZE(value)
        elif PyTuple_CheckExact(value):
            n = PyTuple_GET_SIZE(value)
        else:
            return 1
        _pack_header(b, n, 0x90, 0xDC)
        for i in range(n):
            if _pack_str(b, PyList_GET_ITEM(value, i) if PyList_CheckExact(value) else PyTuple_GET_ITEM(value, i)):
                return 1
        return 0
    if index == F_META:
        return _pack_meta(b, value)
    if _plain_int64(value, &x):  # id, user_id, qty, ts_ns
        return 1
    return _pack_int(b, x)


cdef int _pack_order(Buf* b, object order) except -1:
    """A plain order dict packed in its own key order: 0, or 1 if it is not plain."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef int index
    if not PyDict_CheckExact(<PyObject*>order):
        return 1
    _pack_header(b, PyDict_GET_SIZE(order), 0x80, 0xDE)
    while PyDict_Next(order, &pos, &key, &value):
        index = _key_index(key, ORDER_KEYS, ORDER_INDEX)
        if index < 0:
            return 1
        _pack_str(b, <PyObject*>ORDER_KEYS[index])
        if _pack_value(b, index, value):
            return 1
    return 0


def pack_order(order):
    """An order dict -> msgpack bytes, equal to msgpack.packb(order) (the dict's key order)."""
    cdef char stack[STACK_BYTES]
    cdef Buf b
    _buf_init(&b, stack, STACK_BYTES)
    try:
        if _pack_order(&b, order):
            b.len = 0
            if _pack_order(&b, contract.check_order(order)):
                raise AssertionError("check_order passed an order the packer refuses")
        return PyBytes_FromStringAndSize(b.data, b.len)
    finally:
        _buf_free(&b)


