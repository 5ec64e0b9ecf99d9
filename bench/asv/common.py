"""What every asv suite shares: the implementation parameter and loading it or skipping, and the
quick sizes of `make asv-history`."""

import os

from bench import lineup
from impls import registry

#: `make asv-history` measures many commits with LAB_ASV_QUICK=1: batch inputs shrink (to the
#: harness's --quick sizes where it has them) so that a commit's run stays under 3 minutes. Those
#: figures are recorded under an asv machine name of their own (<host>-quick, see the Makefile),
#: so no graph mixes them with `make asv`'s full-size ones. Parameter values never change with
#: it: they are the benchmarks' history keys.
QUICK = os.environ.get("LAB_ASV_QUICK") == "1"


def sized(full: int, quick: int) -> int:
    """`full`, or `quick` in a LAB_ASV_QUICK run."""
    return quick if QUICK else full


def impl_param(family: str) -> list[str]:
    """Every implementation the family knows (tiers, backends, peers): asv's history keys."""
    return lineup.all_names(family)


def impl_or_skip(family: str, name: str, roles: tuple[str, ...] = lineup.ROLES) -> lineup.Impl:
    """The implementation (a bench.lineup.Impl), warmed up (Numba compiled); NotImplementedError
    skips the asv cell when it cannot load or has another role than `roles`."""
    try:
        impl = lineup.get(family, name)
    except registry.TierUnavailable as exc:
        raise NotImplementedError(str(exc)) from exc
    if impl.role not in roles:
        raise NotImplementedError(f"{name} is a {impl.role}; this suite measures {', '.join(roles)}s")
    impl.warmup()
    return impl


def load_or_skip(family: str, name: str) -> object:
    """The implementation's module (or peer adapter), warmed up; see impl_or_skip."""
    return impl_or_skip(family, name).module


def require(module, name: str) -> None:
    if not hasattr(module, name):
        raise NotImplementedError(f"{module!r} has no {name}")
