# cython: language_level=3
"""Order codecs, compiled: the Cython tier of the serial family.

Same contract as `impls.serial.pure` (the specification), byte for byte and error for error:
encoders write straight from the dict into a C buffer and decoders build the dict straight
from the bytes, with no upb or msgpack objects in between.

Encoders take a fast path for orders of plain types (an exact int, str, float, list, dict).
Anything else -- a subclass, a bad value -- sends them to `contract.check_order`, which raises
the error every tier raises or returns the order in plain types for a second, fast, pass.

Decoders trust nothing: every read is checked against the end of its message first (the
`end` argument), a length prefix is checked against the bytes left before anything of its
size is made, and the first problem raises DecodeError through `errors.decode_error`, with
the same code, offset and message as the pure tier.

The protobuf half is in serial_proto_encode.pxi and serial_proto_decode.pxi (reading the wire:
serial_proto_wire.pxi; strings: serial_text.pxi), the msgpack half in serial_msgpack_pack.pxi
and serial_msgpack_unpack.pxi (.pxi: textual includes, so all of it
is one extension module). Field names, numbers and tags come from `impls.serial.schema`, read
once at import into C globals.
"""

from cpython.object cimport PyObject
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdint cimport INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, UINT32_MAX
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memcmp
from libc.math cimport signbit

from impls.serial import contract, errors, schema
from impls.serial.errors import DecodeError

# Borrowed-reference views of the C API: the hot loops do no reference counting of their own.
cdef extern from "Python.h":
    PyObject* PyDict_GetItem(object d, object key)  # borrowed, NULL if missing (never raises)
    bint PyDict_Next(object d, Py_ssize_t* pos, PyObject** key, PyObject** value)
    Py_ssize_t PyDict_GET_SIZE(object d)
    bint PyDict_CheckExact(PyObject* o)
    bint PyList_CheckExact(PyObject* o)
    bint PyTuple_CheckExact(PyObject* o)
    bint PyLong_CheckExact(PyObject* o)
    bint PyFloat_CheckExact(PyObject* o)
    bint PyUnicode_CheckExact(PyObject* o)
    bint PyBytes_CheckExact(object o)
    double PyFloat_AS_DOUBLE(PyObject* o)
    long long PyLong_AsLongLong(PyObject* o)  # -1 and an exception on overflow: checked by hand
    long long PyLong_AsLongLongAndOverflow(PyObject* o, int* overflow)  # no exception for an exact int
    const char* PyUnicode_AsUTF8AndSize(PyObject* o, Py_ssize_t* size)  # NULL + exception: by hand
    PyObject* PyList_GET_ITEM(PyObject* l, Py_ssize_t i)
    PyObject* PyTuple_GET_ITEM(PyObject* t, Py_ssize_t i)
    Py_ssize_t PyList_GET_SIZE(PyObject* l)
    Py_ssize_t PyTuple_GET_SIZE(PyObject* t)
    PyObject* PyErr_Occurred()
    void PyErr_Clear()
    object PyBytes_FromStringAndSize(const char* s, Py_ssize_t n)
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)
    PyObject* PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)  # new ref or NULL
    object PyLong_FromLongLong(long long v)
    object PyLong_FromUnsignedLongLong(unsigned long long v)
    object PyFloat_FromDouble(double v)
    object _PyDict_NewPresized(Py_ssize_t n)
    int PyDict_SetItem(object d, object key, object value) except -1
    int PyList_Append(object l, object item) except -1
    void Py_DECREF(PyObject* o)
    PyObject* PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)  # new ref, or NULL and MemoryError
    void* PyUnicode_DATA(PyObject* o)
    object PyList_New(Py_ssize_t n)
    void PyList_SET_ITEM(object l, Py_ssize_t i, PyObject* o)  # steals o
    object PyDict_Copy(object d)
    void Py_INCREF(PyObject* o)
    void Py_XDECREF(PyObject* o)
    int PY_LITTLE_ENDIAN  # a constant: the branch on it folds away


# ---------------------------------------------------------------------------------------------
# Output buffer: starts on the caller's stack, moves to the heap when it outgrows it.

cdef enum:
    STACK_BYTES = 512  # an order is rarely more than 200 bytes: most encodes never touch the heap

ctypedef struct Buf:
    char* data
    Py_ssize_t len
    Py_ssize_t cap
    bint on_heap


cdef inline void _buf_init(Buf* b, char* stack, Py_ssize_t cap) noexcept:
    b.data = stack
    b.len = 0
    b.cap = cap
    b.on_heap = False


cdef inline void _buf_free(Buf* b) noexcept:
    if b.on_heap:
        free(b.data)
        b.on_heap = False


