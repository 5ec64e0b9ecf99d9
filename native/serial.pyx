# cython: language_level=3
"""Order codecs, compiled: the Cython tier of the serial family.

Same contract as `impls.serial.pure` (the specification), byte for byte and error for error:
encoders write straight from the dict into a C buffer and decoders build the dict straight
from the bytes, with no upb or msgpack objects in between.

Encoders take a fast path for orders of plain types (an exact int, str, float, list, dict).
Anything else -- a subclass, a bad value -- sends them to `checks.check_order`, which raises
the error every tier raises or returns the order in plain types for a second, fast, pass.

Decoders trust nothing: every read is checked against the end of its message first (the
`end` argument), a length prefix is checked against the bytes left before anything of its
size is made, and the first problem raises DecodeError through `errors.decode_error`, with
the same code, offset and message as the pure tier.

The protobuf half is in serial_proto_encode.pxi and serial_proto_decode.pxi, the msgpack half
in serial_msgpack_pack.pxi and serial_msgpack_unpack.pxi (.pxi: textual includes, so all of it
is one extension module).
"""

from cpython.object cimport PyObject
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdint cimport INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memmove, memcmp
from libc.math cimport signbit

from impls.serial import checks, errors
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
    return checks.as_bytes(data)


cdef int _fail(int code, Py_ssize_t offset, int64_t detail, bytes data) except -1:
    raise errors.decode_error(code, offset, detail, data)


# Interned keys and names: dict lookups by these hit on the pointer comparison.
cdef tuple ORDER_KEYS = tuple(checks.ORDER_KEYS)
cdef str K_ID = ORDER_KEYS[0], K_USER_ID = ORDER_KEYS[1], K_SYMBOL = ORDER_KEYS[2], K_SIDE = ORDER_KEYS[3]
cdef str K_PRICE = ORDER_KEYS[4], K_QTY = ORDER_KEYS[5], K_TS_NS = ORDER_KEYS[6], K_TAGS = ORDER_KEYS[7]
cdef str K_META = ORDER_KEYS[8], K_VENUE = checks.META_KEYS[0], K_FLAGS = checks.META_KEYS[1]
cdef tuple META_KEYS = (K_VENUE, K_FLAGS)
cdef tuple SIDE_NAMES = tuple(checks.SIDE_NAMES)
cdef dict SIDE_VALUES = dict(checks.SIDE_VALUES)
cdef str EMPTY = ""


cdef inline object _side_object(int32_t side):
    """The dict form of a Side value: its (interned) name, or the int."""
    if 0 <= side <= 2:
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
include "serial_proto_decode.pxi"
include "serial_msgpack_pack.pxi"
include "serial_msgpack_unpack.pxi"


def warmup():
    """Nothing to compile in this tier; present so every tier has the same names."""
