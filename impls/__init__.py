"""The hot-path lab's implementations: one subpackage per family, each in the tiers
`pure` (the specification), `cython` and `numba`. See `impls.registry`."""
