"""The implementations measured for a family, as objects: its tiers and backends (from the
registry), then its peers (from bench.peers).

`Impl` is the one place that answers "tier, backend or peer?": cases, checks, the summary and
the targets ask `impl.role`, never a name prefix or an attribute of the module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from impls import registry

from bench.peers import peers

TIER, BACKEND, PEER = registry.TIER, registry.BACKEND, "peer"
ROLES = (TIER, BACKEND, PEER)
PEER_PREFIX = "peer:"


@dataclass(frozen=True)
class Impl:
    """One implementation of a family: `module` is the tier's or backend's module, or a peer's
    adapter (a namespace exposing the part of the family contract its library supports)."""

    family: str
    name: str
    role: str
    module: Any = field(compare=False, repr=False)

    @property
    def is_tier(self) -> bool:
        return self.role == TIER

    @property
    def is_backend(self) -> bool:
        return self.role == BACKEND

    @property
    def is_peer(self) -> bool:
        return self.role == PEER

    def has(self, name: str) -> bool:
        """Whether the implementation offers `name` of the family contract."""
        return hasattr(self.module, name)

    def warmup(self) -> None:
        """Compile (Numba) and run each path once, so no first-call cost lands in a figure."""
        warm = getattr(self.module, "warmup", None)
        if warm is not None:
            warm()


def role_of(family: str, name: str) -> str:
    """The role of an implementation name, without loading it."""
    if name.startswith(PEER_PREFIX):
        return PEER
    return registry.role(family, name)


def all_names(family: str) -> list[str]:
    """Every implementation the family knows, available or not: tiers, backends, peers. These
    are stable names for history keys (asv) and the order of the report's columns."""
    return registry.tiers(family) + registry.backends(family) + list(peers(family))


def get(family: str, name: str) -> Impl:
    """The implementation `name`; raises registry.TierUnavailable (with the reason) or ValueError."""
    if name.startswith(PEER_PREFIX):
        try:
            return Impl(family, name, PEER, peers(family)[name])
        except KeyError:
            raise ValueError(f"unknown peer {name!r} for {family}; known: {sorted(peers(family))}") from None
    return Impl(family, name, registry.role(family, name), registry.load(family, name))


def spec(family: str) -> Impl:
    """The family's specification tier (pure)."""
    return get(family, registry.SPEC_TIER)


def available(family: str) -> list[Impl]:
    """The implementations that load in this build, in report order."""
    names = registry.names(family) + registry.available_backends(family) + list(peers(family))
    return [get(family, name) for name in names]


def unavailable(family: str) -> dict[str, str]:
    """Name -> reason, for the tiers and backends that cannot load."""
    return registry.unavailable(family)