cdef int _buf_grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = max(2 * b.cap, b.len + extra)
    cdef char* data
    if b.on_heap:
        data = <char*>realloc(b.data, cap)
    else:
        data = <char*>malloc(cap)
        if data != NULL:
            memcpy(data, b.data, b.len)
    if data == NULL:
        raise MemoryError()
    b.data = data
    b.cap = cap
    b.on_heap = True
    return 0


cdef inline int _reserve(Buf* b, Py_ssize_t extra) except -1:
    if b.len + extra > b.cap:
        _buf_grow(b, extra)
    return 0


cdef inline void _put_byte(Buf* b, uint8_t byte) noexcept:  # after _reserve
    b.data[b.len] = <char>byte
    b.len += 1


cdef inline void _put_bytes(Buf* b, const char* src, Py_ssize_t n) noexcept:  # after _reserve
    memcpy(b.data + b.len, src, n)
    b.len += n


cdef inline int _varint_size(uint64_t v) noexcept:
    cdef int n = 1
    while v >= 0x80:
        v >>= 7
        n += 1
    return n


cdef inline void _put_varint(Buf* b, uint64_t v) noexcept:  # after _reserve(10)
    cdef char* p = b.data + b.len
    while v >= 0x80:
        p[0] = <char>((v & 0x7F) | 0x80)
        p += 1
        v >>= 7
    p[0] = <char>v
    b.len = p + 1 - b.data


cdef inline int _put_length_before(Buf* b, Py_ssize_t start) except -1:
    """The bytes from `start` on were written after one byte left free at start - 1 for their
    length: write the length there, moving the bytes up if it needs more than one byte."""
    cdef Py_ssize_t size = b.len - start
    cdef int extra
    if size < 0x80:
        b.data[start - 1] = <char>size
        return 0
    extra = _varint_size(<uint64_t>size) - 1
    _reserve(b, extra)
    memmove(b.data + start + extra, b.data + start, size)
    b.len = start - 1
    _put_varint(b, <uint64_t>size)
    b.len += size
    return 0


cdef inline bytes _as_bytes(data):
    """Decoders take bytes, or any bytes-like object (copied once into bytes)."""
    if PyBytes_CheckExact(data):
        return <bytes>data
    return contract.as_bytes(data)


cdef int _fail(int code, Py_ssize_t offset, int64_t detail, bytes data) except -1:
    raise errors.decode_error(code, offset, detail, data)


# ---------------------------------------------------------------------------------------------
# The schema (impls.serial.schema), read once at import.

cdef enum:
    MAX_FIELDS = 16  # room in the C arrays that hold one slot per field of a message

cdef tuple ORDER_KEYS = tuple(schema.ORDER_KEYS)
cdef tuple META_KEYS = tuple(schema.META_KEYS)
if len(ORDER_KEYS) > MAX_FIELDS or len(META_KEYS) > MAX_FIELDS:
    raise ImportError(f"impls.serial._cy holds at most {MAX_FIELDS} fields a message: raise MAX_FIELDS")

# Each field's place in ORDER_KEYS / META_KEYS: its slot in the encoders' value arrays, and (for
# Order's fields) its number in msgpack error details (errors.MP_FIELDS starts with ORDER_KEYS).
cdef int F_ID = ORDER_KEYS.index("id"), F_USER_ID = ORDER_KEYS.index("user_id")
cdef int F_SYMBOL = ORDER_KEYS.index("symbol"), F_SIDE = ORDER_KEYS.index("side")
cdef int F_PRICE = ORDER_KEYS.index("price"), F_QTY = ORDER_KEYS.index("qty")
cdef int F_TS_NS = ORDER_KEYS.index("ts_ns"), F_TAGS = ORDER_KEYS.index("tags"), F_META = ORDER_KEYS.index("meta")
cdef int M_VENUE = META_KEYS.index("venue"), M_FLAGS = META_KEYS.index("flags")

# Interned keys and names: dict lookups by these hit on the pointer comparison.
cdef str K_ID = ORDER_KEYS[F_ID], K_USER_ID = ORDER_KEYS[F_USER_ID], K_SYMBOL = ORDER_KEYS[F_SYMBOL]
cdef str K_SIDE = ORDER_KEYS[F_SIDE], K_PRICE = ORDER_KEYS[F_PRICE], K_QTY = ORDER_KEYS[F_QTY]
cdef str K_TS_NS = ORDER_KEYS[F_TS_NS], K_TAGS = ORDER_KEYS[F_TAGS], K_META = ORDER_KEYS[F_META]
cdef str K_VENUE = META_KEYS[M_VENUE], K_FLAGS = META_KEYS[M_FLAGS]
cdef tuple SIDE_NAMES = tuple(schema.SIDE_NAMES)
cdef int N_SIDE_NAMES = len(SIDE_NAMES)
cdef dict SIDE_VALUES = dict(schema.SIDE_VALUES)
cdef str EMPTY = ""

