"""What every asv suite shares: the implementation parameter and loading it or skipping."""

from bench import lineup
from impls import registry


def impl_param(family: str) -> list[str]:
    return lineup.all_impls(family)


def load_or_skip(family: str, impl: str):
    """The implementation, warmed up (Numba compiled); NotImplementedError skips the asv cell."""
    try:
        module = lineup.load(family, impl)
    except registry.TierUnavailable as exc:
        raise NotImplementedError(str(exc)) from exc
    module.warmup()
    return module


def require(module, name: str) -> None:
    if not hasattr(module, name):
        raise NotImplementedError(f"{module!r} has no {name}")
