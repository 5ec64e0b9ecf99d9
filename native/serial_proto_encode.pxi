# The protobuf encoding half of impls.serial._cy (included by serial.pyx): Order and OrderBatch
# dicts straight to wire bytes. The rules are pure_proto.py's; comments here say how. Decoding
# is in serial_proto_decode.pxi; the tags (TAG_*) and field slots (F_*, M_*) are serial.pyx's.

cdef inline void _put_fixed64(Buf* b, double d) noexcept:  # after _reserve(8); little-endian
    cdef uint64_t bits
    cdef int i
    memcpy(&bits, &d, 8)
    for i in range(8):
        b.data[b.len + i] = <char>(bits >> (8 * i))
    b.len += 8


cdef inline int _put_string_field(Buf* b, uint8_t tag, const char* s, Py_ssize_t size) except -1:
    _reserve(b, 1 + 10 + size)
    _put_byte(b, tag)
    _put_varint(b, <uint64_t>size)
    _put_bytes(b, s, size)
    return 0


cdef inline int _put_varint_field(Buf* b, uint8_t tag, uint64_t v) except -1:
    _reserve(b, 11)
    _put_byte(b, tag)
    _put_varint(b, v)
    return 0


cdef int _dict_values(object d, tuple keys, PyObject** values) noexcept:
    """values[k] = d[keys[k]] (NULL if absent), in one pass over d that matches the keys by
    pointer: a dict's keys are nearly always the interned literals, and a pointer match spares
    a hash lookup per field. 0, or 1 when a key is not one of `keys` by pointer (an unknown
    key, or a str that merely equals one: the caller then looks the fields up by value)."""
    cdef Py_ssize_t pos = 0, k, n = len(keys)
    cdef PyObject* key
    cdef PyObject* value
    for k in range(n):
        values[k] = NULL
    while PyDict_Next(d, &pos, &key, &value):
        for k in range(n):
            if key == <PyObject*>keys[k]:
                values[k] = value
                break
        else:
            return 1
    return 0


cdef int _lookup_values(object d, tuple keys, PyObject** values) noexcept:
    """values[k] = d[keys[k]] (NULL if absent), by lookup; 1 if d has keys beyond them."""
    cdef Py_ssize_t k, found = 0
    for k in range(len(keys)):
        values[k] = PyDict_GetItem(d, keys[k])
        found += values[k] != NULL
    return 0 if found == PyDict_GET_SIZE(d) else 1


cdef int _field_values(object d, tuple keys, PyObject** values) noexcept:
    return 0 if _dict_values(d, keys, values) == 0 else _lookup_values(d, keys, values)


cdef int _put_meta(Buf* b, PyObject* meta) except -1:
    """Meta's fields of a plain meta dict appended: 0, or 1 if it is not plain."""
    cdef Py_ssize_t size
    cdef const char* s
    cdef int64_t x
    cdef PyObject* values[MAX_FIELDS]
    if _field_values(<object>meta, META_KEYS, values):
        return 1
    if values[M_VENUE] != NULL:
        s = _plain_utf8(values[M_VENUE], &size)
        if s == NULL:
            return 1
        if size:
            _put_string_field(b, TAG_VENUE, s, size)
    if values[M_FLAGS] != NULL:
        if _plain_int64(values[M_FLAGS], &x) or x < 0 or x > UINT32_MAX:
            return 1
        if x:
            _put_varint_field(b, TAG_FLAGS, <uint64_t>x)
    return 0


cdef inline int _put_int64_field(Buf* b, PyObject* v, uint8_t tag) except -1:
    """One int64 field: 0 (written unless 0 or absent), or 1 if the value is not plain."""
    cdef int64_t x
    if v == NULL:
        return 0
    if _plain_int64(v, &x):
        return 1
    if x:
        _put_varint_field(b, tag, <uint64_t>x)
    return 0


