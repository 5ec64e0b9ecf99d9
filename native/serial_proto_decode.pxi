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
#
# Reading the wire is serial_proto_wire.pxi's, decoding strings serial_text.pxi's.

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
