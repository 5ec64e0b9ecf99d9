"""What every asv suite shares: the implementation parameter and loading it or skipping."""

from bench import lineup
from impls import registry


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
