"""Order codecs: protobuf (order.proto) and msgpack, byte for byte what upb and msgpack give.

The public names come from the tier `impls.registry.preferred("serial")` picks: LAB_IMPL if
set, else the first that loads of cython, numba, pure. `TIER` says which one it is. The exact
contract (the dict form, what is accepted, what raises DecodeError) is in `impls.serial.pure`,
the specification, and `impls.serial.contract`.
"""

from impls import registry as _registry
from impls.serial.errors import DecodeError

TIER: str = _registry.preferred("serial")
_impl = _registry.load("serial", TIER)

encode_order = _impl.encode_order
decode_order = _impl.decode_order
encode_batch = _impl.encode_batch
decode_batch = _impl.decode_batch
pack_order = _impl.pack_order
unpack_order = _impl.unpack_order

__all__ = ["TIER", "DecodeError", "encode_order", "decode_order", "encode_batch", "decode_batch", "pack_order",
           "unpack_order"]