# Tags, each written and read as one byte (tests/serial/test_proto.py checks they are below 0x80).
cdef uint8_t TAG_ORDER = schema.BATCH_ORDERS.tag
cdef uint8_t TAG_ID = schema.ORDER["id"].tag, TAG_USER_ID = schema.ORDER["user_id"].tag
cdef uint8_t TAG_SYMBOL = schema.ORDER["symbol"].tag, TAG_SIDE = schema.ORDER["side"].tag
cdef uint8_t TAG_PRICE = schema.ORDER["price"].tag, TAG_QTY = schema.ORDER["qty"].tag
cdef uint8_t TAG_TS_NS = schema.ORDER["ts_ns"].tag, TAG_TAGS = schema.ORDER["tags"].tag
cdef uint8_t TAG_META = schema.ORDER["meta"].tag
cdef uint8_t TAG_VENUE = schema.META["venue"].tag, TAG_FLAGS = schema.META["flags"].tag

# The protobuf decoder's error codes and limits (errors.py), for serial_proto_decode.pxi.
cdef int E_TRUNCATED_TAG = errors.TRUNCATED_TAG, E_BAD_TAG = errors.BAD_TAG
cdef int E_FIELD_ZERO = errors.FIELD_ZERO, E_BAD_WIRE_TYPE = errors.BAD_WIRE_TYPE
cdef int E_TRUNCATED_VARINT = errors.TRUNCATED_VARINT, E_VARINT_TOO_LONG = errors.VARINT_TOO_LONG
cdef int E_TRUNCATED_LENGTH = errors.TRUNCATED_LENGTH, E_LENGTH_TOO_LONG = errors.LENGTH_TOO_LONG
cdef int E_LENGTH_PAST_END = errors.LENGTH_PAST_END
cdef int E_TRUNCATED_FIXED64 = errors.TRUNCATED_FIXED64, E_TRUNCATED_FIXED32 = errors.TRUNCATED_FIXED32
cdef int E_BAD_UTF8 = errors.BAD_UTF8, E_UNEXPECTED_END_GROUP = errors.UNEXPECTED_END_GROUP
cdef int E_MISMATCHED_END_GROUP = errors.MISMATCHED_END_GROUP, E_UNTERMINATED_GROUP = errors.UNTERMINATED_GROUP
cdef int E_TOO_DEEP = errors.TOO_DEEP
cdef int MAX_DEPTH = errors.MAX_DEPTH
cdef int VENUE_DETAIL = errors.VENUE_DETAIL

cdef enum:
    GROUP_STACK = 128  # > MAX_DEPTH: open groups never exceed the depth budget


cdef inline object _side_object(int32_t side):
    """The dict form of a Side value: its (interned) name, or the int."""
    if 0 <= side < N_SIDE_NAMES:
        return SIDE_NAMES[side]
    return PyLong_FromLongLong(side)


cdef inline int _side_value(PyObject* v, int64_t* out) noexcept:
    """A side of plain type -> its int32 value (0), or 1 when it is not one."""
    cdef PyObject* found
    cdef long long x
    if PyUnicode_CheckExact(v):
        found = PyDict_GetItem(SIDE_VALUES, <object>v)
        if found == NULL:
            return 1
        out[0] = PyLong_AsLongLong(found)
        return 0
    if PyLong_CheckExact(v):
        x = PyLong_AsLongLong(v)
        if x == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
            return 1
        if x < INT32_MIN or x > INT32_MAX:
            return 1
        out[0] = x
        return 0
    return 1


cdef inline int _plain_int64(PyObject* v, int64_t* out) noexcept:
    """An exact int in the int64 range -> 0 and the value; anything else -> 1.
    (AsLongLongAndOverflow: PyLong_AsLongLong takes a slow byte-array path past 2**30.)"""
    cdef int overflow
    if not PyLong_CheckExact(v):
        return 1
    out[0] = PyLong_AsLongLongAndOverflow(v, &overflow)
    return 1 if overflow else 0


cdef inline const char* _plain_utf8(PyObject* v, Py_ssize_t* size) noexcept:
    """The UTF-8 of an exact str (cached in the str by CPython), or NULL for anything else
    (a lone surrogate too: check_order then raises the UnicodeEncodeError)."""
    cdef const char* data
    if not PyUnicode_CheckExact(v):
        return NULL
    data = PyUnicode_AsUTF8AndSize(v, size)
    if data == NULL:
        PyErr_Clear()
    return data


include "serial_proto_encode.pxi"
include "serial_proto_wire.pxi"
include "serial_text.pxi"
include "serial_proto_decode.pxi"
include "serial_msgpack_pack.pxi"
include "serial_msgpack_unpack.pxi"


def warmup():
    """Nothing to compile in this tier; present so every tier has the same names."""
