"""The one list of families, and the reader of each family's implementations.

Each family declares its own implementations in `impls/<family>/implementations.py` (plain
data, no imports): `TIERS` (name -> module, in report order; `pure` is the specification),
`PREFERENCE` (which tier the public API uses) and `BACKENDS` (name -> module: the contract over
an external server, such as Redis -- an axis of its own, never a tier's column). This module
reads those declarations, so every tool (tests, harness, asv, profilers, the service) enumerates
the same implementations and a tier or backend added in its family appears everywhere.

A tier or backend that cannot load is reported with its reason and is never silently replaced
by another one.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Families in the order they are run and reported.
FAMILIES: tuple[str, ...] = ("hashring", "ratelimit", "serial", "workerpool")

#: The tier every family has and every other tier is checked against.
SPEC_TIER = "pure"

TIER, BACKEND = "tier", "backend"

_loaded: dict[tuple[str, str], ModuleType] = {}
_failed: dict[tuple[str, str], str] = {}


class TierUnavailable(ImportError):
    """A tier (or backend) of a family cannot be loaded in this build; `reason` says why."""

    def __init__(self, family: str, tier: str, reason: str):
        super().__init__(f"{family}/{tier} is unavailable: {reason}")
        self.family, self.tier, self.reason = family, tier, reason


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")


def declaration(family: str) -> ModuleType:
    """The family's `implementations` module (imported without importing its tiers)."""
    _check_family(family)
    return importlib.import_module(f"impls.{family}.implementations")


def families() -> list[str]:
    """All families, in run order."""
    return list(FAMILIES)


def tiers(family: str) -> list[str]:
    """Every tier the family declares, available or not, in report order (pure first)."""
    return list(declaration(family).TIERS)


def backends(family: str) -> list[str]:
    """Every backend the family declares, available or not."""
    return list(declaration(family).BACKENDS)


def role(family: str, name: str) -> str:
    """TIER or BACKEND; ValueError for a name the family does not declare."""
    if name in declaration(family).TIERS:
        return TIER
    if name in declaration(family).BACKENDS:
        return BACKEND
    known = tiers(family) + backends(family)
    raise ValueError(f"unknown tier {name!r} of {family}; expected one of {', '.join(known)}")


def _module_name(family: str, name: str) -> str:
    decl = declaration(family)
    module = decl.TIERS.get(name) if role(family, name) == TIER else decl.BACKENDS[name]
    return f"impls.{family}.{module}"


def load(family: str, name: str) -> ModuleType:
    """The module of a tier or backend; raises TierUnavailable with the reason."""
    key = (family, name)
    if key in _loaded:
        return _loaded[key]
    if key in _failed:
        raise TierUnavailable(family, name, _failed[key])
    try:
        module = importlib.import_module(_module_name(family, name))
    except ImportError as exc:  # an extension not built, numba or redis missing, ...
        _failed[key] = f"{type(exc).__name__}: {exc}"
        raise TierUnavailable(family, name, _failed[key]) from exc
    _loaded[key] = module
    return module


def _loadable(family: str, names: list[str]) -> list[str]:
    available = []
    for name in names:
        try:
            load(family, name)
        except TierUnavailable:
            continue
        available.append(name)
    return available


def names(family: str) -> list[str]:
    """The tiers of `family` available in this build, in report order."""
    return _loadable(family, tiers(family))


def available_backends(family: str) -> list[str]:
    """The backends of `family` whose module loads (the server itself is started by bench/)."""
    return _loadable(family, backends(family))


def unavailable(family: str) -> dict[str, str]:
    """Name -> reason, for the tiers and backends of `family` that cannot load in this build."""
    names(family)
    available_backends(family)
    return {name: reason for (fam, name), reason in _failed.items() if fam == family}


def forced_tier() -> str | None:
    """The tier named by LAB_IMPL, if set (checked against each family's tiers in `preferred`)."""
    return os.environ.get("LAB_IMPL") or None


def preferred(family: str) -> str:
    """The tier the family's public API uses: LAB_IMPL if set (it must load), else the first of
    the family's PREFERENCE that loads."""
    _check_family(family)
    forced = forced_tier()
    if forced is not None:
        if forced not in declaration(family).TIERS:
            raise ValueError(f"LAB_IMPL={forced!r} is not a tier of {family}; expected one of "
                             f"{', '.join(tiers(family))}")
        load(family, forced)  # raises with the reason: a forced tier is never replaced
        return forced
    for tier in declaration(family).PREFERENCE:
        try:
            load(family, tier)
        except TierUnavailable:
            continue
        return tier
    reasons = "; ".join(f"{name}: {reason}" for name, reason in unavailable(family).items())
    raise TierUnavailable(family, SPEC_TIER, f"no tier loads ({reasons})")  # pragma: no cover - pure loads
