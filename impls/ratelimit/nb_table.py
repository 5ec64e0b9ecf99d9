"""The Numba tier's table of int keys: open addressing, linear probing, load kept <= 1/2.

A table is an int64 array of shape (size, 4), size a power of two; a row holds a key and its
bucket together -- KEY, USED (1 if the row holds a key), then the bucket's value and last as
float64 bits, read and written through a float64 view of the same rows -- so one decision
touches one cache line. Rows are never deleted one by one: a sweep or a resize rebuilds the
table from the rows it keeps.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from impls.ratelimit.nb_bucket import KERNEL

#: Columns of a row.
KEY, USED, VALUE = 0, 1, 2
COLUMNS = 4

TABLE = types.int64[:, ::1]


@njit(**KERNEL)
def _mix(key):
    """splitmix64's finalizer: consecutive ints land far apart in the table."""
    x = np.uint64(key)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(types.int64(TABLE, types.int64), **KERNEL)
def find(table, key):
    """The key's row, or -1."""
    mask = np.uint64(table.shape[0] - 1)
    i = np.int64(_mix(key) & mask)
    while table[i, USED]:
        if table[i, KEY] == key:
            return i
        i = np.int64((np.uint64(i) + np.uint64(1)) & mask)
    return -1


@njit(**KERNEL)
def put(table, key):
    """A new row for a key known to be absent (the table has room)."""
    mask = np.uint64(table.shape[0] - 1)
    i = np.int64(_mix(key) & mask)
    while table[i, USED]:
        i = np.int64((np.uint64(i) + np.uint64(1)) & mask)
    table[i, KEY] = key
    table[i, USED] = 1
    return i


@njit(TABLE(TABLE, types.int64), **KERNEL)
def rehash(table, size):
    """A table of `size` rows holding every row of `table`."""
    new = np.zeros((size, COLUMNS), dtype=np.int64)
    for i in range(table.shape[0]):
        if table[i, USED]:
            row = put(new, table[i, KEY])
            new[row, VALUE] = table[i, VALUE]  # the float bits, copied as they are
            new[row, VALUE + 1] = table[i, VALUE + 1]
    return new


def new_table(count: int = 0) -> np.ndarray:
    """An empty table with room for `count` keys (and one more) at load <= 1/2."""
    return np.zeros((table_size(count), COLUMNS), dtype=np.int64)


def table_size(count: int) -> int:
    """The smallest power of two >= 16 that holds count + 1 keys at load <= 1/2."""
    size = 16
    while size < 2 * (count + 1):
        size *= 2
    return size
