"""The one list of families and their tiers.

Every tool (tests, harness, asv, profilers, the service) enumerates tiers from here, so a
tier added in one place appears everywhere. A tier that cannot load is reported with its
reason and is never silently replaced by another tier.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Every family has these tiers; `pure` is the specification the others are checked against.
TIERS: tuple[str, ...] = ("pure", "cython", "numba")

#: Families in the order they are run and reported.
FAMILIES: tuple[str, ...] = ("hashring", "ratelimit", "serial")

#: Module name of each tier inside `impls.<family>`.
_TIER_MODULE = {"pure": "pure", "cython": "_cy", "numba": "nb"}

#: Which tier the public API of a family (`impls.<family>`) uses when LAB_IMPL is not set:
#: the first one that loads. Cython first (fastest from Python for single calls), then Numba
#: (fast batches), then the always-present pure tier.
PREFERENCE: tuple[str, ...] = ("cython", "numba", "pure")

_loaded: dict[tuple[str, str], ModuleType] = {}
_failed: dict[tuple[str, str], str] = {}


class TierUnavailable(ImportError):
    """A tier of a family cannot be loaded in this build; `reason` says why."""

    def __init__(self, family: str, tier: str, reason: str):
        super().__init__(f"{family}/{tier} is unavailable: {reason}")
        self.family, self.tier, self.reason = family, tier, reason


def _check(family: str, tier: str | None = None) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if tier is not None and tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")


def families() -> list[str]:
    """All families, in run order."""
    return list(FAMILIES)


def load(family: str, tier: str) -> ModuleType:
    """The tier's module, exposing the family's contract; raises TierUnavailable with the reason."""
    _check(family, tier)
    key = (family, tier)
    if key in _loaded:
        return _loaded[key]
    if key in _failed:
        raise TierUnavailable(family, tier, _failed[key])
    try:
        module = importlib.import_module(f"impls.{family}.{_TIER_MODULE[tier]}")
    except ImportError as exc:  # an extension not built, numba missing, ...
        _failed[key] = f"{type(exc).__name__}: {exc}"
        raise TierUnavailable(family, tier, _failed[key]) from exc
    _loaded[key] = module
    return module


def names(family: str) -> list[str]:
    """The tiers of `family` available in this build, in TIERS order."""
    available = []
    for tier in TIERS:
        try:
            load(family, tier)
        except TierUnavailable:
            continue
        available.append(tier)
    return available


def unavailable(family: str) -> dict[str, str]:
    """Tier -> reason, for the tiers of `family` that cannot load in this build."""
    names(family)
    return {tier: reason for (fam, tier), reason in _failed.items() if fam == family}


def forced_tier() -> str | None:
    """The tier named by LAB_IMPL, if set (checked against TIERS)."""
    tier = os.environ.get("LAB_IMPL") or None
    if tier is not None and tier not in TIERS:
        raise ValueError(f"LAB_IMPL={tier!r} is not a tier; expected one of {', '.join(TIERS)}")
    return tier


def preferred(family: str) -> str:
    """The tier the family's public API uses: LAB_IMPL if set (it must load), else the first of
    PREFERENCE that loads."""
    _check(family)
    forced = forced_tier()
    if forced is not None:
        load(family, forced)  # raises with the reason: a forced tier is never replaced
        return forced
    for tier in PREFERENCE:
        try:
            load(family, tier)
        except TierUnavailable:
            continue
        return tier
    raise TierUnavailable(family, "pure", "no tier loads")  # pragma: no cover - pure always loads
