"""The hash-ring family's contract on input: argument checks, error messages and limits.

Every tier calls these (the compiled tiers on their cold paths), so that the same bad input
raises the same exception type with the same message whichever tier is used.
"""

from __future__ import annotations

import operator

import numpy as np

DEFAULT_VNODES = 160
#: Upper bound on vnodes: a ring of nodes x vnodes points must stay allocatable.
MAX_VNODES = 1 << 16
#: jump() works on unsigned 64-bit key hashes and int32 bucket numbers.
MAX_KEY_HASH = (1 << 64) - 1
MAX_BUCKETS = (1 << 31) - 1


def key_type_error(key: object) -> TypeError:
    return TypeError(f"key must be str or bytes, got {type(key).__name__}")


def check_vnodes(vnodes: object) -> int:
    if isinstance(vnodes, bool) or not isinstance(vnodes, int):
        raise TypeError(f"vnodes must be an int, got {type(vnodes).__name__}")
    if not 1 <= vnodes <= MAX_VNODES:
        raise ValueError(f"vnodes must be between 1 and {MAX_VNODES}, got {vnodes}")
    return vnodes


def check_node(node: object) -> str:
    if not isinstance(node, str):
        raise TypeError(f"node name must be str, got {type(node).__name__}")
    return node


def node_exists_error(node: str) -> ValueError:
    return ValueError(f"node {node!r} is already in the ring")


def node_missing_error(node: str) -> KeyError:
    return KeyError(f"node {node!r} is not in the ring")


def empty_ring_error() -> LookupError:
    return LookupError("lookup on an empty ring: add a node first")


def check_buckets(buckets: object) -> int:
    buckets = operator.index(buckets)  # TypeError for floats, str, ...
    if not 1 <= buckets <= MAX_BUCKETS:
        raise ValueError(f"buckets must be between 1 and {MAX_BUCKETS}, got {buckets}")
    return buckets


def check_key_hash(key_hash: object) -> int:
    key_hash = operator.index(key_hash)
    if not 0 <= key_hash <= MAX_KEY_HASH:
        raise ValueError(f"key_hash must be an unsigned 64-bit int (0 to 2**64-1), got {key_hash}")
    return key_hash


def as_key_hash_array(key_hashes: object) -> np.ndarray:
    """A 1-D uint64 array of key hashes, or the same errors every tier gives."""
    arr = np.asarray(key_hashes)
    if arr.ndim != 1:
        raise ValueError(f"key_hashes must be 1-dimensional, got {arr.ndim} dimensions")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"key_hashes must be unsigned 64-bit ints, got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and int(arr.min()) < 0:
        raise ValueError("key_hashes must be unsigned 64-bit ints, got a negative value")
    return np.ascontiguousarray(arr, dtype=np.uint64)