cdef int _put_order(Buf* b, object order) except -1:
    """Order's fields of a plain order dict appended: 0, or 1 if it is not plain (then what was
    appended is to be dropped)."""
    cdef Py_ssize_t size, i, n, start
    cdef const char* s
    cdef int64_t x
    cdef double d
    cdef PyObject* v
    cdef PyObject* item
    cdef PyObject* values[MAX_FIELDS]
    if not PyDict_CheckExact(<PyObject*>order) or _field_values(order, ORDER_KEYS, values):
        return 1
    if _put_int64_field(b, values[F_ID], TAG_ID) or _put_int64_field(b, values[F_USER_ID], TAG_USER_ID):
        return 1
    v = values[F_SYMBOL]
    if v != NULL:
        s = _plain_utf8(v, &size)
        if s == NULL:
            return 1
        if size:
            _put_string_field(b, TAG_SYMBOL, s, size)
    v = values[F_SIDE]
    if v != NULL:
        if _side_value(v, &x):
            return 1
        if x:
            _put_varint_field(b, TAG_SIDE, <uint64_t>x)  # a negative int32 sign-extends to 10 bytes
    v = values[F_PRICE]
    if v != NULL:
        if not PyFloat_CheckExact(v):
            return 1
        d = PyFloat_AS_DOUBLE(v)
        if d != 0.0 or signbit(d):  # 0.0 is the default; -0.0 and NaN are written
            _reserve(b, 9)
            _put_byte(b, TAG_PRICE)
            _put_fixed64(b, d)
    if _put_int64_field(b, values[F_QTY], TAG_QTY) or _put_int64_field(b, values[F_TS_NS], TAG_TS_NS):
        return 1
    v = values[F_TAGS]
    if v != NULL:
        if PyList_CheckExact(v):
            n = PyList_GET_SIZE(v)
        elif PyTuple_CheckExact(v):
            n = PyTuple_GET_SIZE(v)
        else:
            return 1
        for i in range(n):
            item = PyList_GET_ITEM(v, i) if PyList_CheckExact(v) else PyTuple_GET_ITEM(v, i)
            s = _plain_utf8(item, &size)
            if s == NULL:
                return 1
            _put_string_field(b, TAG_TAGS, s, size)
    v = values[F_META]
    if v != NULL:
        if not PyDict_CheckExact(v):
            return 1
        _reserve(b, 2)
        _put_byte(b, TAG_META)
        _put_byte(b, 0)  # the length, once known
        start = b.len
        if _put_meta(b, v):
            return 1
        _put_length_before(b, start)
    return 0


cdef int _put_checked_order(Buf* b, object order) except -1:
    """Append an order's bytes: the fast path, else check_order's plain copy (or its error)."""
    cdef Py_ssize_t start = b.len
    if _put_order(b, order):
        b.len = start
        if _put_order(b, contract.check_order(order)):
            raise AssertionError("check_order passed an order the encoder refuses")
    return 0


def encode_order(order):
    """An order dict -> Order's protobuf bytes, equal to upb's SerializeToString()."""
    cdef char stack[STACK_BYTES]
    cdef Buf b
    _buf_init(&b, stack, STACK_BYTES)
    try:
        _put_checked_order(&b, order)
        return PyBytes_FromStringAndSize(b.data, b.len)
    finally:
        _buf_free(&b)


def encode_batch(orders):
    """A list of order dicts -> OrderBatch's protobuf bytes (each order as encode_order)."""
    cdef char stack[STACK_BYTES]
    cdef Buf b
    cdef Py_ssize_t start
    orders = contract.check_orders(orders)
    _buf_init(&b, stack, STACK_BYTES)
    try:
        for order in orders:
            _reserve(&b, 2)
            _put_byte(&b, TAG_ORDER)
            _put_byte(&b, 0)  # the length, once known
            start = b.len
            _put_checked_order(&b, order)
            _put_length_before(&b, start)
        return PyBytes_FromStringAndSize(b.data, b.len)
    finally:
        _buf_free(&b)
