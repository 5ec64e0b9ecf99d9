"""The implementations measured for a family: the registry's tiers, then the family's peers."""

from __future__ import annotations

from impls import registry

from bench.peers import peers


def is_peer(impl: str) -> bool:
    return impl.startswith("peer:")


def all_impls(family: str) -> list[str]:
    """Every implementation the family knows, available or not: stable names for history keys."""
    return list(registry.TIERS) + list(peers(family))


def available(family: str) -> list[str]:
    return registry.names(family) + list(peers(family))


def unavailable(family: str) -> dict[str, str]:
    return registry.unavailable(family)


def load(family: str, impl: str):
    """The module (tier) or adapter (peer) of `impl`; raises registry.TierUnavailable."""
    if is_peer(impl):
        try:
            return peers(family)[impl]
        except KeyError:
            raise ValueError(f"unknown peer {impl!r} for {family}; known: {sorted(peers(family))}") from None
    return registry.load(family, impl)
