"""Order codecs in plain Python: the serial family's specification tier.

This module only assembles the family's contract: the protobuf codec is `pure_proto`, the
msgpack one `pure_msgpack_pack` and `pure_msgpack_unpack`; the other tiers are checked
against them.
"""

from impls.serial.errors import DecodeError
from impls.serial.pure_msgpack_pack import pack_order
from impls.serial.pure_msgpack_unpack import unpack_order
from impls.serial.pure_proto import decode_batch, decode_order, encode_batch, encode_order

__all__ = ["DecodeError", "encode_order", "decode_order", "encode_batch", "decode_batch", "pack_order",
           "unpack_order", "warmup"]


def warmup() -> None:
    """Nothing to compile in this tier; present so every tier has the same names."""
