"""Consistent-hash rings with virtual nodes, and jump consistent hash.

The public names come from the tier `impls.registry.preferred("hashring")` picks: LAB_IMPL
if set, else the first that loads of cython, numba, pure. `TIER` says which one it is.
The exact contract and placement rule are in `impls.hashring.pure`, the specification.
"""

from impls import registry as _registry

TIER: str = _registry.preferred("hashring")
_impl = _registry.load("hashring", TIER)

Ring = _impl.Ring
key_hash = _impl.key_hash
jump = _impl.jump
jump_many = _impl.jump_many

__all__ = ["TIER", "Ring", "key_hash", "jump", "jump_many"]
